"""Patches of manifests, as kustomize overlays apply them.

Built-in kinds take a *strategic merge patch*: the subset kustomize
documents, which is what overlays are written with. Maps merge key by key
(``null`` deletes a key); lists of objects that Kubernetes merges by a key
(``containers``, ``initContainers``, ``volumes``, ``env``... by ``name``;
container ``ports`` by ``containerPort``, Service ``ports`` by ``port``;
``volumeMounts`` by ``mountPath``) merge item by item, new items appended;
every other list is replaced. ``$patch: delete`` in a list item removes the
item with its key, in a map removes the map; ``$patch: replace`` replaces the
map (or, as an item of a list, the whole list) instead of merging. Other
``$`` directives (``$setElementOrder``, ``$retainKeys``...) are refused,
not ignored.

Other kinds (custom resources) take a JSON merge patch (RFC 7386), as
kustomize applies to them: no merge keys, lists replaced.

No well-kept Python package implements strategic merge patch (the reference
is Go's apimachinery); JSON merge patch comes from ``json-merge-patch``.
"""

from __future__ import annotations

import copy
from typing import Any

import json_merge_patch

from gitkube.primitives.errors import GitkubeError

# The API groups whose kinds Kubernetes itself serves (and kustomize patches strategically).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)

# Field name -> the key its items merge by (patchMergeKey in the Kubernetes API).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
}
PATCH = "$patch"
_DELETE = object()  # a map asked to be deleted with `$patch: delete`


def is_builtin(api_version: str) -> bool:
    """Whether ``apiVersion`` names a kind Kubernetes serves itself."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return group in BUILTIN_GROUPS


def apply_patch(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``original`` patched as kustomize would: strategic for built-in kinds, else JSON merge.

    Neither argument is changed. Raises :class:`GitkubeError` (without a
    file: the caller knows it) for a directive this subset does not know.
    """
    if is_builtin(str(original.get("apiVersion", ""))):
        return strategic_merge(original, patch)
    return json_merge(original, patch)


def json_merge(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; neither argument is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    target = copy.deepcopy(original) if isinstance(original, dict) else {}
    return json_merge_patch.merge(target, copy.deepcopy(patch))


def strategic_merge(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The strategic merge of ``patch`` into ``original``; neither is changed."""
    merged = _merge_map(original, patch)
    return {} if merged is _DELETE else merged


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> Any:
    directive = patch.get(PATCH)
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != PATCH})
    if directive == "delete":
        return _DELETE
    if directive is not None:
        raise GitkubeError(f'unknown directive "$patch: {directive}" (replace or delete)')
    result = copy.deepcopy(original)
    for key, value in patch.items():
        _refuse_directive_key(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            old = result.get(key)
            merged = _merge_map(old if isinstance(old, dict) else {}, value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            old = result.get(key)
            result[key] = _merge_list(key, old if isinstance(old, list) else [], value)
        else:
            result[key] = value
    return result


def _merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(item, dict) and item.get(PATCH) == "replace" for item in patch):
        return [_clean(item) for item in patch if not (isinstance(item, dict) and PATCH in item)]
    key = _merge_key(field, original, patch)
    if key is None:
        return _clean(patch)
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise GitkubeError(f"each item of {field} needs its merge key {key}")
        where = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        directive = item.get(PATCH)
        if directive == "delete":
            if where is not None:
                del result[where]
            continue
        if where is None:
            result.append(_clean({k: v for k, v in item.items() if k != PATCH}))
        else:
            merged = _merge_map(result[where], item)
            result[where] = merged
    return result


def _merge_key(field: str, original: list[Any], patch: list[Any]) -> str | None:
    """The key a list's items merge by, or None: the list is replaced."""
    items = [i for i in (*original, *patch) if isinstance(i, dict)]
    if len(items) != len(original) + len(patch):
        return None  # a list of scalars (or a mix) is replaced
    if field == "ports":  # container ports merge by containerPort, Service ports by port
        return "containerPort" if any("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def _refuse_directive_key(key: Any) -> None:
    if isinstance(key, str) and key.startswith("$") and key != PATCH:
        raise GitkubeError(
            f'directive "{key}" is not supported (gitkube knows $patch: replace and delete)'
        )


def _clean(value: Any) -> Any:
    """A patch value put in whole: checked for directives, nulls kept as written."""
    if isinstance(value, dict):
        for key in value:
            _refuse_directive_key(key)
        if PATCH in value:
            raise GitkubeError(f"$patch: {value[PATCH]} inside a new item has nothing to act on")
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
