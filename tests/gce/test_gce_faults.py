"""Bad input and faults: foreign resources, disks in use, quota, failing operations, 5xx, 429."""

from __future__ import annotations

import time

import pytest

from gitkube.testing.fake_compute import FakeCompute
from tests.gce.conftest import REGION, ZONE, external_app
from tests.sync.conftest import DEPLOYMENT


def gce(fake: FakeCompute, path: str) -> dict | None:
    return fake.resource(f"projects/{fake.project}/{path}")


def reserve_foreign_address(fake: FakeCompute, name: str) -> dict:
    from google.cloud import compute_v1

    client = fake.client(compute_v1.AddressesClient)
    client.insert(
        project=fake.project,
        region=REGION,
        address_resource=compute_v1.Address(name=name, description="reserved by hand"),
    ).result(timeout=30)
    found = gce(fake, f"regions/{REGION}/addresses/{name}")
    assert found
    return found


def writes(fake: FakeCompute, since: int = 0) -> list[str]:
    return [r.method_id or "" for r in fake.requests[since:] if r.http_method != "GET"]


@pytest.fixture(autouse=True)
def _short_retry_budget(monkeypatch):
    monkeypatch.setenv("GITKUBE_GCE_RETRY_SECONDS", "3")


def test_an_address_that_is_not_gitkubes_blocks_the_sync(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    foreign = reserve_foreign_address(fake_compute, "web-ip")
    repo = gce_repo(external_app())
    plan = repo.plan_json()
    address = next(c for c in plan["changes"] if c["kind"] == "ComputeAddress")
    assert "exists and is not gitkube's" in address["blocked"]
    assert "--adopt" in address["blocked"]
    before = len(fake_compute.requests)
    result = repo.sync()
    assert result.returncode == 1
    assert "ComputeAddress web-ip exists and is not gitkube's" in result.stderr
    assert writes(fake_compute, before) == []

    # Adopting it keeps the reserved IP and marks it; pruning it never releases it.
    adopted = repo.sync_json("--adopt")
    assert adopted["error"] is None
    address = gce(fake_compute, f"regions/{REGION}/addresses/web-ip")
    assert address["address"] == foreign["address"]
    assert address["labels"]["gitkube-adopted"] == "true"
    assert repo.sync_json()["changes"] == []
    repo.remove("apps/web")
    repo.write({"apps/other/deploy.yaml": DEPLOYMENT.format(name="other")})
    repo.commit_and_render("drop web")
    repo.sync_json("--allow-mass-prune")
    kept = gce(fake_compute, f"regions/{REGION}/addresses/web-ip")
    assert kept is not None and kept["address"] == foreign["address"]
    assert "gitkube-applyset" not in (kept.get("labels") or {})
    assert gce(fake_compute, f"regions/{REGION}/forwardingRules/web-tcp") is None


def test_unowned_resources_are_never_touched(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    reserve_foreign_address(fake_compute, "someone-elses")
    repo = gce_repo(external_app())
    repo.sync_json()
    assert gce(fake_compute, f"regions/{REGION}/addresses/someone-elses") is not None
    assert not any(
        "someone-elses" in r.path for r in fake_compute.requests if r.http_method != "GET"
    )


DISK_APP = """\
disks:
- {{name: {disk}, sizeGb: {size}, mount: /world{mode}}}
"""


def disk_app(disk: str, size: int = 10, node: str | None = None) -> dict[str, str]:
    """An app with one disk; PersistentVolumes are cluster-wide, so each test names its own."""
    mode = f", mode: node, node: {node}" if node else ""
    return {
        "apps/mc/deploy.yaml": DEPLOYMENT.format(name="mc"),
        "apps/mc/app.yaml": DISK_APP.format(disk=disk, size=size, mode=mode),
    }


def test_node_disk_is_created_and_attached(gce_repo, nodes, fake_compute):
    instance = nodes.add("node-a")
    repo = gce_repo(disk_app("world-a", node="node-a"))
    repo.sync_json()
    disk = gce(fake_compute, f"zones/{ZONE}/disks/world-a")
    assert disk["sizeGb"] == "10"
    assert [u.split(f"{fake_compute.project}/")[1] for u in disk["users"]] == [instance]
    vm = gce(fake_compute, instance)
    assert [d["deviceName"] for d in vm["disks"]] == ["world-a"]
    assert repo.sync_json()["changes"] == []


def test_a_disk_in_use_elsewhere_is_a_clear_report(gce_repo, nodes, fake_compute):
    from google.cloud import compute_v1

    nodes.add("node-a")
    nodes.fake_instance("other-vm")
    repo = gce_repo(disk_app("world-b"))
    repo.sync_json()
    fake_compute.client(compute_v1.InstancesClient).attach_disk(
        project=fake_compute.project,
        zone=ZONE,
        instance="other-vm",
        attached_disk_resource=compute_v1.AttachedDisk(source=f"zones/{ZONE}/disks/world-b"),
    ).result(timeout=30)
    repo.write(disk_app("world-b", node="node-a"))
    repo.commit_and_render("attach to node-a")
    result = repo.sync("--allow-mass-prune")
    assert result.returncode == 1
    assert "disk world-b is in use by zones/us-central1-b/instances/other-vm" in result.stderr
    assert "detach it there first" in result.stderr


def test_disk_grows_in_place_and_refuses_to_shrink(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(disk_app("world-c", size=10, node="node-a"))
    repo.sync_json()
    repo.write(disk_app("world-c", size=20, node="node-a"))
    repo.commit_and_render("grow")
    grown = repo.sync_json()
    assert [(c["kind"], c["action"], c["fields"]) for c in grown["changes"]] == [
        ("ComputeDisk", "update", ["sizeGb"])
    ]
    assert gce(fake_compute, f"zones/{ZONE}/disks/world-c")["sizeGb"] == "20"
    repo.write(disk_app("world-c", size=5, node="node-a"))
    repo.commit_and_render("shrink")
    result = repo.sync()
    assert result.returncode == 1
    assert "sizeGb of ComputeDisk world-c cannot change in place (a disk can only grow)" in (
        result.stderr
    )


def test_immutable_forwarding_rule_fields_need_permission_to_replace(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    repo.sync_json()
    repo.write(
        {
            "apps/web/app.yaml": "external: {address: web-ip, ports: [80, 81]}\n",
            "apps/web/deploy.yaml": DEPLOYMENT.format(name="web").replace(
                "ports: [{port: 80}]", "ports: [{port: 80, name: http}, {port: 81, name: alt}]"
            ),
        }
    )
    repo.commit_and_render("https")
    plan = repo.plan_json()
    by_kind = {c["kind"]: c for c in plan["changes"]}
    assert by_kind["ComputeFirewall"]["action"] == "update"
    assert by_kind["ComputeFirewall"]["fields"] == ["allowed"]
    rule = by_kind["ComputeForwardingRule"]
    assert (rule["action"], rule["fields"]) == ("replace", ["portRange"])
    assert "--allow-replace" in rule["blocked"]
    assert repo.sync().returncode == 1
    result = repo.sync_json("--allow-replace")
    assert sorted((c["kind"], c["action"]) for c in result["changes"]) == [
        ("ComputeFirewall", "update"),
        ("ComputeForwardingRule", "replace"),
        ("Service", "update"),
    ]
    live = gce(fake_compute, f"regions/{REGION}/forwardingRules/web-tcp")
    assert live["portRange"] == "80-81"
    firewall = gce(fake_compute, "global/firewalls/web-external")
    assert firewall["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "81"]}]
    assert repo.sync_json()["changes"] == []


def test_quota_error_is_reported_and_not_retried(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    fake_compute.faults.add(method="compute.addresses.insert", kind="quota")
    result = repo.sync()
    assert result.returncode == 1
    assert "QUOTA_EXCEEDED" in result.stderr and "not retried" in result.stderr
    assert fake_compute.calls("compute.addresses.insert") == 1, [
        (r.method_id, r.status, r.query) for r in fake_compute.requests
    ]
    # Nothing after the address was attempted; the next run converges.
    assert fake_compute.calls("compute.firewalls.insert") == 0
    assert repo.sync_json()["created"] == 6  # the Kubernetes objects had not run either


def test_quota_refused_in_the_call_is_not_retried(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    fake_compute.faults.add(method="compute.firewalls.insert", kind="quota", in_operation=False)
    result = repo.sync()
    assert result.returncode == 1
    assert "quotaExceeded" in result.stderr
    assert fake_compute.calls("compute.firewalls.insert") == 1


def test_a_failing_operation_is_reported(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    fake_compute.faults.add(
        method="compute.targetPools.insert", kind="operation_error", message="boom"
    )
    result = repo.sync()
    assert result.returncode == 1
    assert "insert of regions/us-central1/targetPools/web-pool failed: INTERNAL_ERROR: boom" in (
        result.stderr
    )
    assert gce(fake_compute, f"regions/{REGION}/forwardingRules/web-tcp") is None
    again = repo.sync_json()
    assert [(c["kind"], c["action"]) for c in again["changes"] if c["target"] == "gce"] == [
        ("ComputeTargetPool", "create"),
        ("ComputeForwardingRule", "create"),
    ]


def test_a_500_in_the_middle_of_a_run_is_retried(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    fake_compute.faults.add(method="compute.firewalls.insert", status=500, times=2)
    result = repo.sync_json()
    assert result["created"] == 6
    assert fake_compute.calls("compute.firewalls.insert") == 3
    assert len([1 for _ in fake_compute.resources("firewalls")]) == 1


def test_a_persistent_500_stops_the_run_and_the_next_run_converges(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo({**external_app(), **external_app("api", "api-ip")})
    repo.sync_json()
    repo.remove("apps/api")
    # 80-81 replaces web-tcp's range (80-80): a planned re-creation.
    repo.write({"apps/web/app.yaml": "external: {address: web-ip, ports: [80, 81]}\n"})
    repo.write(
        {
            "apps/web/deploy.yaml": DEPLOYMENT.format(name="web").replace(
                "ports: [{port: 80}]", "ports: [{port: 80, name: a}, {port: 81, name: b}]"
            )
        }
    )
    repo.commit_and_render("change web, drop api")
    fault = fake_compute.faults.add(method="compute.firewalls.patch", status=503, times=None)
    before = len(fake_compute.requests)
    result = repo.sync("--allow-mass-prune", "--allow-replace")
    assert result.returncode == 1
    assert "503" in result.stderr and "gave up" in result.stderr
    # Only the planned re-creation of web-tcp deleted anything; the prunes never started.
    deleted = [
        r.path.rsplit("/", 1)[1]
        for r in fake_compute.requests[before:]
        if r.http_method == "DELETE" and r.status == 200
    ]
    assert deleted == ["web-tcp"]
    assert gce(fake_compute, f"regions/{REGION}/addresses/api-ip") is not None
    fake_compute.faults.clear()
    assert fault.hits >= 2
    again = repo.sync_json("--allow-mass-prune", "--allow-replace")
    assert again["error"] is None
    assert gce(fake_compute, f"regions/{REGION}/addresses/api-ip") is None
    assert repo.sync_json()["changes"] == []


def test_429_with_retry_after_is_honoured(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    fake_compute.faults.add(method="compute.addresses.list", status=429, retry_after=0.5)
    started = time.monotonic()
    result = repo.sync_json()
    assert result["created"] == 6
    assert time.monotonic() - started >= 0.5
    assert fake_compute.calls("compute.addresses.list") == 2


def test_adopting_a_firewall_marks_it_in_its_description(gce_repo, nodes, fake_compute):
    from google.cloud import compute_v1

    nodes.add("node-a")
    fake_compute.client(compute_v1.FirewallsClient).insert(
        project=fake_compute.project,
        firewall_resource=compute_v1.Firewall(
            name="web-external",
            allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])],
            target_tags=["k8s-test-node"],
        ),
    ).result(timeout=30)
    repo = gce_repo(external_app())
    blocked = repo.sync()
    assert blocked.returncode == 1 and "ComputeFirewall web-external exists" in blocked.stderr
    repo.sync_json("--adopt")
    firewall = gce(fake_compute, "global/firewalls/web-external")
    assert firewall["allowed"] == [{"IPProtocol": "tcp", "ports": ["80"]}]
    assert "managed by gitkube" in firewall["description"]
    assert repo.sync_json()["changes"] == []


def test_a_pruned_disk_is_released_never_deleted(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo({**disk_app("world-c"), **external_app()})
    repo.sync_json()
    repo.remove("apps/mc")
    repo.commit_and_render("drop the app with the disk")
    plan = repo.plan_json()
    (disk_change,) = [c for c in plan["changes"] if c["kind"] == "ComputeDisk"]
    assert disk_change["action"] == "delete" and "never deletes data" in disk_change["note"]
    repo.sync_json("--allow-mass-prune")
    disk = gce(fake_compute, f"zones/{ZONE}/disks/world-c")
    assert disk is not None, "the disk and its data must survive"
    assert "gitkube-applyset" not in (disk.get("labels") or {})
    assert "compute.disks.delete" not in [r.method_id for r in fake_compute.requests]
    assert repo.sync_json()["changes"] == []
