"""labels: ``app: <name>`` (plus app.yaml ``labels``) on every object, pod template and own selector.

The seed labels every Service, RC and Pod so that
``kubectl delete pod,rc,service -l app=NAME`` removes a stack; this plugin
keeps that promise for every object without anyone writing it. Every object's
``metadata.labels`` and every pod template gain the labels, as kustomize's
``labels`` with ``includeTemplates`` does.

Selectors are narrower than kustomize's ``includeSelectors``, because adding a
key to a selector changes what it selects:

* a workload's selector (Deployment, ReplicaSet, StatefulSet, DaemonSet,
  ReplicationController) selects its own pod template, which gains the
  labels, so it gains them too (created when absent, as kustomize does);
* the selector of a Service, PodDisruptionBudget or NetworkPolicy gains them
  only when, as written, it selects a pod template (or Pod) of the same app
  (as written, plus the app's labels the template gains: ``selector: {app:
  frontend}`` in app ``frontend`` selects its pods).
  One that selects another app's pods, or pods an operator makes
  (``selector: {prometheus: main}``), is left as written, and so is an empty
  one (it selects every pod). None is created where there was none: a Service
  without a selector is how hand-written EndpointSlices are used.

A label value the user wrote that differs is an error, never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
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

# Workloads whose selector is a plain map, selecting their own template (created when absent).
_MAP_SELECTOR_KINDS = {
    "ReplicationController": ("spec", "selector"),
}
# Workloads whose selector is a LabelSelector over their own template (matchLabels
# created when absent).
_LABEL_SELECTOR_KINDS = {
    "Deployment": ("spec", "selector"),
    "ReplicaSet": ("spec", "selector"),
    "StatefulSet": ("spec", "selector"),
    "DaemonSet": ("spec", "selector"),
}
# Selectors of pods made elsewhere: they gain the labels only when, as written,
# they select a pod template of the same app (see the module docstring).
_OTHER_PODS_MAP_SELECTOR_KINDS = {
    "Service": ("spec", "selector"),
}
_OTHER_PODS_LABEL_SELECTOR_KINDS = {
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
    if resource.kind in _MAP_SELECTOR_KINDS:
        selector = _dig(body, _MAP_SELECTOR_KINDS[resource.kind], create=True)
        _merge(resource, selector, labels, "spec.selector")
    if resource.kind in _OTHER_PODS_MAP_SELECTOR_KINDS and not _is_external_name(body):
        selector = _dig(body, _OTHER_PODS_MAP_SELECTOR_KINDS[resource.kind], create=False)
        if isinstance(selector, dict) and selects_own_pods(
            _as_labelled(resource.app.pod_labels, labels), selector, ()
        ):
            _merge(resource, selector, labels, "spec.selector")
    if resource.kind in _LABEL_SELECTOR_KINDS:
        selector = _dig(body, _LABEL_SELECTOR_KINDS[resource.kind], create=True)
        _check_expressions(resource, selector, labels, "spec.selector")
        _merge(
            resource, selector.setdefault("matchLabels", {}), labels, "spec.selector.matchLabels"
        )
    if resource.kind in _OTHER_PODS_LABEL_SELECTOR_KINDS:
        path = _OTHER_PODS_LABEL_SELECTOR_KINDS[resource.kind]
        selector = _dig(body, path, create=False)
        if isinstance(selector, dict) and selects_own_pods(
            _as_labelled(resource.app.pod_labels, labels),
            selector.get("matchLabels") or {},
            selector.get("matchExpressions") or (),
        ):
            where = ".".join(path)
            _check_expressions(resource, selector, labels, where)
            _merge(resource, selector.setdefault("matchLabels", {}), labels, f"{where}.matchLabels")
    if resource.kind == "CronJob":
        job_meta = _dig(body, ("spec", "jobTemplate", "metadata"), create=True)
        _merge(
            resource, job_meta.setdefault("labels", {}), labels, "spec.jobTemplate.metadata.labels"
        )
    if resource.kind != "Pod":
        for template in resource.pod_templates():
            meta = template.setdefault("metadata", {})
            _merge(resource, meta.setdefault("labels", {}), labels, "pod template labels")


def selects_own_pods(
    pod_labels: Sequence[Mapping[str, str]],
    match_labels: Mapping[str, Any],
    match_expressions: Sequence[Any],
) -> bool:
    """Whether a selector, as written, selects one of the app's pod templates.

    An empty selector selects every pod (of the namespace): it is not the
    app's own, and adding the app's labels would narrow it.
    """
    if not match_labels and not match_expressions:
        return False
    return any(
        all(labels.get(str(k)) == str(v) for k, v in match_labels.items())
        and all(_expression_holds(e, labels) for e in match_expressions)
        for labels in pod_labels
    )


def _as_labelled(
    pod_labels: Sequence[Mapping[str, str]], labels: Mapping[str, str]
) -> list[dict[str, str]]:
    """The app's pod labels as written, with the labels this plugin gives every template."""
    return [{**labels, **written} for written in pod_labels]


def _expression_holds(expression: Any, labels: Mapping[str, str]) -> bool:
    if not isinstance(expression, Mapping):
        return False
    key, operator = str(expression.get("key")), expression.get("operator")
    values = {str(v) for v in expression.get("values") or ()}
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


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
