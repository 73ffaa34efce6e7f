"""Bad input to the branch writer: one clear message, non-zero exit, the branch unchanged."""

from __future__ import annotations

from tests.branch.conftest import app_files, commit_all, edit, git

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: b}\n"


def fails(cli, *args, expect: tuple[str, ...]) -> str:
    result = cli("render", *args)
    assert result.returncode == 1, result.stdout
    message = result.stderr.strip()
    assert message.startswith("error: "), message
    for text in expect:
        assert text in message, message
    return message


def test_unknown_ref(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    before = git(repo, "rev-parse", "rendered")
    fails(cli, repo, "--ref", "no-such-branch", expect=('"no-such-branch" names no commit',))
    assert git(repo, "rev-parse", "rendered") == before


def test_repository_without_commits(make_repo, cli):
    repo = make_repo(app_files("frontend"))
    git(repo, "init", "-q")
    fails(cli, repo, expect=("has no commits yet",))
    assert git(repo, "for-each-ref") == ""


def test_not_a_git_repository(make_repo, cli):
    repo = make_repo(app_files("frontend"))
    fails(cli, repo, expect=("not a git repository",))


def test_rendered_branch_that_is_not_gitkubes(git_repo, cli):
    repo = git_repo()
    git(repo, "branch", "rendered")  # someone's own branch of that name
    before = git(repo, "rev-parse", "rendered")
    fails(cli, repo, expect=('branch "rendered"', "not written by gitkube", "--branch"))
    assert git(repo, "rev-parse", "rendered") == before


def test_render_error_in_head_names_file_and_ref(git_repo, cli):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    before = git(repo, "rev-parse", "rendered")
    edit(
        repo, {"web/frontend/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: [x\n"}
    )
    head = commit_all(repo)
    message = fails(
        cli, repo, expect=("web/frontend/service.yaml:", "malformed YAML", f"HEAD ({head[:12]})")
    )
    assert "\n" not in message
    assert git(repo, "rev-parse", "rendered") == before
    assert git(repo, "status", "--porcelain") == ""


def test_cross_app_duplicate_is_caught_with_the_other_app_cached(git_repo, cli):
    """Per-app caching must not skip repo-wide validation."""
    repo = git_repo({**app_files("frontend"), "web/frontend/cm.yaml": CONFIGMAP})
    assert cli("render", repo).returncode == 0  # frontend's output is now cached
    before = git(repo, "rev-parse", "rendered")
    edit(repo, {"other/copy/cm.yaml": CONFIGMAP})  # the same ConfigMap in another app
    commit_all(repo)
    fails(cli, repo, expect=("ConfigMap default/shared is defined twice", "web/frontend/cm.yaml"))
    assert git(repo, "rev-parse", "rendered") == before


def test_invalid_branch_name(git_repo, cli):
    repo = git_repo()
    fails(cli, repo, "--branch", "bad..name", expect=("not a valid branch name",))


def test_symlink_leaving_the_repo_is_refused(git_repo, cli, tmp_path):
    repo = git_repo()
    (tmp_path / "outside.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: o}\n")
    (repo / "web" / "frontend" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    commit_all(repo)
    fails(cli, repo, expect=("web/frontend/link.yaml", "symlink leaves the repository"))


def test_symlink_inside_the_repo_is_followed(git_repo, cli):
    repo = git_repo()
    (repo / "shared").mkdir()
    (repo / "shared" / "README").write_text("not yaml\n")
    edit(repo, {"web/frontend/cm.yaml": CONFIGMAP})
    (repo / "web" / "ghost").mkdir()
    (repo / "web" / "ghost" / "cm.yaml").symlink_to("../frontend/cm.yaml")
    commit_all(repo)
    result = cli("render", repo)
    assert result.returncode == 1  # same Service twice: the link was read
    assert "defined twice" in result.stderr


def test_checked_out_rendered_branch_is_not_moved(git_repo, cli, tmp_path):
    repo = git_repo()
    assert cli("render", repo).returncode == 0
    before = git(repo, "rev-parse", "rendered")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "rendered")
    edit(repo, app_files("frontend", replicas=2))
    commit_all(repo)
    fails(cli, repo, expect=('branch "rendered" is checked out',))
    assert git(repo, "rev-parse", "rendered") == before
    assert git(tmp_path / "wt", "status", "--porcelain") == ""
