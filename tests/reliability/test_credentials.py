"""Fault 4: expired or wrong credentials. One clear line, nothing changed; the agent keeps
running, reports it on /metrics and /healthz, and recovers when a rotated token arrives."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import yaml

from gitkube.primitives.kubeapi import KubeApiError
from tests.reliability.conftest import configmaps
from tests.sync.test_agent import AgentProcess, pushed_to_a_bare_remote, wait_for


def token_kubeconfig(
    controlplane, path: Path, *, token: str | None = None, token_file: Path | None = None
) -> Path:
    """A kubeconfig for the real API server that authenticates with a bearer token."""
    user = {"token": token} if token is not None else {"tokenFile": str(token_file)}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cp",
                "cluster": {
                    "server": controlplane.server,
                    "certificate-authority-data": base64.b64encode(controlplane.ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "robot", "user": user}],
        "contexts": [{"name": "robot@cp", "context": {"cluster": "cp", "user": "robot"}}],
        "current-context": "robot@cp",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def service_account_token(kube, namespace: str) -> str:
    """A real bound token (TokenRequest API) of a ServiceAccount that may do anything."""
    name = f"robot-{uuid.uuid4().hex[:6]}"
    kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    kube.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{name}-{namespace}"[:63]},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    answer = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return str(answer["status"]["token"])


def configmap(kube, namespace: str, name: str) -> dict | None:
    try:
        return kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    except KubeApiError:
        return None


def test_a_bad_token_is_one_clear_line_and_changes_nothing(
    sync_repo, controlplane, cli, tmp_path, kube
):
    repo = sync_repo(configmaps(2))
    kubeconfig = token_kubeconfig(controlplane, tmp_path / "expired.kubeconfig", token="expired")
    result = cli.subprocess("sync", "--repo", repo.path, "--kubeconfig", kubeconfig)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: unauthorized:"), line
    assert f"kubeconfig {kubeconfig}, context robot@cp" in line, line
    assert configmap(kube, repo.namespace, "cm000") is None


def test_forbidden_names_the_credentials_and_changes_nothing(sync_repo, controlplane, cli, kube):
    repo = sync_repo(configmaps(2))
    nobody = controlplane.user_kubeconfig("nobody")
    result = cli.subprocess("sync", "--repo", repo.path, "--kubeconfig", nobody)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "forbidden" in line and f"kubeconfig {nobody}" in line, line
    assert configmap(kube, repo.namespace, "cm000") is None


def test_the_agent_reports_refused_credentials_and_recovers_on_a_rotated_token(
    sync_repo, controlplane, tmp_path, kube, monkeypatch
):
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    repo = sync_repo(configmaps(1))
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text("expired-token")
    kubeconfig = token_kubeconfig(
        controlplane, tmp_path / "agent.kubeconfig", token_file=token_file
    )
    agent = AgentProcess(
        [
            *("--repo", f"file://{bare}", "--kubeconfig", str(kubeconfig)),
            *("--poll", "0.3s", "--interval", "1m", "--lease", f"agent-{repo.cluster}"),
            *("--lease-duration", "6s", "--listen", "127.0.0.1:0", "--identity", "rotating"),
        ],
        tmp_path / "agent.log",
    )
    try:
        wait_for(
            lambda: agent.metric('gitkube_agent_fault{kind="unauthorized"}') == 1.0,
            "the agent to report the refused token",
        )
        status, body = agent.get("/healthz")
        assert status == 200  # alive: a restart would not fix a token
        assert "unauthorized: " in body and f"kubeconfig {kubeconfig}" in body, body
        assert agent.metric('gitkube_api_errors_total{kind="unauthorized"}') >= 1
        assert agent.proc.poll() is None
        assert configmap(kube, repo.namespace, "cm000") is None

        # The token is rotated in place (as a projected token file is): re-read, no restart.
        token_file.write_text(service_account_token(kube, repo.namespace))
        wait_for(lambda: configmap(kube, repo.namespace, "cm000"), "the rotated token to be used")
        wait_for(
            lambda: agent.metric('gitkube_agent_fault{kind="unauthorized"}') == 0.0,
            "the fault to clear",
        )
        assert "unauthorized" not in agent.get("/healthz")[1]
    finally:
        assert agent.stop() == 0
