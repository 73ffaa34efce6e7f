"""The real ``helm`` and ``kustomize`` command-line tools, built from the Go module proxy.

Kustomize and Helm apps are rendered by running these tools; tests and the
demo must never depend on whichever versions a machine happens to have. This
module builds the pinned releases with the control plane's Go build helper,
caches them next to the control plane, and hands out their paths.

Command line::

    python -m gitkube.testing.sourcetools build     # build or reuse; prints the bin dir
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from gitkube.testing.controlplane import cache_root
from gitkube.testing.gotools import GoTool, build_command, build_tools
from gitkube.testing.gotools import tools_problem as _tools_problem

# The one place the versions are pinned.
HELM_VERSION = "v4.3.2"
KUSTOMIZE_VERSION = "v5.8.1"

_KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
TOOLS = (
    GoTool(
        "helm",
        "helm.sh/helm/v4",
        HELM_VERSION,
        "helm.sh/helm/v4/cmd/helm",
        version_argv=("version", "--short"),
        stamp=f"helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
        go="1.26",
    ),
    GoTool(
        "kustomize",
        _KUSTOMIZE_MODULE,
        KUSTOMIZE_VERSION,
        _KUSTOMIZE_MODULE,
        version_argv=("version",),
        stamp=f"sigs.k8s.io/kustomize/api/provenance.version=kustomize/{KUSTOMIZE_VERSION}",
        go="1.26",
    ),
)


def bin_dir(root: Path | None = None) -> Path:
    # Versioned so that changing the pins never reuses binaries of other versions.
    return (root or cache_root()) / f"helm-{HELM_VERSION}-kustomize-{KUSTOMIZE_VERSION}" / "bin"


def tools_problem(directory: Path) -> str | None:
    """Why the tools in ``directory`` are unusable, or None if both run and report their pins."""
    return _tools_problem(directory, TOOLS)


def build(root: Path | None = None, *, log: TextIO | None = None) -> Path:
    """Build ``helm`` and ``kustomize`` unless the cache has them; return the bin dir."""
    return build_tools(
        bin_dir(root), TOOLS, what=f"helm {HELM_VERSION} and kustomize {KUSTOMIZE_VERSION}", log=log
    )


def main(argv: list[str] | None = None) -> int:
    return build_command("gitkube.testing.sourcetools", build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
