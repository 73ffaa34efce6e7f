"""gitkube sync --wait against the real API server (status written as controllers would)."""

from __future__ import annotations

import json
import threading
import time

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from tests.health.conftest import GHOST_DEPLOYMENT
from tests.sync.conftest import CONFIGMAP, record_requests


def write_status_when_created(kube: KubeApi, path: str, status: dict) -> threading.Thread:
    """A stand-in for the Deployment controller: report ``status`` once the object exists."""

    def run() -> None:
        for _ in range(300):
            try:
                live = kube.request("GET", path)
            except KubeApiError:
                time.sleep(0.1)
                continue
            status_with_generation = {
                "observedGeneration": live["metadata"]["generation"],
                **status,
            }
            kube.request("PUT", f"{path}/status", body={**live, "status": status_with_generation})
            return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_reports_a_degraded_rollout_with_exit_3(sync_repo, kube):
    repo = sync_repo({"web/ghost/deploy.yaml": GHOST_DEPLOYMENT})
    path = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/ghost"
    controller = write_status_when_created(
        kube,
        path,
        {
            "replicas": 1,
            "updatedReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "ImagePullBackOff on ghost:5.0-typo",
                }
            ],
        },
    )
    result = repo.sync("--wait", "--timeout", "60s")
    controller.join(timeout=30)
    assert result.returncode == 3, result.stderr
    health = json.loads(result.stdout)["health"]
    assert health["healthy"] is False and health["timedOut"] is False
    (app,) = health["apps"]
    assert app["app"] == "web/ghost" and app["state"] == "Degraded"
    assert app["object"] == "Deployment ghost"
    assert app["reason"] == "ProgressDeadlineExceeded"
    assert "ImagePullBackOff on ghost:5.0-typo" in app["message"]


def test_wait_ends_healthy_when_the_rollout_completes(sync_repo, kube):
    repo = sync_repo({"web/ghost/deploy.yaml": GHOST_DEPLOYMENT})
    path = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/ghost"
    write_status_when_created(
        kube,
        path,
        {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    )
    result = repo.sync("--wait", "--timeout", "60s")
    assert result.returncode == 0, result.stderr
    health = json.loads(result.stdout)["health"]
    assert health["healthy"] is True
    assert [a["state"] for a in health["apps"]] == ["Healthy"]


def test_wait_times_out_naming_what_it_waited_for(sync_repo):
    repo = sync_repo({"web/ghost/deploy.yaml": GHOST_DEPLOYMENT})
    result = repo.cli(
        "sync", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "--wait", "--timeout", "3s"
    )
    assert result.returncode == 3
    assert "web/ghost: Deployment ghost: Progressing" in result.stderr
    assert "not healthy after 3s" in result.stderr


def test_wait_on_a_noop_sync_makes_no_request(sync_repo, monkeypatch):
    repo = sync_repo({"web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1")})
    first = repo.sync_json("--wait")
    assert first["health"]["healthy"] is True  # a ConfigMap exists: healthy
    calls = record_requests(monkeypatch)
    repo.sync_json()
    without_wait = len(calls)
    calls.clear()
    second = repo.sync_json("--wait")
    assert second["health"] == {"healthy": True, "timedOut": False, "seconds": 0.0, "apps": []}
    assert len(calls) == without_wait


def test_status_shows_the_health_the_last_run_recorded(sync_repo, kube):
    repo = sync_repo({"web/ghost/deploy.yaml": GHOST_DEPLOYMENT})
    assert repo.sync("--wait", "--timeout", "2s").returncode == 3
    as_json = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine,) = [s for s in json.loads(as_json.stdout) if s["name"].endswith(repo.cluster)]
    assert mine["health"] == {
        "healthy": 0,
        "problems": {
            "web/ghost": "Progressing: Deployment ghost: Pending: "
            "waiting for the controller to see the change"
        },
    }
    text = repo.cli("status", "--kubeconfig", repo.kubeconfig).stdout
    assert "health: 0 apps healthy, 1 not" in text
    assert "web/ghost: Progressing: Deployment ghost" in text
