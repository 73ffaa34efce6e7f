"""Health read from live objects of the real API server, status written as a controller would.

The test control plane runs no controllers, so each test writes the status
subresource itself (what the Deployment, Job or PV controllers would write)
and asks the plugins' ``gitkube_health`` what they make of the object.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.domain.health import Health, HealthState, worst
from gitkube.domain.plugin_manager import PluginHooks, build_plugin_manager
from gitkube.plugin_api import hookimpl
from gitkube.primitives.kubeapi import KubeApi
from gitkube.testing.controllers import job_failed_status


@pytest.fixture
def hooks() -> PluginHooks:
    return build_plugin_manager(())


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "ghost:5.0-typo"}]},
            },
        },
    }


def create(kube: KubeApi, collection: str, body: dict[str, Any]) -> dict[str, Any]:
    return kube.request("POST", collection, body=body)


def write_status(kube: KubeApi, path: str, live: dict[str, Any], status: dict[str, Any]) -> dict:
    return kube.request("PUT", f"{path}/status", body={**live, "status": status})


def test_a_rollout_is_progressing_then_healthy(kube, kube_namespace, hooks):
    apps = f"/apis/apps/v1/namespaces/{kube_namespace}/deployments"
    body = deployment("web")
    live = create(kube, apps, body)
    assert hooks.health(body, live).state is HealthState.PROGRESSING  # not observed yet
    live = write_status(
        kube,
        f"{apps}/web",
        live,
        {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
    )
    health = hooks.health(body, live)
    assert (health.state, health.message) == (HealthState.PROGRESSING, "1 of 2 replicas updated")
    live = write_status(
        kube,
        f"{apps}/web",
        live,
        {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
        },
    )
    assert hooks.health(body, live).state is HealthState.HEALTHY


def test_a_rollout_past_its_deadline_is_degraded_with_the_reason(kube, kube_namespace, hooks):
    apps = f"/apis/apps/v1/namespaces/{kube_namespace}/deployments"
    body = deployment("ghost")
    live = create(kube, apps, body)
    live = write_status(
        kube,
        f"{apps}/ghost",
        live,
        {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "ghost-5d4" has timed out progressing.',
                }
            ],
        },
    )
    health = hooks.health(body, live)
    assert health.state is HealthState.DEGRADED
    assert health.reason == "ProgressDeadlineExceeded" and "timed out" in health.message


def test_a_failed_job_is_degraded_and_a_complete_one_healthy(kube, kube_namespace, hooks):
    jobs = f"/apis/batch/v1/namespaces/{kube_namespace}/jobs"
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox:1.36"}],
                }
            }
        },
    }
    live = create(kube, jobs, body)
    assert hooks.health(body, live).state is HealthState.PROGRESSING
    now = "2026-12-07T00:00:00Z"
    failed = write_status(
        kube,
        f"{jobs}/migrate",
        live,
        job_failed_status(now),
    )
    health = hooks.health(body, failed)
    assert (health.state, health.reason) == (HealthState.DEGRADED, "BackoffLimitExceeded")


def test_a_pending_claim_is_progressing(kube, kube_namespace, hooks):
    claims = f"/api/v1/namespaces/{kube_namespace}/persistentvolumeclaims"
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    live = create(kube, claims, body)
    live = write_status(kube, f"{claims}/data", live, {"phase": "Pending"})
    assert hooks.health(body, live) == Health(
        HealthState.PROGRESSING, "Pending", "the claim is not bound yet"
    )


def test_a_crd_is_healthy_once_established(kube, hooks):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.health.example.com"},
        "spec": {
            "group": "health.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    try:
        kube.request("POST", path, body=crd)
        for _ in range(100):  # the API server establishes CRDs itself
            live = kube.request("GET", f"{path}/widgets.health.example.com")
            if hooks.health(crd, live).state is HealthState.HEALTHY:
                break
        assert hooks.health(crd, live).state is HealthState.HEALTHY
    finally:
        kube.request("DELETE", f"{path}/widgets.health.example.com")


def test_a_missing_object_is_missing_and_an_app_is_its_worst_object(hooks):
    body = deployment("gone")
    assert hooks.health(body, None).state is HealthState.MISSING
    states = [
        Health(HealthState.HEALTHY),
        Health(HealthState.MISSING),
        Health(HealthState.PROGRESSING),
    ]
    assert worst(states).state is HealthState.MISSING
    assert worst([*states, Health(HealthState.DEGRADED, "X")]).reason == "X"
    assert worst([]).state is HealthState.HEALTHY


class WidgetHealth:
    """A third-party plugin that judges its own kind."""

    @hookimpl
    def gitkube_health(self, obj: Any, live: Any) -> Health | None:
        if obj.get("kind") != "Widget":
            return None
        spins = (live or {}).get("status", {}).get("spins", 0)
        return Health(HealthState.HEALTHY if spins else HealthState.PROGRESSING, "Spinning")


def test_a_plugin_judges_its_own_kinds_first(gitkube_plugin):
    gitkube_plugin(WidgetHealth(), "widget-health")
    hooks = gitkube_plugin.hooks(())
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    ready = {**widget, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert hooks.health(widget, ready).state is HealthState.PROGRESSING  # the plugin's answer
    assert hooks.health(deployment("d"), None).state is HealthState.MISSING  # the built-in's
