"""Failures in machine formats: -o json prints a JSON error, -o markdown a PR comment."""

from __future__ import annotations

import json

from tests.branch.conftest import commit_all, edit, git

BROKEN = "apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n"


def test_render_error_under_json_is_a_json_document_on_stdout(git_repo, cli):
    repo = git_repo()
    edit(repo, {"web/frontend/service.yaml": BROKEN})
    result = cli("render", repo, "--out", repo.parent / "out", "-o", "json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["file"] == "web/frontend/service.yaml"
    assert error["line"] and "malformed YAML" in error["message"]
    assert error["exitCode"] == 1
    assert f"error: web/frontend/service.yaml:{error['line']}" in result.stderr


def test_diff_of_a_broken_head_under_markdown_is_a_comment_saying_why(git_repo, cli):
    repo = git_repo()
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, {"web/frontend/service.yaml": BROKEN})
    head = commit_all(repo)
    result = cli("diff", base, head, "--repo", repo, "-o", "markdown")
    assert result.returncode == 1
    assert result.stdout.startswith("### gitkube diff")
    assert "**The change does not render**" in result.stdout
    assert "web/frontend/service.yaml:" in result.stdout
    as_json = cli("diff", base, head, "--repo", repo, "-o", "json")
    assert json.loads(as_json.stdout)["error"]["file"] == "web/frontend/service.yaml"
