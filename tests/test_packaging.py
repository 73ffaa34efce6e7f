"""What a user installs: the wheel's packages, the built-ins' name, the template for `init`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def test_package_list_matches_the_packages_on_disk():
    listed = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(p.parent.relative_to(REPO_ROOT).parts)
        for p in (REPO_ROOT / "gitkube").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert on_disk <= listed, (
        f"add to pyproject [tool.setuptools] packages: {sorted(on_disk - listed)}"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """gitkube built as a wheel and installed (no deps) into its own directory."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO_ROOT),
        ],
        check=True,
    )
    (wheel,) = dist.glob("gitkube-*.whl")
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _python(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )


def test_builtins_install_as_gitkube_plugins_not_plugins(installed, tmp_path):
    assert (installed / "gitkube_plugins" / "labels.py").is_file()
    assert not (installed / "plugins").exists()
    result = _python(installed, "import plugins", tmp_path)
    assert result.returncode != 0 and "No module named 'plugins'" in result.stderr


def test_wheel_carries_the_template_with_its_hidden_files(installed):
    template = installed / "gitkube_repo_template"
    for rel in (
        "gitkube.yaml",
        "web/frontend/app.yaml",
        ".pre-commit-config.yaml",
        ".github/workflows/gitkube.yaml",
    ):
        assert (template / rel).is_file(), rel


def test_init_creates_a_repo_that_renders(cli, tmp_path):
    target = tmp_path / "my-config"
    result = cli("init", target, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert (target / ".pre-commit-config.yaml").is_file()
    assert (target / "web/frontend/controller.yaml").is_file()
    assert not list(target.rglob("__pycache__"))
    rendered = cli("render", target, "--out", tmp_path / "out")
    assert rendered.returncode == 0, rendered.stderr


def test_init_refuses_a_non_empty_directory(cli, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = cli("init", target)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_installed_init_finds_its_template(installed, tmp_path):
    code = "from gitkube.commands.init import template_root; print(template_root())"
    result = _python(installed, code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == installed / "gitkube_repo_template"
