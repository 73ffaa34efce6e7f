"""The seed repo (repo-template) says "frontend after ghost" and runs ghost's migration first."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.gce.conftest import gce_repo, nodes
from tests.sync.conftest import git

__all__ = ["gce_repo", "nodes"]

TEMPLATE = REPO_ROOT / "repo-template"


def template_apps() -> dict[str, str]:
    files = {}
    for path in sorted(TEMPLATE.rglob("*.yaml")):
        rel = path.relative_to(TEMPLATE).as_posix()
        # The seed's SOPS Secrets are encrypted to the template's own recipients, which
        # this test's gitkube.yaml does not name; ordering does not depend on them.
        if "/" in rel and not rel.startswith(".") and not rel.endswith(".sops.yaml"):
            files[rel] = Path(path).read_text()
    return files


def test_the_seed_plan_orders_frontend_after_ghost_and_runs_the_migration_first(gce_repo, nodes):
    nodes.add("node-a")
    repo = gce_repo(template_apps())
    commit = git(repo.path, "rev-parse", "refs/heads/rendered")
    plan = repo.cli(
        "plan",
        "--repo",
        repo.path,
        "--kubeconfig",
        repo.kubeconfig,
        "--gce-endpoint",
        repo.endpoint,
    )
    assert plan.returncode == 0, plan.stderr
    print(plan.stdout)  # the closing note of issue #25 quotes it
    lines = plan.stdout.splitlines()
    first = next(line for line in lines if line.startswith("  phase 1:"))
    second = next(line for line in lines if line.startswith("  phase 2:"))
    assert "web/ghost" in first and "web/frontend" not in first
    assert second.startswith("  phase 2: wave 0: web/frontend")
    assert second.endswith("[web/frontend waits for web/ghost]")
    assert (
        f"hook pre-sync of web/ghost: ghost-migrate-{commit[:8]} "
        "(web/ghost/job-ghost-migrate.yaml): Planned" in lines
    )
