"""Faults tried end to end: the real control plane, the local Compute Engine, real git,
with gitkube.testing.faultproxy between gitkube and the server where a fault is injected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.testing.faultproxy import FaultProxy
from tests.gce.conftest import gce_repo, nodes  # noqa: F401 - fixtures
from tests.sync.conftest import CONFIGMAP, SyncRepo, kube, sync_repo  # noqa: F401 - fixtures

# Quick retries, so a test of giving up takes seconds (the policy is the same).
FAST_RETRIES = {"GITKUBE_RETRY_INITIAL": "0.01", "GITKUBE_RETRY_ATTEMPTS": "5"}


@pytest.fixture
def proxy(controlplane) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's API server."""
    with FaultProxy.for_kubeconfig(controlplane.kubeconfig) as running:
        yield running


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)


def configmaps(count: int, value: str = "v1") -> dict[str, str]:
    """``count`` apps of one ConfigMap each."""
    return {
        f"apps/a{n:03d}/config.yaml": CONFIGMAP.format(name=f"cm{n:03d}", value=value)
        for n in range(count)
    }


def gitkube_process(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitkube", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **FAST_RETRIES, **(env or {})},
    )


def kill_after_writes(proxy: FaultProxy, writes: int) -> list[subprocess.Popen[str]]:
    """Arrange for the process put in the returned list to be SIGKILLed right after the
    upstream answered its ``writes``-th apply (no timing: counted at the proxy; the plan's
    dry-runs do not count)."""
    target: list[subprocess.Popen[str]] = []
    seen = [0]

    def on_write(entry) -> None:
        if 200 <= entry.status < 300 and entry.method == "PATCH" and "dryRun" not in entry.path:
            seen[0] += 1
            if seen[0] == writes and target:
                os.kill(target[0].pid, signal.SIGKILL)

    proxy.on_forwarded = on_write
    return target


def sync_json(repo: SyncRepo, kubeconfig: Path, *args: str) -> dict:
    result = repo.cli("sync", "--repo", repo.path, "--kubeconfig", kubeconfig, "-o", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is a fault tried end to end: ``pytest -m reliability`` runs them."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.reliability)
