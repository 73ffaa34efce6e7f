"""The real kustomize and helm, pinned and built from the Go module proxy
(gitkube.testing.sourcetools), first on PATH for every test here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitkube.primitives.yamlio import load_documents
from gitkube.testing import sourcetools


@pytest.fixture(scope="session")
def source_tools_dir() -> Path:
    # Built (or reused from the cache) like the control plane; never skipped.
    return sourcetools.build()


@pytest.fixture
def source_tools(source_tools_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pinned tools' directory, put first on PATH for the test."""
    monkeypatch.setenv("PATH", f"{source_tools_dir}:{_path()}")
    return source_tools_dir


def _path() -> str:
    import os

    return os.environ.get("PATH", "")


def run_tool(tools: Path, *argv: str | Path, cwd: Path) -> str:
    """A pinned tool's stdout, run by the test itself (the reference output)."""
    done = subprocess.run(
        [str(tools / str(argv[0])), *map(str, argv[1:])],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def documents(text: str) -> list[object]:
    return load_documents(text, "<tool output>")
