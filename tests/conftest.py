"""Helpers shared by gitkube's own tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.cli import app
from gitkube.testing.plugin_fixtures import TestPlugins

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"  # vendored third-party data: tests/data/README.md

SAMPLE_PLUGIN = REPO_ROOT / "tests" / "plugins" / "sample-plugin"

MINIMAL_CONFIG = """\
cluster: {name: home, project: my-proj, region: us-central1, zone: us-central1-b}
namespace: default
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> text, dedented) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def require_tool(name: str) -> str:
    """The path of a real tool the test needs; missing is a failure, never a skip."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; the test needs the real tool")
    return found


@pytest.fixture(autouse=True)
def private_age_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gitkube init` appends an age identity to sops' key file: never the user's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)


@pytest.fixture(autouse=True)
def private_sync_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sync keeps parsed rendered objects (and remote mirrors) under $GITKUBE_CACHE:
    each test its own, never the user's."""
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "gitkube-cache"))


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A config repo on disk with a gitkube.yaml and the given files."""

    def make(files: dict[str, str], *, config: str = MINIMAL_CONFIG, name: str = "repo") -> Path:
        root = tmp_path / name
        write_tree(root, {"gitkube.yaml": config, **files})
        return root

    return make


class Cli:
    """Runs the real ``gitkube`` command line in-process (fast) or as a subprocess."""

    def __init__(self, plugins: TestPlugins | None = None) -> None:
        self.runner = CliRunner()
        self.plugins = plugins if plugins is not None else TestPlugins()

    def __call__(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        result = self.runner.invoke(
            app, [str(a) for a in args], catch_exceptions=False, obj=self.plugins.plugins
        )
        return subprocess.CompletedProcess(
            args=list(args), returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr
        )

    def subprocess(
        self,
        *args: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gitkube", *map(str, args)],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=120,
        )


@pytest.fixture
def cli(gitkube_plugin: TestPlugins) -> Cli:
    """The command line, with the test's plugins (``gitkube_plugin``) handed in."""
    return Cli(gitkube_plugin)


@pytest.fixture(scope="session")
def sample_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party sample plugin (gitkube-sample-plugin 1.2.3, entry point
    ``greeter``, app.yaml key ``greeting``) pip-installed into its own directory:
    put it on PYTHONPATH to "install" it for a subprocess."""
    target = tmp_path_factory.mktemp("sample-plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(SAMPLE_PLUGIN),
        ],
        check=True,
    )
    return target
