"""Each injectable fault is observable through the real client; the request log counts calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from google.api_core import exceptions
from google.api_core.future import polling
from google.cloud import compute_v1

from gitkube.testing.fake_compute import FakeCompute

REGION = "us-central1"
FAST_POLLING = polling.DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05).with_timeout(10)


def insert_address(
    gce: FakeCompute, name: str = "ip"
) -> compute_v1.services.addresses.AddressesClient:
    client = gce.client(compute_v1.AddressesClient)
    op = client.insert(
        project=gce.project, region=REGION, address_resource=compute_v1.Address(name=name)
    )
    op.result(polling=FAST_POLLING)
    return client


def test_http_429_with_retry_after_then_success(fake_compute: FakeCompute) -> None:
    fault = fake_compute.faults.add(
        method="compute.addresses.insert", kind="http", status=429, retry_after=1, times=1
    )
    url = f"{fake_compute.endpoint}/compute/v1/projects/{fake_compute.project}/regions/{REGION}/addresses"
    throttled = requests.post(url, json={"name": "ip"}, timeout=10)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert fault.hits == 1
    # times=1: the next call goes through.
    assert requests.post(url, json={"name": "ip"}, timeout=10).status_code == 200


def test_http_500_through_the_client(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.addresses.list", "http", status=500)
    client = fake_compute.client(compute_v1.AddressesClient)
    with pytest.raises(exceptions.InternalServerError) as raised:
        list(client.list(project=fake_compute.project, region=REGION))
    assert raised.value.errors[0]["reason"] == "backendError"
    assert list(client.list(project=fake_compute.project, region=REGION)) == []


def test_fault_matches_wildcards_and_can_stay_armed(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.*.get", "http", status=503, times=None)
    client = fake_compute.client(compute_v1.FirewallsClient)
    for _ in range(3):
        with pytest.raises(exceptions.ServiceUnavailable):
            # retry=None: the client's default retry would keep retrying 503s.
            client.get(project=fake_compute.project, firewall="x", retry=None)
    assert list(client.list(project=fake_compute.project)) == []
    fake_compute.faults.clear()
    with pytest.raises(exceptions.NotFound):
        client.get(project=fake_compute.project, firewall="x")


def test_quota_exceeded_inside_the_operation(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.addresses.insert", "quota")
    client = fake_compute.client(compute_v1.AddressesClient)
    op = client.insert(
        project=fake_compute.project, region=REGION, address_resource=compute_v1.Address(name="ip")
    )
    assert op.status == compute_v1.Operation.Status.RUNNING
    with pytest.raises(exceptions.Forbidden) as raised:
        op.result(polling=FAST_POLLING)
    assert "Quota" in str(raised.value)
    assert op.error_code == 403
    assert [e.code for e in op.error.errors] == ["QUOTA_EXCEEDED"]
    # Nothing was created.
    with pytest.raises(exceptions.NotFound):
        client.get(project=fake_compute.project, region=REGION, address="ip")


def test_quota_exceeded_as_http_403(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.addresses.insert", "quota", in_operation=False)
    url = f"{fake_compute.endpoint}/compute/v1/projects/{fake_compute.project}/regions/{REGION}/addresses"
    response = requests.post(url, json={"name": "ip"}, timeout=10)
    assert response.status_code == 403
    assert response.json()["error"]["errors"][0]["reason"] == "quotaExceeded"


def test_slow_operation_stays_running_for_n_polls(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.addresses.insert", "slow", polls=3)
    client = fake_compute.client(compute_v1.AddressesClient)
    op = client.insert(
        project=fake_compute.project, region=REGION, address_resource=compute_v1.Address(name="ip")
    )
    op.result(polling=FAST_POLLING)
    assert fake_compute.calls("compute.regionOperations.get") == 4  # 3 RUNNING, then DONE


def test_slow_operation_by_time_and_wait_blocks(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.disks.insert", "slow", seconds=0.3)
    disks = fake_compute.client(compute_v1.DisksClient)
    started = time.monotonic()
    op = disks.insert(
        project=fake_compute.project, zone="us-central1-a", disk_resource=compute_v1.Disk(name="d")
    )
    ops = fake_compute.client(compute_v1.ZoneOperationsClient)
    assert (
        ops.get(project=fake_compute.project, zone="us-central1-a", operation=op.name).status
        == compute_v1.Operation.Status.RUNNING
    )
    done = ops.wait(project=fake_compute.project, zone="us-central1-a", operation=op.name)
    assert done.status == compute_v1.Operation.Status.DONE
    assert time.monotonic() - started >= 0.3


def test_operation_that_ends_in_error(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add(
        "compute.firewalls.insert",
        "operation_error",
        status=400,
        reason="INVALID_FIELD_VALUE",
        message="bad range",
    )
    client = fake_compute.client(compute_v1.FirewallsClient)
    op = client.insert(
        project=fake_compute.project,
        firewall_resource=compute_v1.Firewall(
            name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
        ),
    )
    with pytest.raises(exceptions.BadRequest, match="bad range"):
        op.result(polling=FAST_POLLING)
    assert op.error_code == 400
    assert list(client.list(project=fake_compute.project)) == []


def test_request_log_counts_one_list_per_type(fake_compute: FakeCompute) -> None:
    insert_address(fake_compute)
    client = fake_compute.client(compute_v1.AddressesClient)
    list(client.list(project=fake_compute.project, region=REGION))
    list(fake_compute.client(compute_v1.FirewallsClient).list(project=fake_compute.project))
    log = [(r.method_id, r.http_method, r.status) for r in fake_compute.requests]
    assert log == [
        ("compute.addresses.insert", "POST", 200),
        ("compute.regionOperations.get", "GET", 200),
        ("compute.addresses.list", "GET", 200),
        ("compute.firewalls.list", "GET", 200),
    ]
    assert fake_compute.calls("compute.addresses.list") == 1
    assert (
        fake_compute.requests[0].path
        == f"/compute/v1/projects/{fake_compute.project}/regions/{REGION}/addresses"
    )
    assert fake_compute.requests[0].body == {"name": "ip"}


def test_reset_forgets_state_faults_and_log() -> None:
    # What the fixture does before each test, checked on a private server.
    with FakeCompute(project="p") as gce:
        insert_address(gce, "leftover")
        gce.faults.add("*", "http", status=500, times=None)
        gce.reset()
        assert gce.requests == []
        client = gce.client(compute_v1.AddressesClient)
        assert list(client.list(project="p", region=REGION)) == []
        assert [r.status for r in gce.requests] == [200]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_serves_until_signalled(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gitkube.testing.fake_compute", "--port", "0", "--project", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        network = requests.get(
            f"{endpoint}/compute/v1/projects/demo/global/networks/default", timeout=10
        )
        assert network.status_code == 200 and network.json()["kind"] == "compute#network"
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
