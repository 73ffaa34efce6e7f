"""labels: ``app: <name>`` (plus app.yaml ``labels``) on every object, selector and pod template.

The seed labels every Service, RC and Pod so that
``kubectl delete pod,rc,service -l app=NAME`` removes a stack; this plugin
keeps that promise for every object without anyone writing it. Semantics
follow kustomize's ``labels`` with ``includeSelectors`` and
``includeTemplates``: selectors gain the labels, existing selector keys stay.
A value the user wrote that differs is an error, never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from gitkube.plugin_api import (
    GCE_OWNER_LABEL,
    MANAGED_BY_LABEL,
    PART_OF_LABEL,
    GitkubeError,
    RenderContext,
    Resource,
    documented,
    hookimpl,
)

MANAGED_BY = (MANAGED_BY_LABEL, "gitkube")
_GCE_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

# Kinds whose selector is a plain map (created when absent).
_MAP_SELECTOR_KINDS = {
    "Service": ("spec", "selector"),
    "ReplicationController": ("spec", "selector"),
}
# Kinds whose selector is a LabelSelector (matchLabels created when absent).
_LABEL_SELECTOR_KINDS = {
    "Deployment": ("spec", "selector"),
    "ReplicaSet": ("spec", "selector"),
    "StatefulSet": ("spec", "selector"),
    "DaemonSet": ("spec", "selector"),
}
# Selectors that gain labels only when the user wrote them (creating one
# would change what they select).
_EXISTING_LABEL_SELECTOR_KINDS = {
    "PodDisruptionBudget": ("spec", "selector"),
    "NetworkPolicy": ("spec", "podSelector"),
}


LABELS_DOC = (
    "Labels added, with `app: <app name>` and `app.kubernetes.io/managed-by: gitkube`, "
    "to every object of the app and to its selectors and pod templates."
)


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {
        "labels": documented(
            {
                "type": "object",
                "additionalProperties": {"type": "string", "format": "kubernetes-label-value"},
                "propertyNames": {"format": "kubernetes-label-key"},
            },
            LABELS_DOC,
            default={},
            examples=[{"tier": "web"}],
        )
    }


def app_labels(resource: Resource) -> dict[str, str]:
    for reserved in (PART_OF_LABEL, GCE_OWNER_LABEL):
        if reserved in resource.app.settings.get("labels", {}):
            raise GitkubeError(
                f"app.yaml labels: {reserved} is gitkube's own (it marks what gitkube owns); "
                "remove it",
                file=resource.app.settings_file,
            )
    labels = {"app": resource.app.name, **resource.app.settings.get("labels", {})}
    if resource.app.settings.get("labels", {}).get("app", labels["app"]) != resource.app.name:
        raise GitkubeError(
            f'app.yaml labels.app is "{resource.app.settings["labels"]["app"]}" but the app is '
            f'named "{resource.app.name}"; set name: instead',
            file=resource.app.settings_file,
        )
    return labels


@hookimpl
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    labels = app_labels(resource)
    if resource.is_gce:
        # GCE label keys allow only lower-case letters, digits, '_' and '-'.
        labels = {k: v for k, v in labels.items() if _GCE_LABEL_KEY.match(k)}
        labels["managed-by"] = MANAGED_BY[1]
        _merge(resource, resource.ensure_labels(), labels, "metadata.labels")
        return
    _merge(
        resource,
        resource.ensure_labels(),
        {**labels, MANAGED_BY[0]: MANAGED_BY[1]},
        "metadata.labels",
    )
    body = resource.body
    if resource.kind in _MAP_SELECTOR_KINDS and not _is_external_name(body):
        selector = _dig(body, _MAP_SELECTOR_KINDS[resource.kind], create=True)
        _merge(resource, selector, labels, "spec.selector")
    if resource.kind in _LABEL_SELECTOR_KINDS:
        selector = _dig(body, _LABEL_SELECTOR_KINDS[resource.kind], create=True)
        _check_expressions(resource, selector, labels, "spec.selector")
        _merge(
            resource, selector.setdefault("matchLabels", {}), labels, "spec.selector.matchLabels"
        )
    if resource.kind in _EXISTING_LABEL_SELECTOR_KINDS:
        selector = _dig(body, _EXISTING_LABEL_SELECTOR_KINDS[resource.kind], create=False)
        if selector is not None:
            _check_expressions(resource, selector, labels, "selector")
            _merge(resource, selector.setdefault("matchLabels", {}), labels, "selector.matchLabels")
    if resource.kind == "CronJob":
        job_meta = _dig(body, ("spec", "jobTemplate", "metadata"), create=True)
        _merge(
            resource, job_meta.setdefault("labels", {}), labels, "spec.jobTemplate.metadata.labels"
        )
    if resource.kind != "Pod":
        for template in resource.pod_templates():
            meta = template.setdefault("metadata", {})
            _merge(resource, meta.setdefault("labels", {}), labels, "pod template labels")


def _is_external_name(body: Mapping[str, Any]) -> bool:
    return body.get("spec", {}).get("type") == "ExternalName"


def _dig(body: dict[str, Any], path: tuple[str, ...], *, create: bool) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        if key not in node or node[key] is None:
            if not create:
                return None
            node[key] = {}
        node = node[key]
    return node


def _check_expressions(
    resource: Resource, selector: Any, labels: Mapping[str, str], where: str
) -> None:
    """A selector expression that no object with the app's labels can match is an error.

    gitkube adds the app's labels to ``matchLabels``; an expression such as
    ``app In [other]`` would then select nothing (and a Deployment with it
    is refused by the API server), so it is reported as the matchLabels
    conflict is.
    """
    if not isinstance(selector, dict):
        return
    for index, expression in enumerate(selector.get("matchExpressions") or ()):
        if not isinstance(expression, dict) or expression.get("key") not in labels:
            continue
        key, operator = expression["key"], expression.get("operator")
        values = [str(v) for v in expression.get("values") or ()]
        value = labels[key]
        if (
            (operator == "In" and value not in values)
            or (operator == "NotIn" and value in values)
            or operator == "DoesNotExist"
        ):
            shown = f" {values}" if operator in ("In", "NotIn") else ""
            raise GitkubeError(
                f"{where}.matchExpressions[{index}] ({key} {operator}{shown}) contradicts "
                f'{key}: "{value}" that gitkube sets; fix the manifest or app.yaml',
                file=resource.source,
                app=resource.app.path,
                obj=resource.describe(),
            )


def _merge(
    resource: Resource, target: MutableMapping[str, Any], labels: Mapping[str, str], where: str
) -> None:
    for key, value in labels.items():
        current = target.get(key)
        if current is None:
            target[key] = value
        elif str(current) != value:
            fix = (
                "fix the manifest or set name: in app.yaml"
                if key == "app"
                else "fix the manifest or app.yaml labels"
            )
            raise GitkubeError(
                f'{where} has {key}: "{current}" but gitkube sets {key}: "{value}"; {fix}',
                file=resource.source,
                app=resource.app.path,
                obj=resource.describe(),
            )
