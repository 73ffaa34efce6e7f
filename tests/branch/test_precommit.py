"""The pre-commit side: ``render --check`` on the index, and the shipped hooks run by real pre-commit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.branch.conftest import GIT_ENV, app_files, commit_all, edit, git, trailers
from tests.conftest import REPO_ROOT, require_tool

BROKEN = "apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n"


def test_check_renders_the_index_not_the_work_tree(git_repo, cli):
    repo = git_repo()
    edit(repo, {"web/frontend/service.yaml": BROKEN})  # broken, but not staged
    result = cli("render", repo, "--check")
    assert result.returncode == 0, result.stderr
    assert "the staged files render to 2 objects" in result.stdout

    git(repo, "add", "web/frontend/service.yaml")
    edit(repo, app_files("frontend"))  # fixed in the work tree, broken in the index
    result = cli("render", repo, "--check")
    assert result.returncode == 1
    assert "web/frontend/service.yaml:" in result.stderr
    assert "[in the staged files]" in result.stderr


def test_check_sees_staged_new_apps_and_writes_nothing(git_repo, cli):
    repo = git_repo()
    edit(repo, {"web/ghost/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: g}\n"})
    git(repo, "add", "web/ghost/cm.yaml")
    index = (repo / ".git" / "index").read_bytes()
    refs = git(repo, "for-each-ref")
    result = cli("render", repo, "--check", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert '"objects": 3' in result.stdout
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "for-each-ref") == refs
    assert git(repo, "status", "--porcelain") == "A  web/ghost/cm.yaml"


def test_check_honours_git_index_file(git_repo, cli, monkeypatch, tmp_path):
    """``git commit -a`` and ``git commit <path>`` hand hooks a temporary index."""
    repo = git_repo()
    other = tmp_path / "other-index"
    edit(repo, {"web/frontend/service.yaml": BROKEN})
    env = {**os.environ, "GIT_INDEX_FILE": str(other)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, env=env, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
    assert cli("render", repo, "--check").returncode == 0  # the real index is fine
    monkeypatch.setenv("GIT_INDEX_FILE", str(other))
    assert cli("render", repo, "--check").returncode == 1


def test_check_rejects_unmerged_index(git_repo, cli):
    repo = git_repo()
    git(repo, "checkout", "-q", "-b", "side")
    edit(repo, app_files("frontend", replicas=2))
    commit_all(repo)
    git(repo, "checkout", "-q", "main")
    edit(repo, app_files("frontend", replicas=3))
    commit_all(repo)
    git(repo, "merge", "-q", "side", check=False)
    result = cli("render", repo, "--check")
    assert result.returncode == 1
    assert "unmerged path" in result.stderr


@pytest.fixture
def precommit_env(tmp_path: Path) -> dict[str, str]:
    """pre-commit with its own home, and this checkout's gitkube first on PATH."""
    require_tool("git")
    bindir = Path(sys.executable).parent
    if not (bindir / "pre-commit").exists():
        require_tool("pre-commit")
    return {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
    }


def _hooks_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repo holding exactly the shipped .pre-commit-hooks.yaml, as a hook source."""
    hooks = tmp_path / "gitkube-hooks"
    hooks.mkdir()
    shutil.copy(REPO_ROOT / ".pre-commit-hooks.yaml", hooks / ".pre-commit-hooks.yaml")
    git(hooks, "init", "-q")
    commit_all(hooks, "hooks")
    return hooks, git(hooks, "rev-parse", "HEAD")


def test_shipped_hooks_with_real_precommit(git_repo, tmp_path, precommit_env):
    """A broken manifest is refused at commit time; a good commit moves `rendered`.

    The hooks come from the shipped manifest (ids, entries, stages); only the
    language is overridden to ``system`` so the test uses this checkout's
    gitkube instead of installing a release from the network.
    """
    repo = git_repo()
    hooks, rev = _hooks_repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text(
        "default_install_hook_types: [pre-commit, post-commit]\n"
        "repos:\n"
        f"  - repo: {hooks}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - {id: gitkube-check, language: system}\n"
        "      - {id: gitkube-render, language: system}\n"
    )
    commit_all(repo, "add pre-commit config")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=repo, env=precommit_env, capture_output=True, text=True, timeout=300
        )

    installed = run("pre-commit", "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (repo / ".git" / "hooks" / "post-commit").exists()

    head = git(repo, "rev-parse", "HEAD")
    edit(repo, {"web/frontend/service.yaml": BROKEN})
    git(repo, "add", "-A")
    refused = run("git", "commit", "-m", "broken service")
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "gitkube check" in output and "web/frontend/service.yaml" in output, output
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "rev-parse", "--verify", "-q", "rendered", check=False) == ""

    edit(repo, app_files("frontend", replicas=4))
    git(repo, "add", "-A")
    accepted = run("git", "commit", "-m", "four replicas")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    new_head = git(repo, "rev-parse", "HEAD")
    assert new_head != head
    assert trailers(repo, "rendered")["Source-Commit"] == new_head
    assert "replicas: 4" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")
    assert git(repo, "status", "--porcelain") == ""


def test_template_precommit_config_is_local_and_matches_the_shipped_hooks():
    """The template runs the installed gitkube (no network, sees installed plugins)
    with the same hooks as the manifest shipped for remote use."""
    import yaml

    shipped = {
        h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    }
    assert shipped["gitkube-check"]["stages"] == ["pre-commit"]
    assert shipped["gitkube-check"]["entry"] == "gitkube render --check"
    assert shipped["gitkube-render"]["stages"] == ["post-commit", "post-merge", "post-rewrite"]
    config = yaml.safe_load((REPO_ROOT / "repo-template" / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert list(hooks) == ["gitkube-check", "gitkube-render"]
    for hook_id, hook in hooks.items():
        assert hook["language"] == "system"
        for key in ("entry", "stages", "pass_filenames", "always_run", "require_serial", "verbose"):
            assert hook.get(key) == shipped[hook_id].get(key), (hook_id, key)
    stages = {stage for hook in hooks.values() for stage in hook["stages"]}
    assert set(config["default_install_hook_types"]) == stages


def test_template_hooks_as_shipped_with_a_required_plugin(
    cli, tmp_path, precommit_env, sample_plugin_site
):
    """`gitkube init`, `pre-commit install`, commit: the template's own hooks, real
    pre-commit, a third-party plugin that gitkube.yaml requires."""
    repo = tmp_path / "my-config"
    assert cli("init", repo).returncode == 0
    config = (repo / "gitkube.yaml").read_text()
    assert "  require: []" in config
    (repo / "gitkube.yaml").write_text(
        config.replace("  require: []", '  require: ["gitkube-sample-plugin>=1.2,<2"]')
    )
    (repo / "web" / "ghost" / "app.yaml").write_text("greeting: hello\n")
    with_plugin = {**precommit_env, "PYTHONPATH": str(sample_plugin_site)}

    def run(*args: str, env: dict[str, str] = with_plugin) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    assert run("git", "init", "-q", "-b", "main").returncode == 0
    installed = run("pre-commit", "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (repo / ".git" / "hooks" / "post-commit").exists()
    git(repo, "add", "-A")
    first = run("git", "commit", "-q", "-m", "start")
    assert first.returncode == 0, first.stdout + first.stderr
    ghost = git(repo, "show", "rendered:web/ghost/deployment-ghost.yaml")
    assert "example.com/greeting: hello" in ghost

    # A machine without the plugin: the commit is refused, naming the package.
    edit(repo, {"web/ghost/app.yaml": "greeting: hi\n"})
    git(repo, "add", "-A")
    head = git(repo, "rev-parse", "HEAD")
    refused = run("git", "commit", "-q", "-m", "hi", env=precommit_env)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "gitkube-sample-plugin is not installed" in output, output
    assert git(repo, "rev-parse", "HEAD") == head

    # A typo is refused with a suggestion.
    edit(repo, {"web/ghost/app.yaml": "greetng: hi\n"})
    git(repo, "add", "-A")
    typo = run("git", "commit", "-q", "-m", "typo")
    assert typo.returncode != 0
    assert 'unknown key "greetng" (did you mean "greeting"?)' in typo.stdout + typo.stderr


def test_real_hooks_move_rendered_only_for_the_source_branch(git_repo, tmp_path, precommit_env):
    """Feature-branch commits (also --no-verify) leave `rendered`; a merge into main moves it."""
    repo = git_repo()
    hooks, rev = _hooks_repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text(
        "default_install_hook_types: [pre-commit, post-commit, post-merge, post-rewrite]\n"
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n"
        "      - {id: gitkube-check, language: system}\n"
        "      - {id: gitkube-render, language: system}\n"
    )
    commit_all(repo, "add pre-commit config")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=repo, env=precommit_env, capture_output=True, text=True, timeout=300
        )

    assert run("pre-commit", "install").returncode == 0
    assert (repo / ".git" / "hooks" / "post-merge").exists()
    edit(repo, app_files("frontend", replicas=2))
    git(repo, "add", "-A")
    assert run("git", "commit", "-m", "on main").returncode == 0
    on_main = git(repo, "rev-parse", "HEAD")
    assert trailers(repo, "rendered")["Source-Commit"] == on_main

    git(repo, "checkout", "-q", "-b", "feature")
    for replicas, extra in ((3, ()), (4, ("--no-verify",))):
        edit(repo, app_files("frontend", replicas=replicas))
        git(repo, "add", "-A")
        committed = run("git", "commit", "-m", f"{replicas} replicas", *extra)
        assert committed.returncode == 0, committed.stdout + committed.stderr
        assert "rendered nothing" in committed.stdout + committed.stderr
        assert trailers(repo, "rendered")["Source-Commit"] == on_main

    git(repo, "checkout", "-q", "main")
    merged = run("git", "merge", "--no-ff", "-m", "merge feature", "feature")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert trailers(repo, "rendered")["Source-Commit"] == git(repo, "rev-parse", "HEAD")
    assert "replicas: 4" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


@pytest.mark.slow  # pre-commit builds its own virtualenv from PyPI: about a minute
def test_shipped_hooks_install_and_run_from_this_repo(git_repo, precommit_env):
    """The manifest as shipped (language: python): pre-commit installs this repo at HEAD."""
    repo = git_repo()
    rev = git(REPO_ROOT, "rev-parse", "HEAD")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO_ROOT}\n    rev: {rev}\n"
        "    hooks:\n      - id: gitkube-check\n      - id: gitkube-render\n"
    )
    commit_all(repo, "pre-commit config")

    def run(hook: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pre-commit", "run", hook, *extra],
            cwd=repo,
            env=precommit_env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    edit(repo, {"web/frontend/service.yaml": BROKEN})
    git(repo, "add", "-A")
    broken = run("gitkube-check")
    assert broken.returncode != 0
    assert "web/frontend/service.yaml" in broken.stdout + broken.stderr
    edit(repo, app_files("frontend", replicas=6))
    git(repo, "add", "-A")
    good = run("gitkube-check")
    assert good.returncode == 0, good.stdout + good.stderr
    head = commit_all(repo)
    rendered = run("gitkube-render", "--hook-stage", "post-commit")
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert trailers(repo, "rendered")["Source-Commit"] == head
