"""plain: the default source, an app directory's YAML manifests as written.

It owns app.yaml's ``source`` key, which names the source that builds an app
(``kustomize``, ``{helm: {...}}``, or a third-party plugin's); an app without
it is read as plain manifests unless its directory holds a
``kustomization.yaml`` or a ``Chart.yaml``.
"""

from __future__ import annotations

from typing import Any

from gitkube.plugin_api import (
    PLAIN,
    SOURCE_KEY,
    App,
    AppSource,
    RenderContext,
    SourceObject,
    documented,
    hookimpl,
)

_PATH = {"type": "string", "minLength": 1}
HELM_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["chart"],
    "description": "Render a Helm chart kept in the repo with `helm template`.",
    "properties": {
        "chart": {
            **_PATH,
            "description": "The chart: a directory with Chart.yaml or a vendored .tgz, "
            "relative to the app directory. Charts from the network are refused.",
        },
        "values": {
            "type": "array",
            "items": _PATH,
            "description": "Values files in the repo, relative to the app directory, "
            "applied in order.",
        },
        "releaseName": {
            "type": "string",
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maxLength": 53,
            "description": "The release name the chart sees (default: the app's name).",
        },
        "namespace": {
            "type": "string",
            "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
            "description": "The namespace the chart renders into (default: the app's namespace).",
        },
    },
}
SOURCE_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["helm"],
            "properties": {"helm": HELM_SCHEMA},
        },
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "not": {"required": ["helm"]},
            "additionalProperties": {"type": "object"},
        },
    ]
}


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {
        SOURCE_KEY: documented(
            SOURCE_SCHEMA,
            "What builds the app's objects: `plain` (its YAML manifests), `kustomize` "
            "(`kustomize build` of its kustomization.yaml), `{helm: {chart, values, "
            "releaseName, namespace}}` (`helm template` of a chart in the repo), or a "
            "third-party source's name. Detected when absent: a kustomization.yaml means "
            "kustomize, a Chart.yaml helm, anything else plain.",
            examples=["kustomize", {"helm": {"chart": "./chart", "values": ["values.yaml"]}}],
        )
    }


@hookimpl(trylast=True)
def gitkube_source(app: App, ctx: RenderContext, source: AppSource) -> list[SourceObject] | None:
    del app, ctx  # the manifests are all a plain app is
    if source.kind != PLAIN:
        return None
    return source.manifests()
