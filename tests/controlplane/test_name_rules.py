"""gitkube's name and label rules agree with a real API server (server-side dry-run creates)."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.domain.names import label_key_problem, label_value_problem, object_name_problem
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi

pytestmark = pytest.mark.controlplane

TEMPLATE = {
    "metadata": {"labels": {"a": "b"}},
    "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x:1"}]},
}
WORKLOAD_SPEC = {"selector": {"matchLabels": {"a": "b"}}, "template": TEMPLATE}
JOB_TEMPLATE = {"spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}

# kind -> (group, collection path, body without metadata)
KINDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "ConfigMap": ("", "/api/v1/namespaces/default/configmaps", {"apiVersion": "v1"}),
    "Service": (
        "",
        "/api/v1/namespaces/default/services",
        {"apiVersion": "v1", "spec": {"ports": [{"port": 80}]}},
    ),
    "Namespace": ("", "/api/v1/namespaces", {"apiVersion": "v1"}),
    "Deployment": (
        "apps",
        "/apis/apps/v1/namespaces/default/deployments",
        {"apiVersion": "apps/v1", "spec": WORKLOAD_SPEC},
    ),
    "StatefulSet": (
        "apps",
        "/apis/apps/v1/namespaces/default/statefulsets",
        {"apiVersion": "apps/v1", "spec": WORKLOAD_SPEC},
    ),
    "Job": (
        "batch",
        "/apis/batch/v1/namespaces/default/jobs",
        {"apiVersion": "batch/v1", "spec": {"template": JOB_TEMPLATE}},
    ),
    "CronJob": (
        "batch",
        "/apis/batch/v1/namespaces/default/cronjobs",
        {
            "apiVersion": "batch/v1",
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}},
        },
    ),
    "ClusterRole": (
        "rbac.authorization.k8s.io",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {"apiVersion": "rbac.authorization.k8s.io/v1"},
    ),
    "FlowSchema": (
        "flowcontrol.apiserver.k8s.io",
        "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "spec": {"priorityLevelConfiguration": {"name": "global-default"}},
        },
    ),
}

NAMES = [
    "web",
    "1abc",
    "a.b",
    "a-",
    "Upper",
    "system:metrics-server",
    "with space",
    "a" * 52,
    "a" * 53,
    "a" * 63,
    "a" * 64,
    "a" * 253,
    "a" * 254,
]


def _server_takes(api: KubeApi, path: str, body: dict[str, Any]) -> bool:
    try:
        api.request("POST", path, body=body, query={"dryRun": "All"})
    except GitkubeError as exc:
        message = str(exc)
        assert "is invalid" in message or "Invalid value" in message, message
        return False
    return True


@pytest.fixture(scope="module")
def api(controlplane) -> KubeApi:
    return KubeApi.connect(str(controlplane.kubeconfig))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_object_names_agree(api, kind):
    group, path, body = KINDS[kind]
    disagree = []
    for name in NAMES:
        ours = object_name_problem(group, kind, name, builtin=True) is None
        if len(name) > 253:
            # gitkube's own limit for every kind (it becomes a file name); the
            # server has none for path-segment kinds such as ClusterRole.
            assert not ours
            continue
        theirs = _server_takes(api, path, {**body, "kind": kind, "metadata": {"name": name}})
        if ours != theirs:
            disagree.append((name[:20], len(name), "gitkube", ours, "server", theirs))
    assert disagree == []


@pytest.mark.parametrize(
    "key,value",
    [
        ("tier", "web"),
        ("example.com/tier", "web"),
        ("Bad Key", "x"),
        ("a" * 64, "x"),
        (f"{'p' * 254}/k", "x"),
        ("/k", "x"),
        ("k", "a" * 63),
        ("k", "a" * 64),
        ("k", ""),
        ("k", "-x"),
        ("k", "x_y.z"),
    ],
)
def test_label_rules_agree(api, key, value):
    ours = label_key_problem(key) is None and label_value_problem(value) is None
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {key: value}},
    }
    assert ours == _server_takes(api, "/api/v1/namespaces/default/configmaps", body)
