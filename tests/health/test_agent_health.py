"""The agent judges every app after each run: a metric per app and state, no extra request."""

from __future__ import annotations

from tests.sync.conftest import CONFIGMAP, git
from tests.sync.test_agent import AgentProcess, wait_for

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ghost}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - {name: ghost, image: "ghost:5.0"}
"""


def test_the_agent_reports_each_apps_health_as_a_metric(sync_repo, tmp_path, monkeypatch):
    repo = sync_repo(
        {
            "web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1"),
            "web/ghost/deploy.yaml": DEPLOYMENT,
        }
    )
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo.path, "push", "-q", str(bare), "rendered")
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    agent = AgentProcess(
        [
            "--repo",
            f"file://{bare}",
            "--kubeconfig",
            str(repo.kubeconfig),
            "--poll",
            "0.5s",
            "--interval",
            "1s",
            "--lease",
            f"agent-{repo.cluster}",
            "--lease-duration",
            "6s",
            "--listen",
            "127.0.0.1:0",
            "--identity",
            "health",
        ],
        tmp_path / "agent.log",
    )
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
