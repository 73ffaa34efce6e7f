"""The agent judges every app after each run: a metric per app and state, no extra request."""

from __future__ import annotations

from tests.health.conftest import GHOST_DEPLOYMENT
from tests.sync.conftest import CONFIGMAP
from tests.sync.test_agent import AgentProcess, agent_args, pushed_to_a_bare_remote, wait_for


def test_the_agent_reports_each_apps_health_as_a_metric(sync_repo, tmp_path, monkeypatch):
    repo = sync_repo(
        {
            "web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1"),
            "web/ghost/deploy.yaml": GHOST_DEPLOYMENT,
        }
    )
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    agent = AgentProcess(agent_args(repo, bare, "health", "1s"), tmp_path / "agent.log")
    try:
        wait_for(
            lambda: agent.metric('gitkube_app_health{app="web/conf",state="Healthy"}') == 1.0,
            "the healthy app's metric",
        )
        # No controller runs in the test control plane: the rollout never progresses.
        assert agent.metric('gitkube_app_health{app="web/ghost",state="Progressing"}') == 1.0
        assert agent.metric('gitkube_app_health{app="web/ghost",state="Healthy"}') == 0.0
    finally:
        assert agent.stop() == 0
