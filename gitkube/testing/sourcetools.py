"""The real ``helm`` and ``kustomize`` command-line tools, built from the Go module proxy.

Kustomize and Helm apps are rendered by running these tools; tests and the
demo must never depend on whichever versions a machine happens to have. This
module builds the pinned releases with the control plane's Go build helper,
caches them next to the control plane, and hands out their paths.

Command line::

    python -m gitkube.testing.sourcetools build     # build or reuse; prints the bin dir
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from gitkube.testing.controlplane import ControlPlaneError, _go, _locked, cache_root, find_go

# The one place the versions are pinned.
HELM_VERSION = "v4.3.2"
KUSTOMIZE_VERSION = "v5.8.1"

_HELM_MODULE = "helm.sh/helm/v4"
_KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"

# name -> (module, version, package, -X flag that stamps the version, version argv)
_PACKAGES: dict[str, tuple[str, str, str, str, list[str]]] = {
    "helm": (
        _HELM_MODULE,
        HELM_VERSION,
        "helm.sh/helm/v4/cmd/helm",
        f"helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
        ["version", "--short"],
    ),
    "kustomize": (
        _KUSTOMIZE_MODULE,
        KUSTOMIZE_VERSION,
        _KUSTOMIZE_MODULE,
        f"sigs.k8s.io/kustomize/api/provenance.version=kustomize/{KUSTOMIZE_VERSION}",
        ["version"],
    ),
}


def bin_dir(root: Path | None = None) -> Path:
    # Versioned so that changing the pins never reuses binaries of other versions.
    return (root or cache_root()) / f"helm-{HELM_VERSION}-kustomize-{KUSTOMIZE_VERSION}" / "bin"


def tools_problem(directory: Path) -> str | None:
    """Why the tools in ``directory`` are unusable, or None if both run and report their pins."""
    for name, (_module, version, _package, _stamp, version_argv) in _PACKAGES.items():
        path = directory / name
        if not path.is_file():
            return f"{path} does not exist"
        try:
            done = subprocess.run(
                [str(path), *version_argv], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{path} {' '.join(version_argv)} failed: {exc}"
        if done.returncode != 0:
            return f"{path} {' '.join(version_argv)} exited {done.returncode}: {done.stderr.strip()[:300]}"
        if version not in done.stdout:
            return f"{path} does not report {version}: {done.stdout.strip()[:200]}"
    return None


def build(root: Path | None = None, *, log: TextIO | None = None) -> Path:
    """Build ``helm`` and ``kustomize`` unless the cache has them; return the bin dir."""
    log = log or sys.stderr
    target = bin_dir(root)
    if tools_problem(target) is None:
        return target
    with _locked(target.parent / ".build.lock"):
        if tools_problem(target) is None:
            return target  # another process built them while we waited
        go = find_go()
        target.mkdir(parents=True, exist_ok=True)
        log.write(f"building helm {HELM_VERSION} and kustomize {KUSTOMIZE_VERSION} into {target}\n")
        with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as tmp:
            for name, (module_path, version, package, stamp, _argv) in _PACKAGES.items():
                module = Path(tmp) / name
                module.mkdir()
                (module / "go.mod").write_text(
                    f"module gitkube.local/source-tools/{name}\n\ngo 1.26\n\nrequire {module_path} {version}\n"
                )
                _go(go, ["get", f"{package}@{version}"], module, log)
                partial = module / f"{name}.partial"
                _go(
                    go,
                    [
                        "build",
                        "-trimpath",
                        "-ldflags",
                        f"-s -w -X {stamp}",
                        "-o",
                        str(partial),
                        package,
                    ],
                    module,
                    log,
                )
                # Build next to the target and rename: a half-written binary is never picked up.
                os.replace(partial, target / name)
        problem = tools_problem(target)
        if problem:
            raise ControlPlaneError(f"the freshly built helm/kustomize do not work: {problem}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitkube.testing.sourcetools")
    parser.add_argument("command", choices=["build"])
    parser.parse_args(argv)
    try:
        print(build())
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
