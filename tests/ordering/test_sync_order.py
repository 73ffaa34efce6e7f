"""Ordered applies against the real API server; the tests play the Deployment controller.

The control plane runs no controllers, so a Deployment becomes healthy only
when a test writes its status, as the controller would. The order of writes
is read from resourceVersions (etcd's revision: later writes are higher).
"""

from __future__ import annotations

import json
import threading
import time

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from tests.health.conftest import GHOST_DEPLOYMENT
from tests.sync.conftest import CONFIGMAP

HEALTHY_STATUS = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}


class DeploymentController:
    """Writes a healthy status on a Deployment once it exists, and remembers the
    resourceVersion of that write."""

    def __init__(self, kube: KubeApi, path: str) -> None:
        self.kube = kube
        self.path = path
        self.status_version: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for _ in range(600):
            try:
                live = self.kube.request("GET", self.path)
            except KubeApiError:
                time.sleep(0.05)
                continue
            status = {"observedGeneration": live["metadata"]["generation"], **HEALTHY_STATUS}
            written = self.kube.request(
                "PUT", f"{self.path}/status", body={**live, "status": status}
            )
            self.status_version = int(written["metadata"]["resourceVersion"])
            return


def version(kube: KubeApi, path: str) -> int:
    return int(kube.request("GET", path)["metadata"]["resourceVersion"])


def exists(kube: KubeApi, path: str) -> bool:
    try:
        kube.request("GET", path)
    except KubeApiError:
        return False
    return True


def annotated_configmap(name: str, annotations: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, "
        f"annotations: {{{annotations}}}}}\ndata: {{k: v}}\n"
    )


def test_a_dependent_app_is_applied_after_its_dependency_is_healthy(sync_repo, kube):
    repo = sync_repo({"web/conf/cm.yaml": CONFIGMAP.format(name="conf", value="v1")})
    repo.write(
        {
            "web/ghost/deploy.yaml": GHOST_DEPLOYMENT,
            # "frontend" sorts before "ghost" and a ConfigMap before a Deployment:
            # without the dependency it would be written first.
            "web/frontend/app.yaml": "dependsOn: [web/ghost]\n",
            "web/frontend/cm.yaml": CONFIGMAP.format(name="frontend", value="v1"),
        }
    )
    repo.commit_and_render("add ghost and frontend")
    ghost = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/ghost"
    frontend = f"/api/v1/namespaces/{repo.namespace}/configmaps/frontend"
    controller = DeploymentController(kube, ghost)
    result = repo.sync_json("--timeout", "60s")
    controller.thread.join(timeout=30)
    assert controller.status_version is not None
    assert version(kube, frontend) > controller.status_version
    assert [p["apps"] for p in result["phases"]] == [["web/conf", "web/ghost"], ["web/frontend"]]
    assert result["phases"][1]["waitsFor"] == {"web/frontend": ["web/ghost"]}


def test_a_dependency_that_times_out_stops_its_dependents_and_prunes_nothing(sync_repo, kube):
    repo = sync_repo({"web/old/cm.yaml": CONFIGMAP.format(name="old", value="v1")})
    assert repo.sync().returncode == 0
    repo.remove("web/old")
    repo.write(
        {
            "web/ghost/deploy.yaml": GHOST_DEPLOYMENT,
            "web/frontend/app.yaml": "dependsOn: [web/ghost]\n",
            "web/frontend/cm.yaml": CONFIGMAP.format(name="frontend", value="v1"),
        }
    )
    repo.commit_and_render("ghost never becomes healthy")
    result = repo.cli(
        "sync",
        "--repo",
        repo.path,
        "--kubeconfig",
        repo.kubeconfig,
        "--wait",
        "--timeout",
        "3s",
        "--allow-mass-prune",
    )
    assert result.returncode != 0
    assert "timed out after 3s" in result.stderr
    assert "web/ghost: Deployment ghost: Progressing" in result.stderr
    assert "not applied: web/frontend" in result.stderr
    ns = repo.namespace
    assert not exists(kube, f"/api/v1/namespaces/{ns}/configmaps/frontend")
    assert exists(kube, f"/api/v1/namespaces/{ns}/configmaps/old")  # the prune never ran


def test_waves_order_objects_inside_an_app_across_the_kind_order(sync_repo, kube):
    repo = sync_repo({"web/conf/cm.yaml": CONFIGMAP.format(name="conf", value="v1")})
    repo.write(
        {
            # Kind order alone writes ConfigMaps before Deployments, and "a" before "b".
            "web/ghost/deploy.yaml": GHOST_DEPLOYMENT,
            "web/ghost/after.yaml": annotated_configmap("a-after", 'gitkube.dev/wave: "1"'),
            "web/ghost/before.yaml": annotated_configmap("b-before", 'gitkube.dev/wave: "-1"'),
        }
    )
    repo.commit_and_render("waves")
    ns = repo.namespace
    ghost = f"/apis/apps/v1/namespaces/{ns}/deployments/ghost"
    controller = DeploymentController(kube, ghost)
    plan = repo.plan_json()
    assert [p["wave"] for p in plan["phases"]] == [-1, 0, 1]
    result = repo.sync_json("--timeout", "60s")
    controller.thread.join(timeout=30)
    before = version(kube, f"/api/v1/namespaces/{ns}/configmaps/b-before")
    after = version(kube, f"/api/v1/namespaces/{ns}/configmaps/a-after")
    assert controller.status_version is not None
    assert before < controller.status_version < after
    assert result["created"] == 4  # and web/conf


def test_plan_text_lists_the_phases(sync_repo):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/frontend/app.yaml": "dependsOn: [web/ghost]\n",
            "web/frontend/cm.yaml": CONFIGMAP.format(name="frontend", value="v1"),
        }
    )
    text = repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig).stdout
    assert "phase 1: wave 0: web/ghost (1 change(s))" in text
    assert "phase 2: wave 0: web/frontend (1 change(s))  [web/frontend waits for web/ghost]" in text
    as_json = json.loads(
        repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "-o", "json").stdout
    )
    assert [p["apps"] for p in as_json["phases"]] == [["web/ghost"], ["web/frontend"]]


def test_a_plan_without_dependencies_or_waves_has_one_phase_and_no_order(sync_repo):
    repo = sync_repo({"web/conf/cm.yaml": CONFIGMAP.format(name="conf", value="v1")})
    plan = repo.plan_json()
    assert "phases" not in plan
