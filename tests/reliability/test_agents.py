"""Faults 1 and 6 for the agent: the leader SIGKILLed mid-cycle while a second agent
waits. The Lease hands over within its duration, the new leader finishes the work with
nothing deleted, and the two never write in the same second (an audit of every write,
each agent through its own proxy)."""

from __future__ import annotations

import os
import signal

from gitkube.primitives.kubeapi import KubeApiError
from gitkube.testing.faultproxy import FaultProxy
from tests.reliability.conftest import configmaps
from tests.sync.test_agent import AgentProcess, pushed_to_a_bare_remote, wait_for

APPS = 60
LEASE_SECONDS = 6


def args(bare, kubeconfig, lease: str, identity: str) -> list[str]:
    return [
        *("--repo", f"file://{bare}", "--kubeconfig", str(kubeconfig)),
        *("--poll", "0.3s", "--interval", "1s", "--lease", lease),
        *("--lease-duration", f"{LEASE_SECONDS}s", "--listen", "127.0.0.1:0"),
        *("--identity", identity),
    ]


def object_writes(proxy: FaultProxy) -> list:
    """Writes to the cluster's objects (Lease renewals, the agents' heartbeat, aside)."""
    return [w for w in proxy.writes if "/leases/" not in w.path and "dryRun" not in w.path]


def count(kube, namespace: str) -> int:
    try:
        items = kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")["items"]
    except KubeApiError:
        return 0
    return len([i for i in items if i["metadata"]["name"].startswith("cm")])


def test_the_leader_killed_mid_cycle_hands_over_and_never_two_write_at_once(
    sync_repo, controlplane, kube, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    repo = sync_repo(configmaps(APPS))
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    lease = f"agent-{repo.cluster}"
    with (
        FaultProxy.for_kubeconfig(controlplane.kubeconfig) as proxy_a,
        FaultProxy.for_kubeconfig(controlplane.kubeconfig) as proxy_b,
    ):
        first = AgentProcess(
            args(bare, proxy_a.write_kubeconfig(tmp_path / "a.kubeconfig"), lease, "agent-a"),
            tmp_path / "a.log",
        )
        applies = [0]

        def kill_midway(entry) -> None:
            if (
                entry.method == "PATCH"
                and "dryRun" not in entry.path
                and "/configmaps/cm" in entry.path
            ):
                applies[0] += 1
                if applies[0] == 20:
                    os.kill(first.proc.pid, signal.SIGKILL)

        proxy_a.on_forwarded = kill_midway
        second = AgentProcess(
            args(bare, proxy_b.write_kubeconfig(tmp_path / "b.kubeconfig"), lease, "agent-b"),
            tmp_path / "b.log",
        )
        try:
            wait_for(lambda: first.proc.poll() is not None, "the leader to be killed mid-cycle")
            done_by_a = count(kube, repo.namespace)
            assert 20 <= done_by_a < APPS
            wait_for(lambda: count(kube, repo.namespace) == APPS, "agent-b to finish", 120)
            wait_for(lambda: second.metric("gitkube_last_success_timestamp_seconds") > 0, "b's run")

            a_writes, b_writes = object_writes(proxy_a), object_writes(proxy_b)
            assert a_writes and b_writes
            assert not [w for w in a_writes + b_writes if w.method == "DELETE"]
            # Never two writers in the same second: b's first write comes after the lease
            # a last renewed has expired, seconds after a's last write.
            assert min(w.at for w in b_writes) - max(w.at for w in a_writes) >= 1.0

            # Converged: three more full cycles write nothing.
            before = len(object_writes(proxy_b))
            cycles = second.metric("gitkube_sync_duration_seconds_count")
            wait_for(
                lambda: second.metric("gitkube_sync_duration_seconds_count") >= cycles + 3,
                "three more cycles",
            )
            assert len(object_writes(proxy_b)) == before
        finally:
            first.stop()
            assert second.stop() == 0
