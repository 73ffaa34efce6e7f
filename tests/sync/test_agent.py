"""gitkube agent: a real git remote, two agents started together, one Lease."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.primitives.kubeapi import KubeApiError
from tests.sync.conftest import CONFIGMAP, git


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class AgentProcess:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitkube", "agent", *args],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )
        match = wait_for(
            lambda: re.search(rb"on ([\d.]+):(\d+)", log.read_bytes()),
            f"agent to listen ({log})",
            60,
        )
        self.url = f"http://{match.group(1).decode()}:{match.group(2).decode()}"

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return response.status, response.read().decode()

    def metric(self, name: str) -> float:
        _, text = self.get("/metrics")
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.handle.close()
        return code


def agent_args(repo, bare: Path, identity: str, interval: str = "1m") -> list[str]:
    """An agent that follows ``bare`` quickly, with a short lease and a free port."""
    return [
        *("--repo", f"file://{bare}", "--kubeconfig", str(repo.kubeconfig)),
        *("--poll", "0.5s", "--interval", interval),
        *("--lease", f"agent-{repo.cluster}", "--lease-duration", "6s"),
        *("--listen", "127.0.0.1:0", "--identity", identity),
    ]


def pushed_to_a_bare_remote(repo, tmp_path: Path) -> Path:
    """The config repo's rendered branch pushed to a bare remote the agents fetch."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo.path, "push", "-q", str(bare), "rendered")
    return bare


@pytest.fixture
def remote(sync_repo, tmp_path):
    """The config repo's rendered branch pushed to a bare remote the agents fetch."""
    repo = sync_repo({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1")})
    return repo, pushed_to_a_bare_remote(repo, tmp_path)


@pytest.fixture
def agents(remote, tmp_path, monkeypatch) -> Iterator[Callable[[str], AgentProcess]]:
    repo, bare = remote
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    started: list[AgentProcess] = []

    def start(identity: str, interval: str = "1m") -> AgentProcess:
        agent = AgentProcess(
            agent_args(repo, bare, identity, interval), tmp_path / f"{identity}.log"
        )
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def lease_holder(kube, repo) -> str | None:
    try:
        lease = kube.request(
            "GET",
            f"/apis/coordination.k8s.io/v1/namespaces/gitkube-system/leases/agent-{repo.cluster}",
        )
    except KubeApiError:
        return None
    return lease["spec"].get("holderIdentity")


def configmap_value(kube, repo) -> str | None:
    try:
        cm = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    except KubeApiError:
        return None
    return cm["data"]["key"]


def test_two_agents_one_leader_follows_the_remote_and_hands_over(remote, agents, kube):
    repo, bare = remote
    first, second = agents("agent-a"), agents("agent-b")
    wait_for(lambda: configmap_value(kube, repo) == "v1", "the first sync")
    leader_name = wait_for(lambda: lease_holder(kube, repo), "a lease holder")
    leader, standby = (first, second) if leader_name == "agent-a" else (second, first)
    assert leader.metric("gitkube_leader") == 1.0
    assert standby.metric("gitkube_leader") == 0.0
    assert standby.metric("gitkube_sync_objects_total") == 0.0  # the standby never wrote
    assert leader.get("/healthz") == (200, "ok\n")

    # A new rendered commit on the remote is applied by the leader.
    repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
    repo.commit_and_render("v2")
    git(repo.path, "push", "-q", str(bare), "rendered")
    wait_for(lambda: configmap_value(kube, repo) == "v2", "the leader to apply v2")
    # Metrics count once sync() returned (after the ApplySet status write).
    wait_for(
        lambda: leader.metric('gitkube_sync_objects_total{action="update"}') >= 1.0,
        "the leader to count its update",
    )

    # SIGTERM: the leader finishes, releases the lease, exits 0; the standby takes over.
    assert leader.stop() == 0
    wait_for(
        lambda: lease_holder(kube, repo) == ("agent-b" if leader is first else "agent-a"),
        "hand-over",
    )
    repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v3")})
    repo.commit_and_render("v3")
    git(repo.path, "push", "-q", str(bare), "rendered")
    wait_for(lambda: configmap_value(kube, repo) == "v3", "the new leader to apply v3")


def test_agent_heals_drift_every_interval_without_a_new_commit(remote, agents, kube):
    repo, _ = remote
    agent = agents("solo", interval="1s")
    wait_for(lambda: configmap_value(kube, repo) == "v1", "the first sync")
    kube.request("DELETE", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    wait_for(lambda: configmap_value(kube, repo) == "v1", "the deleted object to come back")
    # Counted once sync() returned (after the health check and the status write).
    wait_for(
        lambda: agent.metric('gitkube_sync_objects_total{action="create"}') >= 2.0,
        "the agent to count the re-creation",
    )
