"""Previews of uncommitted work: diff against the work tree, render of some apps, a note."""

from __future__ import annotations

import json

from tests.branch.conftest import app_files, edit, git


def test_diff_without_refs_compares_the_source_branch_with_the_work_tree(git_repo, cli):
    repo = git_repo()
    edit(repo, app_files("frontend", replicas=4))  # not committed
    edit(repo, {"web/ghost/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: g}\n"})
    result = cli("diff", "--repo", repo, "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["base"]["ref"] == "main" and report["head"]["ref"] == "work tree"
    changes = {(c["app"], c["kind"], c["action"]) for c in report["changes"]}
    assert changes == {
        ("web/frontend", "Deployment", "changed"),
        ("web/ghost", "ConfigMap", "added"),
    }
    text = cli("diff", "--repo", repo)
    assert "main..work tree: 2 objects differ" in text.stdout


def test_diff_of_one_ref_compares_it_with_the_work_tree(git_repo, cli):
    repo = git_repo()
    first = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=5))
    report = json.loads(cli("diff", first, "--repo", repo, "-o", "json").stdout)
    assert report["base"]["commit"] == first
    assert [c["kind"] for c in report["changes"]] == ["Deployment"]
    assert "the work tree" in cli("diff", first, "--repo", repo, "-o", "markdown").stdout


def test_render_out_writes_only_the_named_apps_but_checks_all(git_repo, cli, tmp_path):
    repo = git_repo({**app_files("frontend"), **app_files("ghost")})
    out = tmp_path / "out"
    result = cli("render", repo, "web/ghost", "--out", out)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert written == [
        "gitkube-inventory.yaml",
        "web/ghost/deployment-ghost.yaml",
        "web/ghost/service-ghost.yaml",
    ]
    edit(
        repo,
        {"web/frontend/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: ghost}\n"},
    )
    clash = cli("render", repo, "web/ghost", "--out", tmp_path / "out2")
    assert clash.returncode == 1 and "web/frontend/service.yaml" in clash.stderr
    edit(repo, app_files("frontend"))
    unknown = cli("render", repo, "web/gohst", "--out", tmp_path / "out3")
    assert unknown.returncode == 1 and 'did you mean "web/ghost"' in unknown.stderr


def test_render_says_when_uncommitted_changes_were_left_out(git_repo, cli):
    repo = git_repo()
    edit(repo, app_files("frontend", replicas=9))
    result = cli("render", repo)
    assert result.returncode == 0, result.stderr
    assert "1 uncommitted change left out (e.g. web/frontend/deployment.yaml)" in result.stderr
    assert "replicas: 9" not in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")
