"""What a user installs: the wheel's packages, the built-ins' name, the template for `init`."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool


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


def _run(*args: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_readme_install_from_a_built_wheel(tmp_path):
    """The README's Install: build sdist + wheel, install the wheel into a fresh
    virtualenv, then the tutorial's first commands from that install only.

    The wheel is built from the sdist (``python -m build``'s default), so the
    sdist is known to hold everything. gitkube's dependencies come from this
    test environment through a ``.pth`` line (no network; the editable
    install of the checkout is not activated), and the work happens outside
    the checkout, so nothing can be imported from the source tree.
    """
    git = require_tool("git")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (sdist,) = dist.glob("gitkube-*.tar.gz")
    (wheel,) = dist.glob("gitkube-*.whl")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"README.md", "LICENSE", "pyproject.toml", "plugins/labels.py"} <= names

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.path.dirname(git)}",
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    _run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        wheel,
        cwd=tmp_path,
        env=env,
    )
    purelib = _run(
        bin_dir / "python",
        "-c",
        "import sysconfig; print(sysconfig.get_path('purelib'))",
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    (Path(purelib) / "gitkube-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = _run(
        bin_dir / "python", "-c", "import gitkube; print(gitkube.__file__)", cwd=tmp_path, env=env
    )
    assert where.stdout.startswith(str(venv)), where.stdout

    gitkube = bin_dir / "gitkube"
    assert "gitkube" in _run(gitkube, "--version", cwd=tmp_path, env=env).stdout
    _run(gitkube, "init", "my-config", cwd=tmp_path, env=env)
    repo = tmp_path / "my-config"
    _run(git, "init", "-q", "-b", "main", cwd=repo, env=env)
    _run(git, "add", "-A", cwd=repo, env=env)
    _run(git, "commit", "-q", "-m", "start", cwd=repo, env=env)
    rendered = _run(gitkube, "render", cwd=repo, env=env)
    assert "committed" in rendered.stdout
    _run(git, "checkout", "-q", "-b", "more-replicas", cwd=repo, env=env)
    labels = repo / "web" / "ghost" / "app.yaml"
    labels.write_text("labels: {tier: blog}\n")
    _run(git, "add", "-A", cwd=repo, env=env)
    _run(git, "commit", "-q", "-m", "label ghost", cwd=repo, env=env)
    diff = _run(gitkube, "diff", "main", "HEAD", cwd=repo, env=env)
    assert "app web/ghost" in diff.stdout and "tier: blog" in diff.stdout
