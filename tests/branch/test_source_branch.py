"""Only the source branch moves `rendered` (render.sourceBranch), with real git."""

from __future__ import annotations

import json

from tests.branch.conftest import app_files, commit_all, edit, git, trailers
from tests.conftest import MINIMAL_CONFIG


def rendered_tip(repo):
    return git(repo, "rev-parse", "--verify", "-q", "refs/heads/rendered", check=False)


def test_a_feature_branch_commit_renders_nothing_and_exits_0(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    before = rendered_tip(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, app_files("frontend", replicas=5))
    commit_all(repo, "feature work")
    result = cli("render", repo)
    assert result.returncode == 0, result.stderr
    assert "rendered nothing: HEAD is on branch feature" in result.stdout
    assert "render.sourceBranch" in result.stdout
    assert rendered_tip(repo) == before
    as_json = cli("render", repo, "-o", "json")
    assert json.loads(as_json.stdout)["rendered"] is False


def test_an_explicit_ref_still_renders_any_commit(git_repo, cli):
    repo = git_repo()
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, app_files("frontend", replicas=5))
    feature = commit_all(repo, "feature work")
    result = cli("render", repo, "--ref", "feature")
    assert result.returncode == 0, result.stderr
    assert trailers(repo, "rendered")["Source-Commit"] == feature


def test_merging_into_main_and_amending_on_main_move_rendered(git_repo, cli):
    repo = git_repo()
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, app_files("frontend", replicas=5))
    commit_all(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    assert cli("render", repo).returncode == 0
    assert trailers(repo, "rendered")["Source-Commit"] == git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=6))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--amend", "--no-edit")
    assert cli("render", repo).returncode == 0
    amended = git(repo, "rev-parse", "HEAD")
    assert trailers(repo, "rendered")["Source-Commit"] == amended


def test_a_detached_head_renders_only_at_the_source_tip(git_repo, cli):
    repo = git_repo()
    main = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach", main)
    assert cli("render", repo).returncode == 0
    assert trailers(repo, "rendered")["Source-Commit"] == main
    edit(repo, app_files("frontend", replicas=7))
    detached = commit_all(repo, "detached work")
    result = cli("render", repo)
    assert f"at {detached[:12]} (detached)" in result.stdout
    assert trailers(repo, "rendered")["Source-Commit"] == main


def test_the_source_branch_is_configurable(git_repo, cli):
    repo = git_repo(config=MINIMAL_CONFIG + "render: {sourceBranch: trunk}\n")
    result = cli("render", repo)
    assert "only the tip of trunk" in result.stdout
    assert rendered_tip(repo) == ""
    git(repo, "checkout", "-q", "-b", "trunk")
    assert cli("render", repo).returncode == 0
    assert trailers(repo, "rendered")["Source-Commit"] == git(repo, "rev-parse", "HEAD")
