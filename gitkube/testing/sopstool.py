"""The real ``sops`` and ``age`` command-line tools, built from the Go module proxy.

gitkube reads and writes SOPS files itself (``gitkube.primitives.sops``); the
real tools are the judge of whether it does so in their format. This module
builds the pinned releases with the control plane's Go build helper, caches
them next to the control plane, and hands out their paths.

Command line::

    python -m gitkube.testing.sopstool build     # build or reuse; prints the bin dir
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
SOPS_VERSION = "v3.13.3"
AGE_VERSION = "v1.3.1"

_PACKAGES = {
    "sops": ("github.com/getsops/sops/v3", SOPS_VERSION, "github.com/getsops/sops/v3/cmd/sops"),
    "age": ("filippo.io/age", AGE_VERSION, "filippo.io/age/cmd/age"),
    "age-keygen": ("filippo.io/age", AGE_VERSION, "filippo.io/age/cmd/age-keygen"),
}


def bin_dir(root: Path | None = None) -> Path:
    # Versioned so that changing the pins never reuses binaries of other versions.
    return (root or cache_root()) / f"sops-{SOPS_VERSION}-age-{AGE_VERSION}" / "bin"


def tools_problem(directory: Path) -> str | None:
    """Why the tools in ``directory`` are unusable, or None if all run."""
    for name, (_module, version, _package) in _PACKAGES.items():
        path = directory / name
        if not path.is_file():
            return f"{path} does not exist"
        # sops would otherwise ask GitHub for its latest release: no network here.
        flags = ["--disable-version-check", "--version"] if name == "sops" else ["--version"]
        done = subprocess.run([str(path), *flags], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return f"{path} --version exited {done.returncode}: {done.stderr.strip()[:300]}"
        if version.removeprefix("v") not in done.stdout:
            return f"{path} --version does not report {version}: {done.stdout.strip()[:200]}"
    return None


def build(root: Path | None = None, *, log: TextIO | None = None) -> Path:
    """Build ``sops``, ``age`` and ``age-keygen`` unless the cache has them; return the bin dir."""
    log = log or sys.stderr
    target = bin_dir(root)
    if tools_problem(target) is None:
        return target
    with _locked(target.parent / ".build.lock"):
        if tools_problem(target) is None:
            return target  # another process built them while we waited
        go = find_go()
        target.mkdir(parents=True, exist_ok=True)
        log.write(f"building sops {SOPS_VERSION} and age {AGE_VERSION} into {target}\n")
        with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as tmp:
            for name, (module_path, version, package) in _PACKAGES.items():
                module = Path(tmp) / name
                module.mkdir()
                (module / "go.mod").write_text(
                    f"module gitkube.local/sops-build/{name}\n\ngo 1.24\n\nrequire {module_path} {version}\n"
                )
                _go(go, ["get", f"{package}@{version}"], module, log)
                partial = module / f"{name}.partial"
                _go(
                    go,
                    ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), package],
                    module,
                    log,
                )
                # Build next to the target and rename: a half-written binary is never picked up.
                os.replace(partial, target / name)
        problem = tools_problem(target)
        if problem:
            raise ControlPlaneError(f"the freshly built sops/age do not work: {problem}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitkube.testing.sopstool")
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
