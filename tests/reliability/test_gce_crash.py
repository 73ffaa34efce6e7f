"""Fault 5: a crash between a Compute Engine insert and anything after it. The next run
adopts the resource by its deterministic name (it carries gitkube's labels from the insert);
0 duplicates, 0 leaked addresses or rules. A lost answer is retried with the same requestId."""

from __future__ import annotations

import os
import signal

import pytest

from gitkube.testing.faultproxy import FaultProxy
from tests.gce.conftest import external_app
from tests.reliability.conftest import gitkube_process


@pytest.fixture
def gce_proxy(fake_compute):
    with FaultProxy(fake_compute.endpoint) as running:
        yield running


def counts(fake) -> dict[str, int]:
    return {
        kind: len(list(fake.resources(kind)))
        for kind in ("addresses", "firewalls", "targetPools", "forwardingRules")
    }


def test_a_sync_killed_after_an_insert_adopts_it_on_the_next_run(
    gce_repo, nodes, fake_compute, gce_proxy, monkeypatch
):
    monkeypatch.setenv("GITKUBE_GCE_RETRY_SECONDS", "3")
    nodes.add("node-a")
    repo = gce_repo(external_app())
    repo.endpoint = gce_proxy.url
    victim = []

    def kill_after_insert(entry) -> None:
        if entry.method == "POST" and entry.path.split("?")[0].endswith("/addresses"):
            os.kill(victim[0].pid, signal.SIGKILL)

    gce_proxy.on_forwarded = kill_after_insert
    process = gitkube_process(
        "sync",
        "--repo",
        repo.path,
        "--kubeconfig",
        repo.kubeconfig,
        "--gce-endpoint",
        repo.endpoint,
    )
    victim.append(process)
    process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL
    fake_compute.settle()
    assert counts(fake_compute)["addresses"] == 1
    gce_proxy.on_forwarded = None

    rerun = repo.sync_json()
    assert rerun["error"] is None and rerun["deleted"] == 0
    gce = [c for c in rerun["changes"] if c["target"] == "gce"]
    assert "ComputeAddress" not in {c["kind"] for c in gce if c["action"] == "create"}
    assert counts(fake_compute) == {
        "addresses": 1,
        "firewalls": 1,
        "targetPools": 1,
        "forwardingRules": 1,
    }
    inserts = [
        e for e in gce_proxy.requests("POST", "*/addresses") if not e.injected and e.status == 200
    ]
    assert len(inserts) == 1
    before = len(gce_proxy.writes)
    assert repo.sync_json()["changes"] == []
    assert len(gce_proxy.writes) == before


def test_an_insert_whose_answer_was_lost_is_retried_without_a_duplicate(
    gce_repo, nodes, fake_compute, gce_proxy
):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    repo.endpoint = gce_proxy.url
    gce_proxy.add("reset", method="POST", path="*/addresses", after_forward=True)
    result = repo.sync_json()
    assert result["error"] is None
    # The retry carried the same requestId: Compute Engine answered with the first operation.
    assert len(gce_proxy.requests("POST", "*/addresses")) == 2
    assert counts(fake_compute)["addresses"] == 1
