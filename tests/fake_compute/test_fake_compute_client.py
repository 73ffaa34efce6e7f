"""The real google-cloud-compute client against the fake: every served method works."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from gitkube.testing.fake_compute import FakeCompute

REGION = "us-central1"
ZONE = "us-central1-b"


def make_instance(
    gce: FakeCompute, name: str, *, tags: list[str] | None = None
) -> compute_v1.Instance:
    """A node VM the way GKE creates one: boot disk from an image, one NIC with NAT."""
    instances = gce.client(compute_v1.InstancesClient)
    body = compute_v1.Instance(
        name=name,
        machine_type=f"zones/{ZONE}/machineTypes/e2-medium",
        tags=compute_v1.Tags(items=tags or ["k8s-home-node"]),
        labels={"goog-gke-node": ""},
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/cos-cloud/global/images/family/cos-stable",
                    disk_size_gb=100,
                ),
            )
        ],
        network_interfaces=[
            compute_v1.NetworkInterface(
                network="global/networks/default",
                access_configs=[compute_v1.AccessConfig(name="external-nat")],
            )
        ],
    )
    instances.insert(project=gce.project, zone=ZONE, instance_resource=body).result()
    return instances.get(project=gce.project, zone=ZONE, instance=name)


def test_addresses_insert_get_list_set_labels_delete(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.AddressesClient)
    p = fake_compute.project
    op = client.insert(
        project=p,
        region=REGION,
        address_resource=compute_v1.Address(
            name="frontend-ip", description="gitkube: web/frontend"
        ),
    )
    assert op.status in (compute_v1.Operation.Status.RUNNING, compute_v1.Operation.Status.PENDING)
    op.result()
    address = client.get(project=p, region=REGION, address="frontend-ip")
    assert address.address.startswith("203.0.113.")
    assert address.status == "RESERVED"
    assert address.kind == "compute#address"
    assert address.self_link.endswith(f"/projects/{p}/regions/{REGION}/addresses/frontend-ip")
    assert address.region.endswith(f"/regions/{REGION}")
    assert address.creation_timestamp and address.id and address.label_fingerprint

    client.set_labels(
        project=p,
        region=REGION,
        resource="frontend-ip",
        region_set_labels_request_resource=compute_v1.RegionSetLabelsRequest(
            labels={"applyset": "abc"}, label_fingerprint=address.label_fingerprint
        ),
    ).result()
    relabelled = client.get(project=p, region=REGION, address="frontend-ip")
    assert relabelled.labels == {"applyset": "abc"}
    assert relabelled.label_fingerprint != address.label_fingerprint

    assert [a.name for a in client.list(project=p, region=REGION)] == ["frontend-ip"]
    client.delete(project=p, region=REGION, address="frontend-ip").result()
    with pytest.raises(exceptions.NotFound):
        client.get(project=p, region=REGION, address="frontend-ip")


def test_given_address_is_kept(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.AddressesClient)
    client.insert(
        project=fake_compute.project,
        region=REGION,
        address_resource=compute_v1.Address(name="fixed", address="198.51.100.7"),
    ).result()
    assert (
        client.get(project=fake_compute.project, region=REGION, address="fixed").address
        == "198.51.100.7"
    )


def test_firewalls_insert_get_list_patch_delete(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.FirewallsClient)
    p = fake_compute.project
    rule = compute_v1.Firewall(
        name="frontend-fw",
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "443"])],
        source_ranges=["0.0.0.0/0"],
        target_tags=["k8s-home-node"],
    )
    client.insert(project=p, firewall_resource=rule).result()
    got = client.get(project=p, firewall="frontend-fw")
    assert got.direction == "INGRESS" and got.priority == 1000
    assert got.network.endswith(f"/projects/{p}/global/networks/default")
    assert [a.ports for a in got.allowed] == [["80", "443"]]

    client.patch(
        project=p,
        firewall="frontend-fw",
        # The API requires the name in a firewall patch (discovery: required for patch).
        firewall_resource=compute_v1.Firewall(
            name="frontend-fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["8080"])]
        ),
    ).result()
    patched = client.get(project=p, firewall="frontend-fw")
    assert [a.ports for a in patched.allowed] == [["8080"]]
    assert patched.target_tags == ["k8s-home-node"]
    assert [f.name for f in client.list(project=p)] == ["frontend-fw"]
    client.delete(project=p, firewall="frontend-fw").result()
    assert list(client.list(project=p)) == []


def test_target_pools_insert_add_remove_instance_delete(fake_compute: FakeCompute) -> None:
    node = make_instance(fake_compute, "gke-home-node-1")
    client = fake_compute.client(compute_v1.TargetPoolsClient)
    p = fake_compute.project
    client.insert(
        project=p, region=REGION, target_pool_resource=compute_v1.TargetPool(name="frontend-pool")
    ).result()
    client.add_instance(
        project=p,
        region=REGION,
        target_pool="frontend-pool",
        target_pools_add_instance_request_resource=compute_v1.TargetPoolsAddInstanceRequest(
            instances=[compute_v1.InstanceReference(instance=node.self_link)]
        ),
    ).result()
    pool = client.get(project=p, region=REGION, target_pool="frontend-pool")
    assert list(pool.instances) == [node.self_link]
    assert pool.session_affinity == "NONE"

    client.remove_instance(
        project=p,
        region=REGION,
        target_pool="frontend-pool",
        target_pools_remove_instance_request_resource=compute_v1.TargetPoolsRemoveInstanceRequest(
            instances=[compute_v1.InstanceReference(instance=node.self_link)]
        ),
    ).result()
    assert list(client.get(project=p, region=REGION, target_pool="frontend-pool").instances) == []
    assert [t.name for t in client.list(project=p, region=REGION)] == ["frontend-pool"]
    client.delete(project=p, region=REGION, target_pool="frontend-pool").result()
    assert list(client.list(project=p, region=REGION)) == []


def test_add_missing_instance_fails_in_the_operation(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.TargetPoolsClient)
    p = fake_compute.project
    client.insert(
        project=p, region=REGION, target_pool_resource=compute_v1.TargetPool(name="pool")
    ).result()
    op = client.add_instance(
        project=p,
        region=REGION,
        target_pool="pool",
        target_pools_add_instance_request_resource=compute_v1.TargetPoolsAddInstanceRequest(
            instances=[compute_v1.InstanceReference(instance=f"zones/{ZONE}/instances/gone")]
        ),
    )
    with pytest.raises(exceptions.NotFound):
        op.result()
    assert op.error_code == 404


def test_forwarding_rules_insert_get_list_patch_set_target_set_labels_delete(
    fake_compute: FakeCompute,
) -> None:
    p = fake_compute.project
    pools = fake_compute.client(compute_v1.TargetPoolsClient)
    for name in ("pool-a", "pool-b"):
        pools.insert(
            project=p, region=REGION, target_pool_resource=compute_v1.TargetPool(name=name)
        ).result()
    addresses = fake_compute.client(compute_v1.AddressesClient)
    addresses.insert(
        project=p, region=REGION, address_resource=compute_v1.Address(name="frontend-ip")
    ).result()
    ip = addresses.get(project=p, region=REGION, address="frontend-ip").address

    client = fake_compute.client(compute_v1.ForwardingRulesClient)
    client.insert(
        project=p,
        region=REGION,
        forwarding_rule_resource=compute_v1.ForwardingRule(
            name="frontend-fr",
            I_p_address=ip,
            I_p_protocol="TCP",
            port_range="80",
            target=f"projects/{p}/regions/{REGION}/targetPools/pool-a",
            description="gitkube",
        ),
    ).result()
    rule = client.get(project=p, region=REGION, forwarding_rule="frontend-fr")
    assert rule.I_p_address == ip
    assert rule.port_range == "80-80"
    assert rule.target.endswith("/targetPools/pool-a")
    assert rule.fingerprint and rule.label_fingerprint
    used = addresses.get(project=p, region=REGION, address="frontend-ip")
    assert used.status == "IN_USE" and list(used.users) == [rule.self_link]

    client.set_target(
        project=p,
        region=REGION,
        forwarding_rule="frontend-fr",
        target_reference_resource=compute_v1.TargetReference(
            target=f"regions/{REGION}/targetPools/pool-b"
        ),
    ).result()
    assert client.get(project=p, region=REGION, forwarding_rule="frontend-fr").target.endswith(
        "/targetPools/pool-b"
    )
    current = client.get(project=p, region=REGION, forwarding_rule="frontend-fr")
    client.patch(
        project=p,
        region=REGION,
        forwarding_rule="frontend-fr",
        forwarding_rule_resource=compute_v1.ForwardingRule(
            description="patched", fingerprint=current.fingerprint
        ),
    ).result()
    assert (
        client.get(project=p, region=REGION, forwarding_rule="frontend-fr").description == "patched"
    )
    client.set_labels(
        project=p,
        region=REGION,
        resource="frontend-fr",
        region_set_labels_request_resource=compute_v1.RegionSetLabelsRequest(
            labels={"app": "frontend"}, label_fingerprint=current.label_fingerprint
        ),
    ).result()
    assert client.get(project=p, region=REGION, forwarding_rule="frontend-fr").labels == {
        "app": "frontend"
    }
    assert [r.name for r in client.list(project=p, region=REGION)] == ["frontend-fr"]

    client.delete(project=p, region=REGION, forwarding_rule="frontend-fr").result()
    released = addresses.get(project=p, region=REGION, address="frontend-ip")
    assert released.status == "RESERVED" and not released.users
    addresses.delete(project=p, region=REGION, address="frontend-ip").result()


def test_disks_insert_get_list_set_labels_resize_delete(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.DisksClient)
    p = fake_compute.project
    client.insert(
        project=p,
        zone=ZONE,
        disk_resource=compute_v1.Disk(
            name="world", size_gb=50, type_=f"zones/{ZONE}/diskTypes/pd-ssd"
        ),
    ).result()
    disk = client.get(project=p, zone=ZONE, disk="world")
    assert disk.size_gb == 50 and disk.status == "READY"
    assert disk.type_.endswith(f"/zones/{ZONE}/diskTypes/pd-ssd")
    assert disk.zone.endswith(f"/zones/{ZONE}")
    client.set_labels(
        project=p,
        zone=ZONE,
        resource="world",
        zone_set_labels_request_resource=compute_v1.ZoneSetLabelsRequest(
            labels={"app": "minecraft"}, label_fingerprint=disk.label_fingerprint
        ),
    ).result()
    client.resize(
        project=p,
        zone=ZONE,
        disk="world",
        disks_resize_request_resource=compute_v1.DisksResizeRequest(size_gb=60),
    ).result()
    resized = client.get(project=p, zone=ZONE, disk="world")
    assert resized.labels == {"app": "minecraft"} and resized.size_gb == 60
    assert [d.name for d in client.list(project=p, zone=ZONE)] == ["world"]
    client.delete(project=p, zone=ZONE, disk="world").result()
    assert list(client.list(project=p, zone=ZONE)) == []


def test_instances_insert_get_list_attach_detach_set_labels(fake_compute: FakeCompute) -> None:
    p = fake_compute.project
    node = make_instance(fake_compute, "gke-home-node-1")
    assert node.status == "RUNNING"
    assert node.machine_type.endswith(f"/zones/{ZONE}/machineTypes/e2-medium")
    assert node.network_interfaces[0].network_i_p.startswith("10.")
    assert node.network_interfaces[0].access_configs[0].nat_i_p.startswith("203.0.113.")
    assert list(node.tags.items) == ["k8s-home-node"]
    boot = node.disks[0]
    assert boot.boot and boot.auto_delete and boot.source.endswith("/disks/gke-home-node-1")

    disks = fake_compute.client(compute_v1.DisksClient)
    disks.insert(project=p, zone=ZONE, disk_resource=compute_v1.Disk(name="world")).result()
    instances = fake_compute.client(compute_v1.InstancesClient)
    instances.attach_disk(
        project=p,
        zone=ZONE,
        instance="gke-home-node-1",
        attached_disk_resource=compute_v1.AttachedDisk(
            source=f"projects/{p}/zones/{ZONE}/disks/world", device_name="world"
        ),
    ).result()
    attached = instances.get(project=p, zone=ZONE, instance="gke-home-node-1")
    assert [d.device_name for d in attached.disks] == ["persistent-disk-0", "world"]
    assert list(disks.get(project=p, zone=ZONE, disk="world").users) == [attached.self_link]

    instances.detach_disk(
        project=p, zone=ZONE, instance="gke-home-node-1", device_name="world"
    ).result()
    assert not disks.get(project=p, zone=ZONE, disk="world").users
    assert len(instances.get(project=p, zone=ZONE, instance="gke-home-node-1").disks) == 1

    instances.set_labels(
        project=p,
        zone=ZONE,
        instance="gke-home-node-1",
        instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
            labels={"pool": "default"}, label_fingerprint=attached.label_fingerprint
        ),
    ).result()
    assert instances.get(project=p, zone=ZONE, instance="gke-home-node-1").labels == {
        "pool": "default"
    }
    assert [i.name for i in instances.list(project=p, zone=ZONE)] == ["gke-home-node-1"]

    instances.delete(project=p, zone=ZONE, instance="gke-home-node-1").result()
    # The boot disk was auto-delete; the detached data disk stays.
    assert [d.name for d in disks.list(project=p, zone=ZONE)] == ["world"]


def test_aggregated_list_spans_zones(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.DisksClient)
    p = fake_compute.project
    for zone in ("us-central1-a", "us-central1-b"):
        client.insert(
            project=p, zone=zone, disk_resource=compute_v1.Disk(name=f"d-{zone[-1]}")
        ).result()
    found = {
        scope: [d.name for d in scoped.disks] for scope, scoped in client.aggregated_list(project=p)
    }
    assert found == {"zones/us-central1-a": ["d-a"], "zones/us-central1-b": ["d-b"]}


def test_operation_clients_get_and_wait(fake_compute: FakeCompute) -> None:
    p = fake_compute.project
    op = fake_compute.client(compute_v1.DisksClient).insert(
        project=p, zone=ZONE, disk_resource=compute_v1.Disk(name="d")
    )
    zone_ops = fake_compute.client(compute_v1.ZoneOperationsClient)
    assert (
        zone_ops.wait(project=p, zone=ZONE, operation=op.name).status
        == compute_v1.Operation.Status.DONE
    )
    assert zone_ops.get(project=p, zone=ZONE, operation=op.name).progress == 100

    op = fake_compute.client(compute_v1.AddressesClient).insert(
        project=p, region=REGION, address_resource=compute_v1.Address(name="a")
    )
    region_ops = fake_compute.client(compute_v1.RegionOperationsClient)
    assert (
        region_ops.wait(project=p, region=REGION, operation=op.name).status
        == compute_v1.Operation.Status.DONE
    )

    op = fake_compute.client(compute_v1.FirewallsClient).insert(
        project=p,
        firewall_resource=compute_v1.Firewall(
            name="f", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
        ),
    )
    global_ops = fake_compute.client(compute_v1.GlobalOperationsClient)
    done = global_ops.wait(project=p, operation=op.name)
    assert done.status == compute_v1.Operation.Status.DONE and done.operation_type == "insert"
    assert done.target_link.endswith(f"/projects/{p}/global/firewalls/f")
    with pytest.raises(exceptions.NotFound):
        global_ops.get(project=p, operation="operation-none")
