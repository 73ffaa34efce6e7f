"""gitkube sync of GCE resources against the local Compute Engine and the real control plane."""

from __future__ import annotations

import json

from gitkube.testing.fake_compute import FakeCompute
from tests.gce.conftest import NODE_TAG, REGION, external_app

GCE_KINDS = ("addresses", "firewalls", "targetPools", "forwardingRules", "disks")


def resource(fake: FakeCompute, path: str) -> dict:
    found = fake.resource(f"projects/{fake.project}/{path}")
    assert found is not None, path
    return found


def test_external_app_creates_address_firewall_pool_rule(gce_repo, nodes, fake_compute, kube):
    node_a = nodes.add("node-a")
    node_b = nodes.add("node-b")
    repo = gce_repo(external_app())
    first = repo.sync_json()
    gce = [c for c in first["changes"] if c["target"] == "gce"]
    assert sorted((c["kind"], c["action"]) for c in gce) == [
        ("ComputeAddress", "create"),
        ("ComputeFirewall", "create"),
        ("ComputeForwardingRule", "create"),
        ("ComputeTargetPool", "create"),
    ]
    assert first["created"] == 4 + 2  # and the Deployment and Service
    address = resource(fake_compute, f"regions/{REGION}/addresses/web-ip")
    ip = address["address"]
    assert address["status"] == "IN_USE"
    firewall = resource(fake_compute, "global/firewalls/web-external")
    assert firewall["allowed"] == [{"IPProtocol": "tcp", "ports": ["80"]}]
    assert firewall["targetTags"] == [NODE_TAG]
    pool = resource(fake_compute, f"regions/{REGION}/targetPools/web-pool")
    assert sorted(i.split("/compute/v1/projects/")[1] for i in pool["instances"]) == [
        f"{fake_compute.project}/{node_a}",
        f"{fake_compute.project}/{node_b}",
    ]
    rule = resource(fake_compute, f"regions/{REGION}/forwardingRules/web-tcp")
    assert rule["IPAddress"] == ip
    assert rule["target"] == pool["selfLink"]
    assert rule["portRange"] == "80-80"
    service = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/services/web")
    assert service["spec"]["externalIPs"] == [ip]

    second = repo.sync_json()
    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 0), second
    assert second["changes"] == []


def test_noop_sync_lists_each_gce_type_once_and_writes_nothing(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    repo.sync_json()
    before = len(fake_compute.requests)
    assert repo.sync_json()["changes"] == []
    calls = fake_compute.requests[before:]
    assert sorted(r.method_id or "" for r in calls) == sorted(
        f"compute.{kind}.list" for kind in GCE_KINDS
    )
    assert all(r.http_method == "GET" for r in calls)


def test_plan_shows_late_bound_values(gce_repo, nodes, fake_compute):
    node = nodes.add("node-a")
    repo = gce_repo(external_app())
    plan = repo.plan_json()
    by_kind = {c["kind"]: c for c in plan["changes"]}
    assert by_kind["ComputeTargetPool"]["lateBound"] == {"instances": node}
    assert "known after apply" in by_kind["ComputeForwardingRule"]["lateBound"]["IPAddress"]
    assert "known after apply" in by_kind["Service"]["lateBound"]["spec.externalIPs"]
    assert fake_compute.calls("compute.addresses.insert") == 0
    repo.sync_json()
    plan = repo.plan_json()
    assert plan["changes"] == []


def test_a_new_node_joins_the_pool_on_the_next_sync(gce_repo, nodes, fake_compute):
    node_a = nodes.add("node-a")
    repo = gce_repo(external_app())
    repo.sync_json()
    node_b = nodes.add("node-b")
    result = repo.sync_json()
    assert [(c["kind"], c["action"], c["fields"]) for c in result["changes"]] == [
        ("ComputeTargetPool", "update", ["instances"])
    ]
    assert fake_compute.calls("compute.targetPools.addInstance") == 1
    pool = resource(fake_compute, f"regions/{REGION}/targetPools/web-pool")
    assert sorted(i.rsplit("/", 1)[1] for i in pool["instances"]) == ["node-a", "node-b"]
    nodes.remove("node-a")
    repo.sync_json()
    assert fake_compute.calls("compute.targetPools.removeInstance") == 1
    pool = resource(fake_compute, f"regions/{REGION}/targetPools/web-pool")
    assert [i.rsplit("/", 1)[1] for i in pool["instances"]] == ["node-b"]
    del node_a, node_b


def test_removing_the_app_deletes_in_reverse_order(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo({**external_app(), **external_app("api", "api-ip")})
    repo.sync_json()
    repo.remove("apps/api")
    repo.commit_and_render("remove api")
    result = repo.sync_json("--allow-mass-prune")
    assert result["deleted"] == 6
    deletes = [r.method_id for r in fake_compute.requests if r.http_method == "DELETE"]
    assert deletes == [
        "compute.forwardingRules.delete",
        "compute.targetPools.delete",
        "compute.firewalls.delete",
        "compute.addresses.delete",
    ]
    assert fake_compute.resource(
        f"projects/{fake_compute.project}/regions/{REGION}/addresses/web-ip"
    )
    assert repo.sync_json()["changes"] == []


def test_only_kubernetes_skips_gce(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(external_app())
    before = len(fake_compute.requests)
    result = repo.sync_json("--only", "kubernetes")
    assert {c["target"] for c in result["changes"]} == {"kubernetes"}
    assert fake_compute.requests[before:] == []
    result = repo.sync_json("--only", "gce")
    assert {c["target"] for c in result["changes"]} == {"gce"}
    assert result["created"] == 4


def test_the_command_line_in_a_subprocess(gce_repo, nodes, fake_compute, cli, kube):
    """The fixed interface: gitkube sync --repo --kubeconfig --gce-endpoint -o json."""
    nodes.add("node-a")
    repo = gce_repo(external_app())
    args = ["--repo", str(repo.path), "--kubeconfig", str(repo.kubeconfig)]
    args += ["--gce-endpoint", fake_compute.endpoint]
    plan = cli.subprocess("plan", *args)
    assert plan.returncode == 0, plan.stderr
    assert "ComputeForwardingRule" in plan.stdout and "web-tcp" in plan.stdout
    first = cli.subprocess("sync", *args, "-o", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] == 6
    second = json.loads(cli.subprocess("sync", *args, "-o", "json").stdout)
    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 0)
    ip = resource(fake_compute, f"regions/{REGION}/addresses/web-ip")["address"]
    service = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/services/web")
    assert service["spec"]["externalIPs"] == [ip]


def test_removing_the_last_gce_app_still_prunes_its_resources(gce_repo, nodes, fake_compute):
    """The commit then has no GCE objects; the ApplySet parent remembers GCE was in use."""
    from tests.sync.conftest import CONFIGMAP

    nodes.add("node-a")
    repo = gce_repo(
        {
            **external_app(),
            **{
                f"apps/cfg{i}/cm.yaml": CONFIGMAP.format(name=f"c{i}", value="v") for i in range(12)
            },
        }
    )
    repo.sync_json()
    repo.remove("apps/web")
    repo.commit_and_render("the last public app goes")
    result = repo.sync_json("--allow-mass-prune")
    gce_deletes = sorted(c["kind"] for c in result["changes"] if c["target"] == "gce")
    assert gce_deletes == [
        "ComputeAddress",
        "ComputeFirewall",
        "ComputeForwardingRule",
        "ComputeTargetPool",
    ]
    assert (
        fake_compute.resource(f"projects/{fake_compute.project}/global/firewalls/web-external")
        is None
    )
    # The next run looks once more, finds nothing of its own, and forgets GCE ...
    before = len(fake_compute.requests)
    assert repo.sync_json()["changes"] == []
    assert {r.http_method for r in fake_compute.requests[before:]} == {"GET"}
    # ... so the run after that does not reach for GCE at all.
    before = len(fake_compute.requests)
    assert repo.sync_json()["changes"] == []
    assert fake_compute.requests[before:] == []


def test_a_kubernetes_only_repo_never_calls_gce(gce_repo, fake_compute):
    from tests.sync.conftest import CONFIGMAP

    repo = gce_repo({"apps/cfg/cm.yaml": CONFIGMAP.format(name="c", value="v")})
    assert repo.sync_json()["created"] == 1
    assert repo.sync_json()["changes"] == []
    assert fake_compute.requests == []
