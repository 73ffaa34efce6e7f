"""The GCE target driven directly (no cluster): re-creating an address re-creates its rules."""

from __future__ import annotations

from gitkube_plugins.gce.target import GceTarget

from gitkube.domain.config import ClusterConfig, RepoConfig
from gitkube.domain.ownership import ApplySet
from gitkube.domain.targets import Action, DesiredObject, SyncSettings, SyncState
from tests.gce.conftest import REGION, ZONE

APPLYSET = ApplySet("gitkube-direct")
API = "compute.cnrm.cloud.google.com/v1beta1"


def settings(fake, **kwargs) -> SyncSettings:
    cluster = ClusterConfig(name="direct", project=fake.project, region=REGION, zone=ZONE)
    return SyncSettings(
        config=RepoConfig(cluster=cluster), applyset=APPLYSET, gce_endpoint=fake.endpoint, **kwargs
    )


def owned(kind: str, name: str, spec: dict) -> DesiredObject:
    body = {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, "labels": {"gitkube-applyset": APPLYSET.gce_label_value}},
        "spec": {**spec, "description": APPLYSET.gce_description},
    }
    return DesiredObject(body, f"{name}.yaml", "app")


def objects(tier: str) -> list[DesiredObject]:
    return [
        owned("ComputeAddress", "ip", {"location": REGION, "networkTier": tier}),
        owned(
            "ComputeForwardingRule",
            "rule",
            {
                "location": REGION,
                "ipAddress": {"addressRef": {"name": "ip"}},
                "ipProtocol": "TCP",
                "portRange": "80-80",
            },
        ),
    ]


def run(target: GceTarget, desired: list[DesiredObject]) -> list:
    state = SyncState()
    changes = target.plan(desired, state)
    assert not [c for c in changes if c.blocked], [c.blocked for c in changes]
    target.apply(changes, state)
    target.delete(changes, state)
    return changes


def test_replacing_an_address_replaces_the_rules_on_it(fake_compute):
    run(GceTarget(settings(fake_compute)), objects("PREMIUM"))
    old_ip = fake_compute.resource(f"projects/{fake_compute.project}/regions/{REGION}/addresses/ip")
    blocked = GceTarget(settings(fake_compute)).plan(objects("STANDARD"), SyncState())
    assert [(c.action, c.fields) for c in blocked] == [
        (Action.REPLACE, ["networkTier"]),
        (Action.UNCHANGED, []),
    ]
    assert "--allow-replace" in (blocked[0].blocked or "")
    before = len(fake_compute.requests)
    changes = run(GceTarget(settings(fake_compute, allow_replace=True)), objects("STANDARD"))
    assert [(c.action, c.fields) for c in changes] == [
        (Action.REPLACE, ["networkTier"]),
        (Action.REPLACE, ["IPAddress"]),  # the rule follows its address
    ]
    writes = [r.method_id for r in fake_compute.requests[before:] if r.http_method != "GET"]
    writes = [w for w in writes if w and not w.endswith("Operations.wait")]
    assert writes == [
        "compute.forwardingRules.delete",
        "compute.addresses.delete",
        "compute.addresses.insert",
        "compute.forwardingRules.insert",
    ]
    new = fake_compute.resource(f"projects/{fake_compute.project}/regions/{REGION}/addresses/ip")
    rule = fake_compute.resource(
        f"projects/{fake_compute.project}/regions/{REGION}/forwardingRules/rule"
    )
    assert new["networkTier"] == "STANDARD" and rule["IPAddress"] == new["address"]
    assert old_ip is not None and old_ip["address"] != new["address"]
    again = GceTarget(settings(fake_compute)).plan(objects("STANDARD"), SyncState())
    assert [c.action for c in again] == [Action.UNCHANGED, Action.UNCHANGED]
