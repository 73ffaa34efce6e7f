"""The controllers' stand-in (gitkube.testing.controllers) that scripts/demo runs:
against the real API server, it makes workloads, Jobs and claims what gitkube's
health rules call Healthy, and a second round writes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gitkube_plugins.health import gitkube_health

from gitkube.testing.controllers import finish_everything
from tests.health.conftest import kube

__all__ = ["kube"]

ROOT = Path(__file__).resolve().parents[2]
POD = {"containers": [{"name": "c", "image": "nginx:1.27"}], "restartPolicy": "Always"}


def objects(namespace: str) -> list[tuple[str, dict]]:
    labels = {"app": "stand-in"}
    workload = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}
    return [
        (
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 3,
                    **workload,
                    "template": {**workload["template"], "spec": POD},
                },
            },
        ),
        (
            f"/apis/apps/v1/namespaces/{namespace}/statefulsets",
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "replicas": 2,
                    "serviceName": "db",
                    **workload,
                    "template": {**workload["template"], "spec": POD},
                },
            },
        ),
        (
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "migrate"},
                "spec": {"template": {"spec": {**POD, "restartPolicy": "Never"}}},
            },
        ),
        (
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ),
    ]


def healths(kube, namespace: str) -> dict[str, str]:
    judged = {}
    for collection, obj in objects(namespace):
        live = kube.request("GET", f"{collection}/{obj['metadata']['name']}")
        health = gitkube_health(obj, live)
        assert health is not None
        judged[obj["kind"]] = health.state.value
    return judged


@pytest.mark.controlplane
def test_the_stand_in_finishes_workloads_jobs_and_claims_once(kube, kube_namespace):
    for collection, obj in objects(kube_namespace):
        kube.request("POST", collection, body=obj)
    assert set(healths(kube, kube_namespace).values()) == {"Progressing"}

    assert finish_everything(kube, kube_namespace) == 4
    assert healths(kube, kube_namespace) == {
        "Deployment": "Healthy",
        "StatefulSet": "Healthy",
        "Job": "Healthy",
        "PersistentVolumeClaim": "Healthy",
    }
    assert finish_everything(kube, kube_namespace) == 0


@pytest.mark.controlplane
@pytest.mark.slow
def test_the_readme_demo_syncs_the_template_and_then_has_nothing_to_do():
    # The README's first command on this machine: render, plan, sync (ordered
    # phases and the pre-sync migration Job included), status, sync again.
    proc = subprocess.run(
        ["scripts/demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first, second = proc.stdout.split("== gitkube sync again: nothing to do")
    assert "hook pre-sync of web/ghost" in first and "Succeeded" in first
    assert re.search(r"applied \w+: [1-9]\d* created, 0 updated, 0 deleted", first)
    assert "0 created, 0 updated, 0 deleted" in second
