"""gitkube render onto the rendered branch: what lands there and what is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_to_branch
from tests.branch.conftest import app_files, commit_all, edit, git, trailers
from tests.conftest import REPO_ROOT

INVENTORY = "gitkube-inventory.yaml"


def test_render_commits_head_and_touches_nothing_else(git_repo, cli):
    repo = git_repo()
    (repo / "untracked.txt").write_text("mine\n")
    head = git(repo, "rev-parse", "HEAD")
    index_before = (repo / ".git" / "index").read_bytes()
    status_before = git(repo, "status", "--porcelain")

    result = cli("render", repo)
    assert result.returncode == 0, result.stderr
    assert "committed" in result.stdout

    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert trailers(repo, "rendered") == {
        "Source-Commit": head,
        "Rendered-By": "gitkube 0.1.0",
    }
    files = git(repo, "ls-tree", "-r", "--name-only", "rendered").splitlines()
    assert files == [
        INVENTORY,
        "web/frontend/deployment-frontend.yaml",
        "web/frontend/service-frontend.yaml",
    ]
    inventory = git(repo, "show", f"rendered:{INVENTORY}")
    assert f"sourceCommit: {head}" in inventory
    assert "kind: Deployment" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


def test_clean_checkout_stays_clean(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    assert git(repo, "status", "--porcelain") == ""


def test_same_source_twice_makes_no_new_commit(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    first = git(repo, "rev-parse", "rendered")
    again = cli("render", repo, "-o", "json")
    assert again.returncode == 0
    assert '"changed": false' in again.stdout
    assert git(repo, "rev-parse", "rendered") == first
    nocache = cli("render", repo, "--no-cache")
    assert nocache.returncode == 0
    assert git(repo, "rev-parse", "rendered") == first


def test_new_source_commit_stacks_on_previous_render(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    first = git(repo, "rev-parse", "rendered")
    edit(repo, app_files("frontend", replicas=3))
    second_source = commit_all(repo)
    assert cli("render", repo).returncode == 0
    assert git(repo, "rev-parse", "rendered^") == first
    assert trailers(repo, "rendered")["Source-Commit"] == second_source
    assert "replicas: 3" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")
    # an app removed from the source disappears from the branch
    edit(repo, app_files("ghost"))
    git(repo, "rm", "-q", "-r", "web/frontend")
    commit_all(repo)
    assert cli("render", repo).returncode == 0
    names = git(repo, "ls-tree", "-r", "--name-only", "rendered")
    assert "frontend" not in names and "web/ghost/service-ghost.yaml" in names


def test_reads_the_commit_not_the_work_tree(git_repo, cli):
    repo = git_repo()
    (repo / "web" / "frontend" / "deployment.yaml").write_text("kind: [broken\n")
    (repo / "web" / "extra").mkdir()
    (repo / "web" / "extra" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"
    )
    result = cli("render", repo)
    assert result.returncode == 0, result.stderr
    names = git(repo, "ls-tree", "-r", "--name-only", "rendered")
    assert "extra" not in names
    assert "replicas: 1" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


def test_ref_option_renders_another_commit(git_repo, cli):
    repo = git_repo()
    old = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=5))
    commit_all(repo)
    assert cli("render", repo, "--ref", old).returncode == 0
    assert trailers(repo, "rendered")["Source-Commit"] == old
    assert "replicas: 1" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


def test_branch_from_config_and_option(git_repo, cli):
    config = (
        "cluster: {name: home, project: p, region: r, zone: z}\n"
        "namespace: default\nrender: {branch: deploy/rendered}\n"
    )
    repo = git_repo(config=config)
    assert cli("render", repo).returncode == 0
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/deploy/rendered", check=False)
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/rendered", check=False) == ""
    assert cli("render", repo, "--branch", "other").returncode == 0
    assert trailers(repo, "other")["Source-Commit"] == git(repo, "rev-parse", "HEAD")


def test_works_in_a_bare_repository(git_repo, cli, tmp_path):
    repo = git_repo()
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    result = cli("render", bare)
    assert result.returncode == 0, result.stderr
    assert trailers(bare, "rendered")["Source-Commit"] == git(repo, "rev-parse", "HEAD")


def test_push_to_a_bare_remote(git_repo, cli, tmp_path):
    repo = git_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    result = cli("render", repo, "--push", "origin")
    assert result.returncode == 0, result.stderr
    assert "pushed to origin" in result.stdout
    assert git(remote, "rev-parse", "rendered") == git(repo, "rev-parse", "rendered")


def test_push_failure_is_reported(git_repo, cli, tmp_path):
    repo = git_repo()
    result = cli("render", repo, "--push", "nowhere")
    assert result.returncode == 1
    assert "push of rendered to nowhere failed" in result.stderr


def _render_tree_id(repo: Path, branch: str, env: dict[str, str], *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gitkube", "render", str(repo), "--branch", branch, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return git(repo, "rev-parse", f"{branch}^{{tree}}")


def test_same_source_same_tree_across_processes(tmp_path, git_repo):
    template = REPO_ROOT / "repo-template"
    files = {
        str(p.relative_to(template)): p.read_text()
        for p in template.rglob("*.yaml")
        if not any(part.startswith(".") for part in p.relative_to(template).parts)
        and p.name != "gitkube.yaml"
    }
    config = (template / "gitkube.yaml").read_text()
    repo = git_repo(files, config=config)
    trees = {
        _render_tree_id(repo, "a", {"PYTHONHASHSEED": "1", "LC_ALL": "C"}, "--no-cache"),
        _render_tree_id(
            repo, "b", {"PYTHONHASHSEED": "2", "LC_ALL": "C.UTF-8", "TZ": "Asia/Tokyo"}
        ),
        _render_tree_id(repo, "c", {"PYTHONHASHSEED": "3", "TZ": "America/Lima"}),  # cached
    }
    assert len(trees) == 1, trees


def test_cas_loses_then_retries_on_the_new_tip(git_repo, monkeypatch):
    """A render whose ref update loses the race starts again on the winner's commit."""
    repo = git_repo()
    first_source = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=2))
    second_source = commit_all(repo)
    render_to_branch(repo, ref=first_source)
    base = git(repo, "rev-parse", "rendered")

    real_write = GitStore.write_commit
    raced = []

    def write_then_someone_else_wins(self, *args, **kwargs):
        commit = real_write(self, *args, **kwargs)
        if not raced:  # another render lands between our write and our update-ref
            raced.append(True)
            edit(repo, app_files("frontend", replicas=9))
            other = commit_all(repo)
            monkeypatch.setattr(GitStore, "write_commit", real_write)
            render_to_branch(repo, ref=other)
            monkeypatch.setattr(GitStore, "write_commit", write_then_someone_else_wins)
        return commit

    monkeypatch.setattr(GitStore, "write_commit", write_then_someone_else_wins)
    summary = render_to_branch(repo, ref=second_source)
    assert raced and summary.changed
    assert git(repo, "rev-parse", "rendered") == summary.commit
    assert trailers(repo, "rendered")["Source-Commit"] == second_source
    winner = git(repo, "rev-parse", "rendered^")
    assert git(repo, "rev-parse", "rendered^^") == base
    assert "replicas: 9" in git(repo, "show", f"{winner}:web/frontend/deployment-frontend.yaml")


def test_update_ref_is_compare_and_swap(git_repo):
    repo = git_repo()
    store = GitStore(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert store.update_ref("refs/heads/x", head, None, "t")
    assert not store.update_ref("refs/heads/x", head, None, "t")  # exists already
    assert not store.update_ref("refs/heads/x", head, "1" * 40, "t")  # stale old value
    assert git(repo, "rev-parse", "x") == head


def test_concurrent_renders_never_corrupt_the_branch(git_repo, tmp_path):
    repo = git_repo()
    sources = [git(repo, "rev-parse", "HEAD")]
    for n in range(2, 5):
        edit(repo, app_files("frontend", replicas=n))
        sources.append(commit_all(repo))
    for _round in range(2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gitkube", "render", str(repo), "--ref", s, "--no-cache"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for s in sources
        ]
        for proc in procs:
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 or "kept moving" in err, err
    git(repo, "fsck", "--no-dangling")
    history = git(repo, "rev-list", "--parents", "rendered").splitlines()
    assert all(len(line.split()) <= 2 for line in history)  # linear
    for line in history:
        commit = line.split()[0]
        source = trailers(repo, commit)["Source-Commit"]
        assert source in sources
        inventory = git(repo, "show", f"{commit}:{INVENTORY}")
        assert f"sourceCommit: {source}" in inventory
    assert git(repo, "for-each-ref", "refs/gitkube/") == ""  # no temporary refs left
