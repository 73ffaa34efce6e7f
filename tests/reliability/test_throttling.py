"""Fault 3: 429 with Retry-After and 5xx from the API server are retried, boundedly; a run
that gives up says so and prunes nothing; requests are counted, never multiplied."""

from __future__ import annotations

from gitkube.primitives.kubeapi import KubeApiError
from tests.reliability.conftest import configmaps, sync_json


def live_values(kube, namespace: str) -> dict[str, str]:
    items = kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")["items"]
    return {
        i["metadata"]["name"]: i["data"]["key"] for i in items if "key" in (i.get("data") or {})
    }


def test_429_and_5xx_are_retried_once_each(sync_repo, proxy, tmp_path, fast_retries, kube):
    repo = sync_repo(configmaps(6))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    throttled = proxy.add(method="PATCH", status=429, retry_after=0, times=3)
    failing = proxy.add(method="GET", path="*/configmaps", status=503, times=2)
    result = sync_json(repo, kubeconfig)
    assert result["created"] == 6 and result["error"] is None
    assert (throttled.hits, failing.hits) == (3, 2)
    # Each injected failure cost exactly one more request: nothing multiplied.
    patches = proxy.requests("PATCH")
    assert len(patches) == len([p for p in patches if 200 <= p.status < 300]) + 3
    lists = proxy.requests("GET", "*/configmaps")
    assert len([entry for entry in lists if not entry.injected]) == len(lists) - 2
    assert len(live_values(kube, repo.namespace)) == 6


def test_a_run_that_gives_up_says_so_and_prunes_nothing(
    sync_repo, proxy, tmp_path, fast_retries, kube
):
    repo = sync_repo(configmaps(6))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    sync_json(repo, kubeconfig)
    for n in range(3):
        repo.remove(f"apps/a{n:03d}")
    repo.commit_and_render("drop three apps")
    proxy.log.clear()
    proxy.add(method="GET", path="*/configmaps", status=503, times=None)
    failed = repo.cli("sync", "--repo", repo.path, "--kubeconfig", kubeconfig, "--allow-mass-prune")
    assert failed.returncode == 1
    (line,) = failed.stderr.strip().splitlines()
    assert "gave up" in line and "5 attempts" in line, line
    # The attempt cap (GITKUBE_RETRY_ATTEMPTS=5) bounds the requests: linear, not exponential.
    assert len(proxy.requests("GET", "*/configmaps")) == 5
    assert proxy.requests("DELETE") == [] and proxy.writes == []
    assert len(live_values(kube, repo.namespace)) == 6
    proxy.clear()
    again = sync_json(repo, kubeconfig, "--allow-mass-prune")
    assert again["deleted"] == 3 and again["created"] == 0
    before = len(proxy.writes)
    assert sync_json(repo, kubeconfig)["changes"] == []
    assert len(proxy.writes) == before


def test_a_reset_connection_on_a_read_is_retried(sync_repo, proxy, tmp_path, fast_retries, kube):
    repo = sync_repo(configmaps(2))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    reset = proxy.add("reset", method="GET", path="*/configmaps", times=1)
    assert sync_json(repo, kubeconfig)["created"] == 2
    assert reset.hits == 1


def test_a_write_whose_answer_was_lost_is_not_sent_twice_blindly(
    sync_repo, proxy, tmp_path, fast_retries, kube
):
    """A reset after the server applied: the run fails naming what was done; the next
    run finds the object applied and converges with nothing deleted."""
    repo = sync_repo(configmaps(3))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    # cm001's apply (its plan-time dry-run goes through): applied, but the answer is lost.
    proxy.add("reset", method="PATCH", path="*/configmaps/cm001", after_forward=True, skip=1)
    failed = repo.cli("sync", "--repo", repo.path, "--kubeconfig", kubeconfig)
    assert failed.returncode == 1
    (line,) = failed.stderr.strip().splitlines()
    assert "could not apply ConfigMap" in line and "connection was lost" in line, line
    assert "writes made, nothing pruned" in line, line
    again = sync_json(repo, kubeconfig)
    assert again["deleted"] == 0 and again["error"] is None
    assert len(live_values(kube, repo.namespace)) == 3
    try:
        kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/missing")
    except KubeApiError as exc:
        assert exc.status == 404


def test_a_500_that_would_fail_again_is_not_retried(sync_repo, proxy, tmp_path, fast_retries, kube):
    """A 500 without Retry-After (a patch the server cannot type) fails the same way every
    time: reported at once, one request, nothing written."""
    repo = sync_repo(configmaps(2))
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
    broken = proxy.add(method="PATCH", path="*/configmaps/cm000", status=500, times=None)
    failed = repo.cli("sync", "--repo", repo.path, "--kubeconfig", kubeconfig)
    assert failed.returncode == 1
    assert broken.hits == 1
    assert "HTTP 500" in failed.stderr and "gave up" not in failed.stderr
    assert [w for w in proxy.writes if "dryRun" not in w.path] == []  # the plan's dry-runs aside
