"""The GCE target's client against the local Compute Engine: retries, Retry-After, quota,
requestId, operation errors, all through google-cloud-compute with injected faults."""

from __future__ import annotations

import socket
import time

import pytest
from gitkube_plugins.gce.client import (
    GceApiError,
    GceClient,
    RetryPolicy,
    judge,
    short_link,
)

from gitkube.testing.fake_compute import FakeCompute

REGION = "us-central1"


def client(fake: FakeCompute, **policy: float) -> GceClient:
    return GceClient(fake.project, fake.endpoint, policy=RetryPolicy(**policy))


def test_retries_5xx_and_429_until_the_call_succeeds(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.list", status=500)
    fake_compute.faults.add(method="compute.firewalls.list", status=503)
    fake_compute.faults.add(method="compute.firewalls.list", status=429)
    assert client(fake_compute, initial=0.01, maximum=0.05).list("global/firewalls") == []
    assert fake_compute.calls("compute.firewalls.list") == 4
    statuses = [r.status for r in fake_compute.requests if r.method_id == "compute.firewalls.list"]
    assert statuses == [500, 503, 429, 200]


def test_rate_limit_403s_are_retried_like_a_429(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.list", status=403, reason="rateLimitExceeded")
    assert client(fake_compute, initial=0.01).list("global/firewalls") == []
    assert fake_compute.calls("compute.firewalls.list") == 2


def test_backoff_pauses_stay_under_a_doubling_bound():
    import logging

    from google.api_core.exceptions import ServiceUnavailable

    from gitkube.primitives.retry import _Attempts

    retry = _Attempts(RetryPolicy(initial=1.0, maximum=4.0), judge, "GET x", logging.getLogger())
    busy = ServiceUnavailable("busy")
    retry.retryable(busy)
    retry.on_error(busy)
    pauses = retry.pauses()
    for bound in (1.0, 2.0, 4.0, 4.0):
        assert 0 <= next(pauses) <= bound


def test_connection_errors_are_retried_then_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        gce = GceClient("p", dead, policy=RetryPolicy(initial=0.01, connect_deadline=0.3))
        with pytest.raises(GceApiError, match=f"cannot reach Compute Engine at {dead}") as info:
            gce.list("global/firewalls")
    assert info.value.status == 0
    assert "connection refused" in str(info.value)


def test_retry_after_is_honoured(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.list", status=429, retry_after=0.6)
    started = time.monotonic()
    client(fake_compute, initial=0.01, maximum=0.01).list("global/firewalls")
    # The backoff alone would pause 0.01s at most; the server asked for 0.6s.
    assert time.monotonic() - started >= 0.6
    assert fake_compute.calls("compute.firewalls.list") == 2


def test_gives_up_within_the_budget(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.list", status=500, times=None)
    with pytest.raises(GceApiError, match="gave up") as info:
        client(fake_compute, initial=2.0, maximum=2.0, deadline=0.5).list("global/firewalls")
    assert info.value.status == 500
    # api_core pauses a random time up to 2s: a pause that would overrun 0.5s is never
    # taken, so only the rare run of short pauses gets a few calls in, never an endless loop.
    assert 1 <= fake_compute.calls("compute.firewalls.list") <= 4


def test_quota_is_never_retried(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.insert", kind="quota", in_operation=False)
    with pytest.raises(GceApiError, match="not retried") as info:
        client(fake_compute, initial=0.01).call(
            "POST", "global/firewalls", body={"name": "f", "allowed": [{"IPProtocol": "tcp"}]}
        )
    assert info.value.quota
    assert fake_compute.calls("compute.firewalls.insert") == 1


def test_mutations_keep_their_request_id_across_retries(fake_compute):
    fake_compute.faults.add(method="compute.addresses.insert", status=502)
    fake_compute.faults.add(method="compute.addresses.insert", status=503)
    done = client(fake_compute, initial=0.01).mutate(
        "POST", f"regions/{REGION}/addresses", body={"name": "a"}
    )
    assert done["status"] == "DONE"
    inserts = [r for r in fake_compute.requests if r.method_id == "compute.addresses.insert"]
    assert [r.status for r in inserts] == [502, 503, 200]
    ids = {r.query.get("requestId") for r in inserts}
    assert len(ids) == 1 and None not in ids
    # The operation was waited for on this endpoint, with its region's operations client.
    waits = [r for r in fake_compute.requests if r.method_id == "compute.regionOperations.wait"]
    assert all(f"/regions/{REGION}/operations/" in r.path for r in waits)
    assert all("requestId" not in r.query for r in waits)
    assert fake_compute.resource(f"projects/{fake_compute.project}/regions/{REGION}/addresses/a")


def test_an_operation_error_names_the_resource_and_code(fake_compute):
    fake_compute.faults.add(method="compute.firewalls.insert", kind="quota")
    with pytest.raises(
        GceApiError, match="insert of global/firewalls/f failed: QUOTA_EXCEEDED"
    ) as info:
        client(fake_compute).mutate(
            "POST", "global/firewalls", body={"name": "f", "allowed": [{"IPProtocol": "tcp"}]}
        )
    assert info.value.status == 403 and info.value.quota


def test_answers_are_the_apis_json(fake_compute):
    gce = client(fake_compute)
    gce.mutate(
        "POST",
        f"regions/{REGION}/forwardingRules",
        body={"name": "r", "IPProtocol": "TCP", "portRange": "80", "labels": {"a": "b"}},
    )
    rule = gce.call("GET", f"regions/{REGION}/forwardingRules/r")
    assert rule["IPProtocol"] == "TCP" and rule["labels"] == {"a": "b"}
    assert isinstance(rule["id"], str)  # int64 as text, as the API sends it
    with pytest.raises(GceApiError) as info:
        gce.call("GET", f"regions/{REGION}/forwardingRules/missing")
    assert info.value.status == 404


def test_short_link():
    assert (
        short_link("https://x/compute/v1/projects/p/zones/z/instances/i") == "zones/z/instances/i"
    )
    assert short_link("projects/p/global/networks/default") == "global/networks/default"
    assert short_link("global/networks/default") == "global/networks/default"
