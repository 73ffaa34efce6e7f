"""helm: render a chart kept in the repo with ``helm template``.

app.yaml ``source: {helm: {chart, values, releaseName, namespace}}``, or a
directory holding a ``Chart.yaml``. The chart is a directory or a vendored
``.tgz``; a chart from the network was refused before this runs, and helm
runs with no repositories, registry logins or kubeconfig of the user's. The
helm version is recorded in the inventory.
"""

from __future__ import annotations

import functools
import posixpath
import re
import subprocess

from gitkube_plugins.sources import find_tool, run_tool

from gitkube.plugin_api import (
    HELM,
    MANAGED_BY_LABEL,
    App,
    AppSource,
    GitkubeError,
    RenderContext,
    SourceObject,
    hookimpl,
)

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE_COMMENT = re.compile(r"^# Source: (\S+)", re.MULTILINE)


@functools.cache
def _version(helm: str) -> str:
    done = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, timeout=60)
    return f"helm {done.stdout.strip().split('+')[0] or 'unknown'}"


@hookimpl
def gitkube_source(app: App, ctx: RenderContext, source: AppSource) -> list[SourceObject] | None:
    if source.kind != HELM:
        return None
    options = source.options
    chart = posixpath.normpath(posixpath.join(app.path, str(options["chart"])))
    file = app.settings_file or f"{app.path}/Chart.yaml"
    helm = find_tool("helm")
    if helm is None:
        raise GitkubeError("helm apps need the helm binary on PATH", file=file, app=app.path)
    namespace = options.get("namespace") or app.settings.get("namespace") or ctx.config.namespace
    argv = [
        helm,
        "template",
        str(options.get("releaseName") or app.name),
        chart,
        "--namespace",
        namespace,
    ]
    for values in options.get("values") or ():
        argv += ["--values", posixpath.normpath(posixpath.join(app.path, values))]
    output = run_tool(
        argv, cwd=source.checkout(), what=f"helm template {chart}", file=file, app=app.path
    )
    source.record_tool(_version(helm))
    chart_file = chart if chart.endswith(".tgz") else f"{chart}/Chart.yaml"
    objects: list[SourceObject] = []
    for document in _SEPARATOR.split(output):
        # helm heads each document with the template it came from: name it in errors
        template = _SOURCE_COMMENT.search(document)
        file = chart_file
        if template and not chart.endswith(".tgz"):
            # "<chart name>/templates/x.yaml" -> the template's path in the repo
            file = posixpath.join(chart, template.group(1).split("/", 1)[-1])
        objects.extend(source.objects_from_yaml(document, file))
    for obj in objects:
        # Charts label what they make "managed-by: Helm"; gitkube, not Helm, manages
        # it here, and the labels plugin writes its own value (a conflict otherwise).
        labels = obj.body.get("metadata", {}).get("labels")
        if isinstance(labels, dict) and labels.get(MANAGED_BY_LABEL) == "Helm":
            del labels[MANAGED_BY_LABEL]
    return objects
