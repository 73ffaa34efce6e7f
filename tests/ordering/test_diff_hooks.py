"""The pull-request diff names the hooks a sync of the change would run; it runs none."""

from __future__ import annotations

import json

from tests.branch.conftest import app_files, commit_all, edit, git, git_repo
from tests.ordering.test_hooks import migration

__all__ = ["git_repo"]


def test_the_pr_markdown_lists_the_hooks_of_changed_apps_only(git_repo, cli):
    repo = git_repo(
        {
            **app_files("ghost"),
            "web/ghost/migrate.yaml": migration(),
            **app_files("frontend"),
            "web/frontend/smoke.yaml": migration("post-sync").replace("migrate", "smoke"),
        }
    )
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("ghost", replicas=3))
    head = commit_all(repo)
    report = json.loads(cli("diff", base, head, "--repo", repo, "-o", "json").stdout)
    assert report["hooks"] == [
        {"app": "web/ghost", "hook": "pre-sync", "kind": "Job", "name": "migrate"}
    ]
    markdown = cli("diff", base, head, "--repo", repo, "-o", "markdown").stdout
    assert "- pre-sync `Job migrate` in `web/ghost`" in markdown
    assert "smoke" not in markdown  # web/frontend does not change: its hook does not run
