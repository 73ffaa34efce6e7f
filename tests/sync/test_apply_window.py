"""Parallel applies against a real API server that answers 429, and the order they keep.

The kube-apiserver's priority and fairness (APF) refuses a request with 429
when the seats of its priority level are taken. The control plane here is
started with the smallest concurrency limits (``--max-requests-inflight=1
--max-mutating-requests-inflight=1``), and a PriorityLevelConfiguration that
rejects instead of queueing holds the requests of the user gitkube syncs as:
one seat, no borrowing, so whatever goes out side by side is refused. The
server's own metrics then say how many requests it rejected.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.primitives.kubeapi import KubeApi
from gitkube.testing.controlplane import ControlPlane, binaries_problem, default_bin_dir
from tests.conftest import write_tree
from tests.sync.conftest import SyncRepo, git

USER = "gitkube-throttled"
LEVEL = "gitkube-test-one-seat"


@pytest.fixture(scope="module")
def tight_controlplane() -> Iterator[ControlPlane]:
    problem = binaries_problem(default_bin_dir())
    if problem is not None:
        pytest.fail(f"the control-plane binaries are not usable: {problem}", pytrace=False)
    args = ["--max-requests-inflight=1", "--max-mutating-requests-inflight=1"]
    with ControlPlane(default_bin_dir(), apiserver_args=args) as cp:
        yield cp


@pytest.fixture(scope="module")
def throttled_kubeconfig(tight_controlplane: ControlPlane) -> Path:
    """A cluster-admin user outside ``system:masters`` (whose requests APF never
    limits), whose requests go to a priority level of one seat that rejects."""
    cp = tight_controlplane
    admin = KubeApi(cp.api_client())
    admin.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    )
    flowcontrol = "/apis/flowcontrol.apiserver.k8s.io/v1"
    admin.request(
        "POST",
        f"{flowcontrol}/prioritylevelconfigurations",
        body={
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": LEVEL},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 1,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
    )
    schema = admin.request(
        "POST",
        f"{flowcontrol}/flowschemas",
        body={
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": LEVEL},
            "spec": {
                "priorityLevelConfiguration": {"name": LEVEL},
                "matchingPrecedence": 100,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [{"kind": "User", "user": {"name": USER}}],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "clusterScope": True,
                                "namespaces": ["*"],
                            }
                        ],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        },
    )
    kubeconfig = cp.user_kubeconfig(USER)
    _wait_until_classified(cp, kubeconfig, schema["metadata"]["uid"])
    return kubeconfig


def _wait_until_classified(cp: ControlPlane, kubeconfig: Path, schema_uid: str) -> None:
    """APF takes up new configuration asynchronously: wait until the user's
    requests are classified into the FlowSchema (the server says which, in a header)."""
    from kubernetes import client

    core = client.CoreV1Api(cp.api_client(kubeconfig))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            response = core.list_namespace_with_http_info(_preload_content=False)
            if response.headers.get("X-Kubernetes-PF-FlowSchema-UID") == schema_uid:
                return
        except client.ApiException as exc:
            if exc.status != 429:
                raise
        time.sleep(0.2)
    pytest.fail("the API server did not take up the test's FlowSchema within 60 s")


def rejected(cp: ControlPlane) -> float:
    """How many requests APF rejected at the test's priority level, from the server's metrics."""
    text = _metrics(cp)
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_flowcontrol_rejected_requests_total{") and (
            f'priority_level="{LEVEL}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _metrics(cp: ControlPlane) -> str:
    client = cp.api_client()
    response = client.call_api(
        *client.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])[:3]
    )
    data: bytes = response.read()
    return data.decode()


def make_repo(
    root: Path, cp: ControlPlane, kubeconfig: Path, files: dict[str, str], cli
) -> SyncRepo:  # type: ignore[no-untyped-def]
    namespace = cp.create_namespace(prefix="window")
    cluster = f"t{uuid.uuid4().hex[:10]}"
    path = root / "config"
    write_tree(
        path,
        {
            "gitkube.yaml": f"cluster: {{name: {cluster}, project: p, region: us-central1, "
            f"zone: us-central1-b}}\nnamespace: {namespace}\n",
            **files,
        },
    )
    git(path.parent, "init", "-q", "-b", "main", str(path))
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    repo = SyncRepo(path, namespace, cluster, kubeconfig, cli)
    repo.commit_and_render("initial")
    return repo


def configmap(name: str, annotations: str = "") -> str:
    meta = (
        f"{{name: {name}, annotations: {{{annotations}}}}}" if annotations else f"{{name: {name}}}"
    )
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {meta}\ndata: {{k: v}}\n"


def role(name: str) -> str:
    return (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
        f"metadata: {{name: {name}}}\nrules: [{{apiGroups: [''], resources: [pods], verbs: [get]}}]\n"
    )


def service_account(name: str) -> str:
    return f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n"


def test_parallel_applies_back_off_on_429_and_keep_every_order(
    tmp_path, tight_controlplane, throttled_kubeconfig, cli
):
    """Kind order, waves and dependsOn phases hold while each kind goes out side
    by side, and the API server's 429s are waited out, not failures."""
    n = 40
    files: dict[str, str] = {}
    for i in range(n):
        files[f"apps/base/cm-{i}.yaml"] = configmap(f"base-cm-{i}")
        files[f"apps/base/role-{i}.yaml"] = role(f"base-role-{i}")
        files[f"apps/base/sa-{i}.yaml"] = service_account(f"base-sa-{i}")
        files[f"apps/base/late-{i}.yaml"] = configmap(f"late-{i}", '"gitkube.dev/wave": "1"')
        # "after" sorts before "base"; without its dependency it would go first.
        files[f"apps/after/cm-{i}.yaml"] = configmap(f"after-cm-{i}")
    files["apps/after/app.yaml"] = "dependsOn: [apps/base]\n"
    cp = tight_controlplane
    repo = make_repo(tmp_path, cp, throttled_kubeconfig, files, cli)
    before = rejected(cp)

    result = repo.sync_json()

    assert result["created"] == 5 * n, result.get("error")
    assert rejected(cp) > before, "the API server rejected nothing: the test proves no backing off"
    admin = KubeApi(cp.api_client())
    ns = f"/api/v1/namespaces/{repo.namespace}"

    def versions(collection: str, prefix: str) -> list[int]:
        items = admin.request("GET", collection)["items"]
        found = [
            int(i["metadata"]["resourceVersion"])
            for i in items
            if i["metadata"]["name"].startswith(prefix)
        ]
        assert len(found) == n, (collection, prefix, len(found))
        return found

    # etcd's revision orders writes: every object of a step was written before any of the next.
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{repo.namespace}"
    service_accounts = versions(f"{ns}/serviceaccounts", "base-sa-")
    roles = versions(f"{rbac}/roles", "base-role-")
    configmaps = versions(f"{ns}/configmaps", "base-cm-")
    late = versions(f"{ns}/configmaps", "late-")
    after = versions(f"{ns}/configmaps", "after-cm-")
    assert max(service_accounts) < min(roles)  # kind order: ServiceAccount, Role, ConfigMap
    assert max(roles) < min(configmaps)
    assert max(configmaps) < min(late)  # wave 0 of app base before its wave 1
    assert max(late) < min(after)  # app after depends on app base
