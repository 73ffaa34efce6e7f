"""Pinned command-line tools built from the Go module proxy into the test kit's cache.

The real tools (sops and age, helm and kustomize) judge gitkube's output, so
tests and the demo must never depend on whichever versions a machine happens
to have. Each set is built once with the control plane's Go build helper,
cached next to the control plane in a directory named after its pins, checked
by running each tool's version command, and handed out by path.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gitkube.testing.controlplane import ControlPlaneError, _go, _locked, find_go


@dataclass(frozen=True)
class GoTool:
    """One binary: which Go package builds it, and how it reports its version."""

    name: str
    module: str
    version: str
    package: str
    version_argv: tuple[str, ...] = ("--version",)
    version_text: str = ""  # what the version command prints; the version when empty
    stamp: str = ""  # -X flag that stamps the version into the binary, if it needs one
    go: str = "1.24"  # the go line of the module that builds it (what its release needs)

    @property
    def expected(self) -> str:
        return self.version_text or self.version


def tools_problem(directory: Path, tools: Sequence[GoTool]) -> str | None:
    """Why the tools in ``directory`` are unusable, or None if all run and report their pins."""
    for tool in tools:
        path = directory / tool.name
        if not path.is_file():
            return f"{path} does not exist"
        argv = " ".join(tool.version_argv)
        try:
            done = subprocess.run(
                [str(path), *tool.version_argv], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{path} {argv} failed: {exc}"
        if done.returncode != 0:
            return f"{path} {argv} exited {done.returncode}: {done.stderr.strip()[:300]}"
        if tool.expected not in done.stdout:
            return f"{path} {argv} does not report {tool.expected}: {done.stdout.strip()[:200]}"
    return None


def build_tools(
    target: Path, tools: Sequence[GoTool], *, what: str, log: TextIO | None = None
) -> Path:
    """Build ``tools`` into ``target`` unless it has them already; return ``target``.

    Safe to run from several processes at once (a lock next to ``target``), and a
    half-written binary is never picked up (built beside the target, then renamed).
    """
    log = log or sys.stderr
    if tools_problem(target, tools) is None:
        return target
    with _locked(target.parent / ".build.lock"):
        if tools_problem(target, tools) is None:
            return target  # another process built them while we waited
        go = find_go()
        target.mkdir(parents=True, exist_ok=True)
        log.write(f"building {what} into {target}\n")
        with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as tmp:
            for tool in tools:
                module = Path(tmp) / tool.name
                module.mkdir()
                (module / "go.mod").write_text(
                    f"module gitkube.local/go-tools/{tool.name}\n\ngo {tool.go}\n\n"
                    f"require {tool.module} {tool.version}\n"
                )
                _go(go, ["get", f"{tool.package}@{tool.version}"], module, log)
                partial = module / f"{tool.name}.partial"
                ldflags = "-s -w" + (f" -X {tool.stamp}" if tool.stamp else "")
                _go(
                    go,
                    ["build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), tool.package],
                    module,
                    log,
                )
                os.replace(partial, target / tool.name)
        problem = tools_problem(target, tools)
        if problem:
            raise ControlPlaneError(f"the freshly built {what} do not work: {problem}")
    return target


def build_command(prog: str, build: Callable[[], Path], argv: list[str] | None) -> int:
    """``python -m <prog> build``: build or reuse, print the bin dir; 1 with a message on failure."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("command", choices=["build"])
    parser.parse_args(argv)
    try:
        print(build())
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
