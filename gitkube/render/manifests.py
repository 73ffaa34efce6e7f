"""What a manifest must be before it enters the pipeline, checked as the API server would.

Three steps, each raising one :class:`GitkubeError` that names the file (and
document or list item, app and object):

* :func:`expand_documents`: a ``kind: List`` (or any ``*List`` with
  ``items``) becomes its items, as ``kubectl apply -f`` does;
* :func:`check_shape`: a mapping with ``apiVersion``, ``kind`` and
  ``metadata.name``, labels and annotations the API server would take, and
  none of gitkube's own ownership labels;
* :func:`settle_identity`: decides the scope (:mod:`scopes`), fills in the
  repo's namespace for namespaced kinds, refuses a namespace on a
  cluster-scoped kind, and checks the name and namespace (:mod:`names`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from gitkube.domain.keys import (
    GCE_OWNER_LABEL,
    PART_OF_LABEL,
)
from gitkube.domain.names import (
    annotations_problem,
    dns1123_label_problem,
    dns1123_subdomain_problem,
    gce_name_problem,
    gce_references,
    labels_problem,
    object_name_problem,
)
from gitkube.domain.resources import POD_TEMPLATE_PATHS, Resource
from gitkube.domain.scopes import GCE_GROUP, Scopes, is_builtin, split_api_version
from gitkube.primitives.errors import GitkubeError, printable
from gitkube.primitives.kubeyaml import MAX_DEPTH as KUBERNETES_MAX_DEPTH

# Labels gitkube writes to mark what it owns (ApplySet membership, the GCE
# owner label). A user's own value would be overwritten, or would claim an
# object for another ApplySet, so it is refused.
RESERVED_LABELS = (PART_OF_LABEL, GCE_OWNER_LABEL)

# Deepest nesting of mappings and lists taken in an object: Kubernetes' own
# limit (its JSON decoder's). gitkube's walks over an object recurse, so
# render and sync run with room for it (kubeyaml.room_for_nesting).
MAX_DEPTH = KUBERNETES_MAX_DEPTH

# A kind is a Go type name; it becomes part of a rendered file name.
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_VERSION = re.compile(r"[a-z0-9]+")


def _where(document: int | None, item: int | None) -> str | None:
    if document is None:
        return None
    if item is None:
        return f"document {document}"
    return f"document {document}, item {item}"


def expand_documents(docs: list[Any], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Each object of a file's documents with where it is, Lists expanded (and checked)."""
    for index, doc in enumerate(docs, start=1):
        if isinstance(doc, dict) and _is_list(doc):
            items = doc.get("items")
            if items is None:
                continue  # an empty List: kubectl applies nothing
            if not isinstance(items, list):
                raise GitkubeError(
                    f"{doc.get('kind')}.items must be a list of objects",
                    file=path,
                    obj=_where(index, None),
                )
            for number, item in enumerate(items, start=1):
                if isinstance(item, dict) and _is_list(item):
                    raise GitkubeError(
                        "a List inside a List is not applied by kubectl; flatten it",
                        file=path,
                        obj=_where(index, number),
                    )
                check_shape(item, path, _where(index, number))
                yield item, f"item {number} of the {doc['kind']} in document {index}"
        else:
            check_shape(doc, path, _where(index, None))
            yield doc, ""


def _is_list(doc: dict[str, Any]) -> bool:
    """``kind: List`` or ``*List`` with ``items``, as kubectl's resource builder expands them."""
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind.endswith("List"):
        return False
    return kind == "List" or "items" in doc


def check_shape(doc: Any, source: str, where: str | None, app: str | None = None) -> None:
    """A Kubernetes object with a name, valid labels and annotations, no reserved labels."""

    def fail(message: str) -> GitkubeError:
        return GitkubeError(message, file=source, obj=where, app=app)

    if not isinstance(doc, dict):
        raise fail(f"expected a Kubernetes object (a mapping), found a {type(doc).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise fail(f"object has no {key}; every document must be a Kubernetes object")
    kind, api_version = doc["kind"], doc["apiVersion"]
    if not _KIND.fullmatch(kind):
        raise fail(f'kind "{printable(kind)}" is not a kind name (letters and digits)')
    group, version = split_api_version(api_version)
    group_problem = dns1123_subdomain_problem(group) if group else None
    if group_problem is not None or not _VERSION.fullmatch(version):
        raise fail(f'apiVersion "{printable(api_version)}" is not <group>/<version> or <version>')
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise fail(f"{kind} has no metadata.name (generateName cannot be tracked in git)")
    if meta.get("namespace") is not None and not isinstance(meta["namespace"], str):
        raise fail(f"{kind} {meta['name']}: metadata.namespace must be a string")
    for key, check in (("labels", labels_problem), ("annotations", annotations_problem)):
        if meta.get(key) is not None:
            problem = check(meta[key])
            if problem is not None:
                raise fail(f"{kind} {printable(meta['name'])}: metadata.{problem}")
    for label in RESERVED_LABELS:
        if label in (meta.get("labels") or {}):
            raise fail(
                f"{kind} {printable(meta['name'])}: label {label} is gitkube's own "
                "(it marks what gitkube owns); remove it"
            )
    if too_deep(doc, MAX_DEPTH):
        raise fail(f"{kind} {printable(meta['name'])}: nested more than {MAX_DEPTH} levels deep")
    problem = structure_problem(doc)
    if problem is not None:
        raise fail(f"{kind} {printable(meta['name'])}: {problem}")


def too_deep(value: Any, limit: int) -> bool:
    """Whether mappings and lists nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend(
                (child, depth + 1) for child in node.values() if isinstance(child, (dict, list))
            )
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


# The fields gitkube's plugins read and write, with the JSON type the API
# server requires of them. A manifest with, say, ``spec: []`` is refused here
# with the field named, not deep inside a plugin as an AttributeError.
_SELECTOR_PATHS: dict[str, tuple[str, ...]] = {
    "Service": ("spec", "selector"),
    "ReplicationController": ("spec", "selector"),
    "Deployment": ("spec", "selector"),
    "ReplicaSet": ("spec", "selector"),
    "StatefulSet": ("spec", "selector"),
    "DaemonSet": ("spec", "selector"),
    "PodDisruptionBudget": ("spec", "selector"),
    "NetworkPolicy": ("spec", "podSelector"),
}
_POD_LISTS = ("containers", "initContainers", "ephemeralContainers", "volumes")


def structure_problem(doc: dict[str, Any]) -> str | None:
    """The first field of ``doc`` gitkube relies on that has the wrong JSON type, or None."""
    kind = doc["kind"]
    checks, templates = _structure_checks(kind)
    for path, expected in checks:
        problem = _typed(doc, path, expected)
        if problem is not None:
            return problem
    if kind == "Service" and not all(
        isinstance(p, dict) for p in _at(doc, ("spec", "ports")) or ()
    ):
        return "spec.ports must be a list of mappings"
    for template in templates:
        labels = _at(doc, (*template, "metadata", "labels")) if template else None
        if labels is not None:
            problem = labels_problem(labels)
            if problem is not None:
                return f"{'.'.join(template)}.metadata.{problem}"
        spec = _at(doc, (*template, "spec"))
        for key in _POD_LISTS:
            for index, item in enumerate(_at(spec, (key,)) or ()):
                where = ".".join((*template, "spec", f"{key}[{index}]"))
                if not isinstance(item, dict):
                    return f"{where} must be a mapping"
                mounts = item.get("volumeMounts", [])
                if not (isinstance(mounts, list) and all(isinstance(m, dict) for m in mounts)):
                    return f"{where}.volumeMounts must be a list of mappings"
    return None


@functools.cache
def _structure_checks(
    kind: str,
) -> tuple[list[tuple[tuple[str, ...], type]], list[tuple[str, ...]]]:
    """(field path, JSON type) pairs to check for ``kind``, and its pod template paths."""
    checks: list[tuple[tuple[str, ...], type]] = [(("spec",), dict)]
    if kind in _SELECTOR_PATHS:
        selector = _SELECTOR_PATHS[kind]
        checks += [(selector, dict), ((*selector, "matchLabels"), dict)]
        checks.append(((*selector, "matchExpressions"), list))
    if kind == "Service":
        checks.append((("spec", "ports"), list))
    if kind == "CronJob":
        checks += [(("spec", "jobTemplate"), dict), (("spec", "jobTemplate", "metadata"), dict)]
        checks.append((("spec", "jobTemplate", "spec"), dict))
    templates: list[tuple[str, ...]] = (
        [()] if kind == "Pod" else list(POD_TEMPLATE_PATHS.get(kind, ()))
    )
    for template in templates:
        if template:
            checks += [(template, dict), ((*template, "metadata"), dict)]
            checks.append(((*template, "metadata", "labels"), dict))
        checks += [((*template, "spec"), dict), ((*template, "spec", "nodeSelector"), dict)]
        checks += [((*template, "spec", key), list) for key in _POD_LISTS]
    return checks, templates


def _at(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _typed(doc: dict[str, Any], path: tuple[str, ...], expected: type) -> str | None:
    """Whether the field at ``path``, when present (and its parents are), has the type.

    An explicit null (a key written with nothing after it) is refused too:
    the plugins would fill in a field that says "no value".
    """
    parent = _at(doc, path[:-1])
    if not isinstance(parent, dict) or path[-1] not in parent:
        return None
    value = parent[path[-1]]
    if isinstance(value, expected):
        return None
    where = ".".join(path)
    if value is None:
        return f"{where} is empty (null); remove the key or give it a value"
    wanted = "a mapping" if expected is dict else "a list"
    return f"{where} must be {wanted}, not a {type(value).__name__}"


def settle_identity(resource: Resource, scopes: Scopes, default_namespace: str) -> None:
    """Decide the object's scope, fill in the namespace, and check its names."""

    def fail(message: str) -> GitkubeError:
        return GitkubeError(
            message, file=resource.source, app=resource.app.path, obj=resource.describe()
        )

    group, kind = resource.group, resource.kind
    written = resource.metadata.get("namespace") or None
    namespaced = scopes.namespaced(group, kind, written is not None)
    resource.namespaced = namespaced
    if not namespaced and written is not None:
        raise fail(
            f"{kind} is cluster-scoped but metadata.namespace is {printable(str(written))}; "
            "remove the namespace"
        )
    if namespaced and written is None:
        resource.metadata["namespace"] = default_namespace
    namespace = resource.namespace
    if namespace is not None:
        problem = dns1123_label_problem(namespace)
        if problem is not None:
            raise fail(f'metadata.namespace "{printable(namespace)}" {problem}')
    name = resource.name
    problem = object_name_problem(group, kind, name, builtin=is_builtin(group, kind))
    if problem is not None:
        raise fail(f'metadata.name "{printable(name)}" {problem}')
    if group == GCE_GROUP:
        _check_gce(resource, fail)


def _check_gce(resource: Resource, fail: Any) -> None:
    spec = resource.body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    resource_id = spec.get("resourceID")
    where = "spec.resourceID" if resource_id is not None else "metadata.name"
    problem = gce_name_problem(resource.name if resource_id is None else resource_id)
    if problem is not None:
        raise fail(f"{where}: {problem}")
    references = list(gce_references(spec))
    if resource.kind == "ComputeDisk" and "type" in spec:
        references.append(("spec.type", spec["type"]))  # becomes zones/<zone>/diskTypes/<type>
    for where, value in references:
        problem = gce_name_problem(value)
        if problem is not None:
            raise fail(f"{where}: {problem}")
