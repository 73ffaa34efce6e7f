"""The real ``sops`` and ``age`` command-line tools, built from the Go module proxy.

gitkube reads and writes SOPS files itself (``gitkube.primitives.sops``); the
real tools are the judge of whether it does so in their format. This module
builds the pinned releases with the control plane's Go build helper, caches
them next to the control plane, and hands out their paths.

Command line::

    python -m gitkube.testing.sopstool build     # build or reuse; prints the bin dir
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from gitkube.testing.controlplane import cache_root
from gitkube.testing.gotools import GoTool, build_command, build_tools
from gitkube.testing.gotools import tools_problem as _tools_problem

# The one place the versions are pinned.
SOPS_VERSION = "v3.13.3"
AGE_VERSION = "v1.3.1"

TOOLS = (
    # sops would otherwise ask GitHub for its latest release: no network here.
    GoTool(
        "sops",
        "github.com/getsops/sops/v3",
        SOPS_VERSION,
        "github.com/getsops/sops/v3/cmd/sops",
        version_argv=("--disable-version-check", "--version"),
        version_text=SOPS_VERSION.removeprefix("v"),
    ),
    GoTool(
        "age",
        "filippo.io/age",
        AGE_VERSION,
        "filippo.io/age/cmd/age",
        version_text=AGE_VERSION.removeprefix("v"),
    ),
    GoTool(
        "age-keygen",
        "filippo.io/age",
        AGE_VERSION,
        "filippo.io/age/cmd/age-keygen",
        version_text=AGE_VERSION.removeprefix("v"),
    ),
)


def bin_dir(root: Path | None = None) -> Path:
    # Versioned so that changing the pins never reuses binaries of other versions.
    return (root or cache_root()) / f"sops-{SOPS_VERSION}-age-{AGE_VERSION}" / "bin"


def tools_problem(directory: Path) -> str | None:
    """Why the tools in ``directory`` are unusable, or None if all run."""
    return _tools_problem(directory, TOOLS)


def build(root: Path | None = None, *, log: TextIO | None = None) -> Path:
    """Build ``sops``, ``age`` and ``age-keygen`` unless the cache has them; return the bin dir."""
    return build_tools(
        bin_dir(root), TOOLS, what=f"sops {SOPS_VERSION} and age {AGE_VERSION}", log=log
    )


def main(argv: list[str] | None = None) -> int:
    return build_command("gitkube.testing.sopstool", build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
