"""kustomize: build an app directory with a ``kustomization.yaml``.

Runs the ``kustomize`` binary on PATH, else kubectl's built-in ``kubectl
kustomize``, on a private copy of the repo. Bases and components in the repo
work; a remote base was refused before this runs (rendering stays offline
and reproducible). The tool and its version are recorded in the inventory.
"""

from __future__ import annotations

import functools
import json
import subprocess

from gitkube_plugins.sources import find_tool, run_tool

from gitkube.plugin_api import (
    KUSTOMIZE,
    App,
    AppSource,
    GitkubeError,
    RenderContext,
    SourceObject,
    hookimpl,
)


@functools.cache
def _tool(kustomize: str | None, kubectl: str | None) -> tuple[list[str], str]:
    """(argv before the directory, "kustomize vX.Y.Z") of the tool to use."""
    if kustomize:
        done = subprocess.run([kustomize, "version"], capture_output=True, text=True, timeout=60)
        version = done.stdout.strip().removeprefix("kustomize/") or "unknown"
        return [kustomize, "build"], f"kustomize {version}"
    if kubectl:
        done = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            version = str(json.loads(done.stdout).get("kustomizeVersion") or "unknown")
        except ValueError:
            version = "unknown"
        return [kubectl, "kustomize"], f"kustomize {version} (kubectl)"
    raise GitkubeError("kustomize apps need the kustomize binary or kubectl on PATH")


@hookimpl
def gitkube_source(app: App, ctx: RenderContext, source: AppSource) -> list[SourceObject] | None:
    del ctx
    if source.kind != KUSTOMIZE:
        return None
    file = next(
        (p for p in source.inputs if p.rsplit("/", 1)[0] == app.path and "ustomization" in p),
        app.path,
    )
    try:
        argv, version = _tool(find_tool("kustomize"), find_tool("kubectl"))
    except GitkubeError as exc:
        exc.file, exc.app = file, app.path
        raise
    root = source.checkout()
    output = run_tool(
        [*argv, app.path], cwd=root, what=f"{argv[-1]} {app.path}", file=file, app=app.path
    )
    source.record_tool(version)
    return source.objects_from_yaml(output, file)
