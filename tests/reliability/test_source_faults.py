"""Fault 7: the git remote unreachable or force-pushed, a half-written rendered branch.
The agent keeps the last good revision applied and reports the fetch error on /metrics;
it never applies a rewind on its own; a commit whose files and inventory disagree is
refused whole."""

from __future__ import annotations

from tests.reliability.conftest import configmaps
from tests.sync.conftest import CONFIGMAP, git
from tests.sync.test_agent import AgentProcess, agent_args, pushed_to_a_bare_remote, wait_for


def value(kube, repo, name: str = "web-conf") -> str | None:
    items = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps")["items"]
    found = {i["metadata"]["name"]: (i.get("data") or {}).get("key") for i in items}
    return found.get(name)


def test_an_unreachable_remote_keeps_the_last_good_revision_and_is_reported(
    sync_repo, kube, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    repo = sync_repo({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1")})
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    agent = AgentProcess(agent_args(repo, bare, "solo", interval="1s"), tmp_path / "agent.log")
    try:
        wait_for(lambda: value(kube, repo) == "v1", "the first sync")
        gone = bare.with_name("moved-away.git")
        bare.rename(gone)  # the remote goes away
        wait_for(lambda: agent.metric("gitkube_source_fetch_errors_total") >= 2, "fetch errors")
        assert agent.metric('gitkube_agent_fault{kind="source"}') == 1.0
        status, body = agent.get("/healthz")
        assert status == 200 and "source: cannot read the rendered branch" in body, body
        assert value(kube, repo) == "v1"  # the last good revision stays applied
        assert agent.proc.poll() is None

        gone.rename(bare)  # it comes back with a new commit
        repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
        repo.commit_and_render("v2")
        git(repo.path, "push", "-q", str(bare), "rendered")
        wait_for(lambda: value(kube, repo) == "v2", "the agent to apply v2")
        wait_for(lambda: agent.metric('gitkube_agent_fault{kind="source"}') == 0.0, "recovery")
    finally:
        assert agent.stop() == 0


def test_a_force_pushed_rewind_is_refused_and_the_cluster_keeps_the_newer_commit(
    sync_repo, kube, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    repo = sync_repo({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1")})
    first = git(repo.path, "rev-parse", "rendered")
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
    repo.commit_and_render("v2")
    git(repo.path, "push", "-q", str(bare), "rendered")
    agent = AgentProcess(agent_args(repo, bare, "solo"), tmp_path / "agent.log")
    try:
        wait_for(lambda: value(kube, repo) == "v2", "v2 applied")
        git(repo.path, "push", "-q", "--force", str(bare), f"{first}:refs/heads/rendered")
        wait_for(
            lambda: agent.metric('gitkube_sync_refusals_total{check="rewind"}') >= 1,
            "the rewind to be refused",
        )
        assert value(kube, repo) == "v2"
    finally:
        assert agent.stop() == 0


def test_a_half_written_rendered_branch_is_refused_whole(sync_repo, kube, tmp_path):
    repo = sync_repo(configmaps(3))
    repo.sync_json()
    repo.write(configmaps(3, value="v2"))
    repo.commit_and_render("v2")
    # A rendered commit that lost one of its files on the way (a push cut short, a hand edit).
    work = tmp_path / "rendered-work"
    git(repo.path, "worktree", "add", "-q", str(work), "rendered")
    victim = next(
        p
        for p in work.rglob("*.yaml")
        if p.name != "gitkube-inventory.yaml" and "name: cm001" in p.read_text()
    )
    git(work, "rm", "-q", str(victim.relative_to(work)))
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "half")
    result = repo.sync()
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "refusing the whole commit" in line and "in the inventory but missing" in line, line
    assert [value(kube, repo, f"cm{n:03d}") for n in range(3)] == ["v1", "v1", "v1"]
