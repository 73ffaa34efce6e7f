"""Faults 1 and 2: a sync SIGKILLed midway, and the API server killed and restarted mid-sync.
Nothing applied is lost, nothing is pruned on a partial view, the rerun converges with 0
deletions and the run after writes nothing."""

from __future__ import annotations

import json
import signal
import uuid

from gitkube.primitives.kubeapi import KubeApi
from gitkube.testing.controlplane import ControlPlane
from gitkube.testing.faultproxy import FaultProxy
from tests.conftest import write_tree
from tests.reliability.conftest import (
    configmaps,
    gitkube_process,
    kill_after_writes,
    sync_json,
)
from tests.sync.conftest import SyncRepo, git

APPS = 150


def owned_configmaps(kube: KubeApi, namespace: str) -> dict[str, str]:
    items = kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")["items"]
    return {
        i["metadata"]["name"]: i["data"]["key"] for i in items if "key" in (i.get("data") or {})
    }


def test_a_sync_killed_midway_loses_nothing_and_the_rerun_deletes_nothing(
    sync_repo, proxy, tmp_path, kube, fast_retries
):
    repo = sync_repo(configmaps(APPS))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    victim = kill_after_writes(proxy, 60)
    process = gitkube_process("sync", "--repo", repo.path, "--kubeconfig", kubeconfig)
    victim.append(process)
    process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL
    applied = owned_configmaps(kube, repo.namespace)
    assert 0 < len(applied) < APPS

    proxy.on_forwarded = None
    rerun = sync_json(repo, kubeconfig)
    assert rerun["deleted"] == 0 and rerun["error"] is None
    assert rerun["created"] == APPS - len(applied)
    after = owned_configmaps(kube, repo.namespace)
    assert len(after) == APPS and all(after[name] == "v1" for name in applied)

    writes = len(proxy.writes)
    third = sync_json(repo, kubeconfig)
    assert third["changes"] == []
    assert len(proxy.writes) == writes  # zero writes after convergence


def _private_repo(cli, tmp_path, namespace: str, files: dict[str, str], kubeconfig) -> SyncRepo:
    cluster = f"t{uuid.uuid4().hex[:10]}"
    path = tmp_path / "config"
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


def test_the_api_server_killed_mid_sync_prunes_nothing_and_the_next_run_converges(
    cli, tmp_path, fast_retries
):
    # Its own control plane: this test kills its API server.
    with ControlPlane() as cp, FaultProxy.for_kubeconfig(cp.kubeconfig) as proxy:
        kube = KubeApi(cp.api_client())
        namespace = cp.create_namespace(prefix="restart")
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
        repo = _private_repo(cli, tmp_path, namespace, configmaps(30), kubeconfig)
        assert sync_json(repo, kubeconfig)["created"] == 30
        repo.write({k: v for k, v in configmaps(30, value="v2").items() if "/a00" not in k})
        for n in range(10):  # ten apps leave: planned deletions
            repo.remove(f"apps/a{n:03d}")
        repo.commit_and_render("drop ten, change twenty")

        def crash(entry) -> None:
            if entry.method == "PATCH" and "dryRun" not in entry.path and 200 <= entry.status < 300:
                crash.writes += 1  # type: ignore[attr-defined]
                if crash.writes == 5:  # type: ignore[attr-defined]
                    cp.kill_apiserver()

        crash.writes = 0  # type: ignore[attr-defined]
        proxy.on_forwarded = crash
        failed = repo.cli(
            "sync", "--repo", repo.path, "--kubeconfig", kubeconfig, "--allow-mass-prune"
        )
        assert failed.returncode == 1
        (line,) = failed.stderr.strip().splitlines()
        assert f"cannot reach the API server at {proxy.url}" in line, line
        assert "writes made, nothing pruned" in line, line
        assert proxy.requests("DELETE") == []

        proxy.on_forwarded = None
        proxy.retarget(cp.start_apiserver())
        kube = KubeApi(cp.api_client())
        live = owned_configmaps(kube, namespace)
        assert len(live) == 30  # nothing pruned on the partial run
        again = sync_json(repo, kubeconfig, "--allow-mass-prune")
        assert again["error"] is None and again["deleted"] == 10
        assert set(owned_configmaps(kube, namespace).values()) == {"v2"}
        writes = len(proxy.writes)
        assert sync_json(repo, kubeconfig)["changes"] == []
        assert len(proxy.writes) == writes
        kube.api_client.close()


def test_a_killed_sync_then_rerun_reports_json(sync_repo, proxy, tmp_path, kube, fast_retries):
    """The rerun after a kill reads the same rendered commit and says what it finished."""
    repo = sync_repo(configmaps(20))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    victim = kill_after_writes(proxy, 5)
    process = gitkube_process("sync", "--repo", repo.path, "--kubeconfig", kubeconfig, "-o", "json")
    victim.append(process)
    process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL
    proxy.on_forwarded = None
    result = json.loads(
        repo.cli("sync", "--repo", repo.path, "--kubeconfig", kubeconfig, "-o", "json").stdout
    )
    assert result["deleted"] == 0 and result["created"] + result["updated"] >= 1
