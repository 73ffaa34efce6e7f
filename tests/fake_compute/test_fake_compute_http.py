"""Raw HTTP against the fake: payload checks from the discovery document, API semantics."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1

from gitkube.testing.fake_compute import FakeCompute

REGION = "us-central1"
ZONE = "us-central1-b"


def call(
    gce: FakeCompute, method: str, path: str, body: Any = None, **params: str
) -> requests.Response:
    url = f"{gce.endpoint}/compute/v1/projects/{gce.project}/{path}"
    return requests.request(method, url, json=body, params=params, timeout=10)


def error_of(response: requests.Response) -> tuple[int, str, str]:
    """(code, reason, message), asserting the API's error shape on the way."""
    error = response.json()["error"]
    assert error["code"] == response.status_code
    [detail] = error["errors"]
    assert detail["domain"] and detail["message"] == error["message"]
    return error["code"], detail["reason"], error["message"]


def wait(gce: FakeCompute, op: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        op["selfLink"].replace("https://www.googleapis.com", gce.endpoint) + "/wait", timeout=10
    )
    assert response.status_code == 200
    done: dict[str, Any] = response.json()
    assert done["status"] == "DONE"
    return done


@pytest.mark.parametrize(
    ("body", "reason", "message_part"),
    [
        ({"name": "a", "colour": "red"}, "invalid", 'Unknown name "colour"'),
        ({"name": "a", "description": 42}, "invalid", "'resource.description' (TYPE_STRING)"),
        ({"name": "a", "labels": {"k": 1}}, "invalid", "resource.labels[k]"),
        ({"name": "a", "addressType": "PUBLIC"}, "invalid", "resource.address_type"),
        ({"name": "Not_A_Name"}, "invalid", "Must be a match of regex"),
        ({"description": "no name"}, "required", "Required field 'resource.name'"),
        (["not", "an", "object"], "invalid", "expected an object"),
    ],
)
def test_malformed_insert_bodies_are_rejected(
    fake_compute: FakeCompute, body: Any, reason: str, message_part: str
) -> None:
    response = call(fake_compute, "POST", f"regions/{REGION}/addresses", body)
    assert response.status_code == 400
    _code, got_reason, message = error_of(response)
    assert got_reason == reason
    assert message_part in message
    assert list(fake_compute.resources("addresses")) == []


def test_nested_fields_are_checked_against_their_schema(fake_compute: FakeCompute) -> None:
    body = {"name": "fw", "allowed": [{"IPProtocol": "tcp", "ports": [80]}]}
    response = call(fake_compute, "POST", "global/firewalls", body)
    assert response.status_code == 400
    assert "'resource.allowed[0].ports[0]' (TYPE_STRING)" in error_of(response)[2]
    body = {"name": "fw", "allowed": [{"IPProtocol": "tcp", "port": ["80"]}]}
    assert (
        "Unknown name \"port\" at 'resource.allowed[0]'"
        in error_of(call(fake_compute, "POST", "global/firewalls", body))[2]
    )


def test_int64_fields_take_strings_and_numbers(fake_compute: FakeCompute) -> None:
    for name, size in (("a", "10"), ("b", 20)):
        assert (
            call(
                fake_compute, "POST", f"zones/{ZONE}/disks", {"name": name, "sizeGb": size}
            ).status_code
            == 200
        )
    bad = call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "c", "sizeGb": "ten"})
    assert bad.status_code == 400 and error_of(bad)[1] == "invalid"


def test_missing_body_and_required_query_parameter(fake_compute: FakeCompute) -> None:
    response = call(fake_compute, "POST", f"regions/{REGION}/addresses")
    assert response.status_code == 400 and error_of(response)[1] == "required"
    response = call(fake_compute, "POST", f"zones/{ZONE}/instances/vm/detachDisk")
    assert response.status_code == 400
    assert error_of(response)[1:] == ("required", "Required field 'deviceName' not specified")


def test_unknown_query_parameter_and_bad_json(fake_compute: FakeCompute) -> None:
    response = call(fake_compute, "GET", f"regions/{REGION}/addresses", colour="red")
    assert response.status_code == 400 and error_of(response)[1] == "invalid"
    response = call(fake_compute, "GET", f"regions/{REGION}/addresses", maxResults="many")
    assert response.status_code == 400 and error_of(response)[1] == "invalid"
    raw = requests.post(
        f"{fake_compute.endpoint}/compute/v1/projects/p/regions/{REGION}/addresses",
        data=b"{nope",
        timeout=10,
    )
    assert raw.status_code == 400 and error_of(raw)[1] == "parseError"


def test_unknown_paths_are_404_in_the_api_shape(fake_compute: FakeCompute) -> None:
    for path in ("/compute/v1/projects/p/regions/r/gizmos", "/compute/v2/projects/p", "/"):
        response = requests.get(fake_compute.endpoint + path, timeout=10)
        assert response.status_code == 404
        assert error_of(response)[1] == "notFound"
    # A path the discovery document has, with a verb it does not.
    response = requests.put(
        f"{fake_compute.endpoint}/compute/v1/projects/p/regions/r/addresses/a", timeout=10
    )
    assert response.status_code == 404


def test_known_but_unserved_methods_say_so(fake_compute: FakeCompute) -> None:
    response = call(fake_compute, "GET", "global/sslCertificates")
    assert response.status_code == 501
    assert error_of(response)[1] == "notImplemented"


def test_duplicate_insert_is_409_already_exists(fake_compute: FakeCompute) -> None:
    body = {"name": "ip"}
    first = call(fake_compute, "POST", f"regions/{REGION}/addresses", body)
    assert first.status_code == 200
    # Before the first operation completes the name is already taken.
    second = call(fake_compute, "POST", f"regions/{REGION}/addresses", body)
    assert second.status_code == 409
    assert error_of(second)[1] == "alreadyExists"
    wait(fake_compute, first.json())
    assert call(fake_compute, "POST", f"regions/{REGION}/addresses", body).status_code == 409


def test_missing_resource_is_404_not_found(fake_compute: FakeCompute) -> None:
    for method, path in (
        ("GET", f"regions/{REGION}/addresses/none"),
        ("DELETE", f"zones/{ZONE}/disks/none"),
        ("PATCH", "global/firewalls/none"),
    ):
        body = {"name": "none"} if method == "PATCH" else None
        response = call(fake_compute, method, path, body)
        assert response.status_code == 404, path
        _code, reason, message = error_of(response)
        assert reason == "notFound"
        assert message == f"The resource 'projects/{fake_compute.project}/{path}' was not found"


def test_operations_are_asynchronous(fake_compute: FakeCompute) -> None:
    fake_compute.faults.add("compute.disks.insert", "slow", polls=1)
    op = call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "d"}).json()
    assert op["status"] == "RUNNING" and op["kind"] == "compute#operation"
    assert op["zone"].endswith(f"/zones/{ZONE}") and op["targetLink"].endswith("/disks/d")
    # Not applied until the operation is done.
    assert call(fake_compute, "GET", f"zones/{ZONE}/disks/d").status_code == 404
    poll = call(fake_compute, "GET", f"zones/{ZONE}/operations/{op['name']}").json()
    assert poll["status"] == "RUNNING"
    poll = call(fake_compute, "GET", f"zones/{ZONE}/operations/{op['name']}").json()
    assert poll["status"] == "DONE" and poll["progress"] == 100 and "endTime" in poll
    assert call(fake_compute, "GET", f"zones/{ZONE}/disks/d").status_code == 200


def test_disk_in_use_cannot_be_deleted(fake_compute: FakeCompute) -> None:
    p = fake_compute.project
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "data"}).json())
    vm = {
        "name": "vm",
        "machineType": f"zones/{ZONE}/machineTypes/e2-small",
        "disks": [
            {
                "boot": True,
                "initializeParams": {
                    "sourceImage": "projects/debian-cloud/global/images/family/debian-12"
                },
            },
            {"source": f"projects/{p}/zones/{ZONE}/disks/data", "deviceName": "data"},
        ],
    }
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/instances", vm).json())
    response = call(fake_compute, "DELETE", f"zones/{ZONE}/disks/data")
    assert response.status_code == 400
    _code, reason, message = error_of(response)
    assert reason == "resourceInUseByAnotherResource"
    assert f"projects/{p}/zones/{ZONE}/instances/vm" in message
    # The boot disk made from the image is in use too.
    assert call(fake_compute, "DELETE", f"zones/{ZONE}/disks/vm").status_code == 400
    wait(
        fake_compute,
        call(
            fake_compute, "POST", f"zones/{ZONE}/instances/vm/detachDisk", deviceName="data"
        ).json(),
    )
    assert call(fake_compute, "DELETE", f"zones/{ZONE}/disks/data").status_code == 200


def test_attaching_a_disk_in_use_elsewhere_fails(fake_compute: FakeCompute) -> None:
    p = fake_compute.project
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "data"}).json())
    for name in ("a", "b"):
        wait(
            fake_compute,
            call(fake_compute, "POST", f"zones/{ZONE}/instances", {"name": name}).json(),
        )
    attach = {"source": f"projects/{p}/zones/{ZONE}/disks/data"}
    wait(
        fake_compute,
        call(fake_compute, "POST", f"zones/{ZONE}/instances/a/attachDisk", attach).json(),
    )
    response = call(fake_compute, "POST", f"zones/{ZONE}/instances/b/attachDisk", attach)
    assert response.status_code == 400 and error_of(response)[1] == "resourceInUseByAnotherResource"


def test_address_in_use_by_forwarding_rule_cannot_be_deleted(fake_compute: FakeCompute) -> None:
    p = fake_compute.project
    wait(
        fake_compute,
        call(fake_compute, "POST", f"regions/{REGION}/addresses", {"name": "ip"}).json(),
    )
    rule = {
        "name": "fr",
        "IPAddress": f"projects/{p}/regions/{REGION}/addresses/ip",
        "portRange": "80",
    }
    wait(fake_compute, call(fake_compute, "POST", f"regions/{REGION}/forwardingRules", rule).json())
    address = call(fake_compute, "GET", f"regions/{REGION}/addresses/ip").json()
    assert (
        call(fake_compute, "GET", f"regions/{REGION}/forwardingRules/fr").json()["IPAddress"]
        == address["address"]
    )
    response = call(fake_compute, "DELETE", f"regions/{REGION}/addresses/ip")
    assert response.status_code == 400
    _code, reason, message = error_of(response)
    assert reason == "resourceInUseByAnotherResource"
    assert f"projects/{p}/regions/{REGION}/forwardingRules/fr" in message
    wait(fake_compute, call(fake_compute, "DELETE", f"regions/{REGION}/forwardingRules/fr").json())
    assert call(fake_compute, "DELETE", f"regions/{REGION}/addresses/ip").status_code == 200


def test_target_pool_in_use_cannot_be_deleted(fake_compute: FakeCompute) -> None:
    wait(
        fake_compute,
        call(fake_compute, "POST", f"regions/{REGION}/targetPools", {"name": "pool"}).json(),
    )
    rule = {"name": "fr", "target": f"regions/{REGION}/targetPools/pool"}
    wait(fake_compute, call(fake_compute, "POST", f"regions/{REGION}/forwardingRules", rule).json())
    response = call(fake_compute, "DELETE", f"regions/{REGION}/targetPools/pool")
    assert response.status_code == 400 and error_of(response)[1] == "resourceInUseByAnotherResource"
    missing = {"name": "fr2", "target": f"regions/{REGION}/targetPools/none"}
    assert (
        call(fake_compute, "POST", f"regions/{REGION}/forwardingRules", missing).status_code == 404
    )


def test_stale_label_fingerprint_is_412(fake_compute: FakeCompute) -> None:
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "d"}).json())
    body = {"labels": {"a": "b"}, "labelFingerprint": "c3RhbGU="}
    response = call(fake_compute, "POST", f"zones/{ZONE}/disks/d/setLabels", body)
    assert response.status_code == 412 and error_of(response)[1] == "conditionNotMet"


def test_list_filter_and_paging(fake_compute: FakeCompute) -> None:
    for i in range(5):
        body = {
            "name": f"ip-{i}",
            "description": "gitkube" if i % 2 else "other",
            "labels": {"n": str(i)},
        }
        call(fake_compute, "POST", f"regions/{REGION}/addresses", body)
    fake_compute.settle()

    def names(**params: str) -> list[str]:
        return [
            a["name"]
            for a in call(fake_compute, "GET", f"regions/{REGION}/addresses", **params)
            .json()
            .get("items", [])
        ]

    assert names(filter='description = "gitkube"') == ["ip-1", "ip-3"]
    assert names(filter='labels.n = "4"') == ["ip-4"]
    assert names(filter='(description = "other") AND (labels.n != "0")') == ["ip-2", "ip-4"]
    assert names(filter="name eq ip-[12]") == ["ip-1", "ip-2"]
    assert names(filter='name = "ip-*"') == [f"ip-{i}" for i in range(5)]
    assert names(filter='name = "ip-[12]"') == []
    bad = call(fake_compute, "GET", f"regions/{REGION}/addresses", filter="name = a OR name = b")
    assert bad.status_code == 400

    seen, token, pages = [], "", 0
    while True:
        params = {"maxResults": "2", **({"pageToken": token} if token else {})}
        page = call(fake_compute, "GET", f"regions/{REGION}/addresses", **params).json()
        seen += [a["name"] for a in page["items"]]
        pages += 1
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == [f"ip-{i}" for i in range(5)] and pages == 3


def test_typed_client_pages_through_lists(fake_compute: FakeCompute) -> None:
    for i in range(3):
        call(
            fake_compute,
            "POST",
            "global/firewalls",
            {"name": f"fw-{i}", "allowed": [{"IPProtocol": "tcp"}]},
        )
    fake_compute.settle()
    client = fake_compute.client(compute_v1.FirewallsClient)
    listed = client.list(
        request=compute_v1.ListFirewallsRequest(project=fake_compute.project, max_results=1)
    )
    assert [f.name for f in listed] == ["fw-0", "fw-1", "fw-2"]
    assert fake_compute.calls("compute.firewalls.list") == 3


def test_request_id_makes_retries_idempotent(fake_compute: FakeCompute) -> None:
    first = call(
        fake_compute, "POST", f"regions/{REGION}/addresses", {"name": "ip"}, requestId="r-1"
    ).json()
    again = call(
        fake_compute, "POST", f"regions/{REGION}/addresses", {"name": "ip"}, requestId="r-1"
    )
    assert again.status_code == 200 and again.json()["name"] == first["name"]


def test_state_is_per_project(fake_compute: FakeCompute) -> None:
    client = fake_compute.client(compute_v1.AddressesClient)
    client.insert(
        project="proj-a", region=REGION, address_resource=compute_v1.Address(name="ip")
    ).result()
    assert list(client.list(project="proj-b", region=REGION)) == []
    with pytest.raises(exceptions.NotFound):
        client.get(project="proj-b", region=REGION, address="ip")


@pytest.mark.parametrize(
    "labels",
    [{"Tier": "web"}, {"tier": "Web"}, {"1tier": "web"}, {"tier": "x" * 64}, {"ti.er": "web"}],
)
def test_labels_outside_the_api_format_are_refused(
    fake_compute: FakeCompute, labels: dict[str, str]
) -> None:
    response = call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "d", "labels": labels})
    assert response.status_code == 400
    assert (
        error_of(response)[1] == "invalid"
        and "violates format constraints" in error_of(response)[2]
    )


def test_set_labels_checks_the_format_too(fake_compute: FakeCompute) -> None:
    body = {"name": "d", "labels": {"app": "minecraft", "applyset": "applyset-abc_1-v1", "ünï": ""}}
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/disks", body).json())
    response = call(
        fake_compute, "POST", f"zones/{ZONE}/disks/d/setLabels", {"labels": {"App": "x"}}
    )
    assert response.status_code == 400 and error_of(response)[1] == "invalid"


def test_forwarding_rules_share_an_ip_unless_ports_clash(fake_compute: FakeCompute) -> None:
    wait(
        fake_compute,
        call(fake_compute, "POST", f"regions/{REGION}/addresses", {"name": "ip"}).json(),
    )
    ip = f"regions/{REGION}/addresses/ip"
    tcp = {"name": "tcp", "IPAddress": ip, "IPProtocol": "TCP", "portRange": "25565"}
    udp = {"name": "udp", "IPAddress": ip, "IPProtocol": "UDP", "portRange": "25565"}
    for rule in (tcp, udp):
        assert "error" not in wait(
            fake_compute,
            call(fake_compute, "POST", f"regions/{REGION}/forwardingRules", rule).json(),
        )
    users = call(fake_compute, "GET", f"regions/{REGION}/addresses/ip").json()["users"]
    assert [u.rsplit("/", 1)[-1] for u in users] == ["tcp", "udp"]
    clash = {"name": "clash", "IPAddress": ip, "IPProtocol": "TCP", "portRange": "25000-26000"}
    done = wait(
        fake_compute, call(fake_compute, "POST", f"regions/{REGION}/forwardingRules", clash).json()
    )
    assert done["httpErrorStatusCode"] == 409
    assert [e["code"] for e in done["error"]["errors"]] == ["IP_IN_USE_BY_ANOTHER_RESOURCE"]
    assert call(fake_compute, "GET", f"regions/{REGION}/forwardingRules/clash").status_code == 404


def test_network_in_use_cannot_be_deleted_but_auto_subnetworks_go_with_it(
    fake_compute: FakeCompute,
) -> None:
    fw = {"name": "fw", "allowed": [{"IPProtocol": "tcp"}], "network": "global/networks/default"}
    wait(fake_compute, call(fake_compute, "POST", "global/firewalls", fw).json())
    response = call(fake_compute, "DELETE", "global/networks/default")
    assert response.status_code == 400 and error_of(response)[1] == "resourceInUseByAnotherResource"
    wait(fake_compute, call(fake_compute, "DELETE", "global/firewalls/fw").json())
    wait(fake_compute, call(fake_compute, "DELETE", "global/networks/default").json())
    assert call(fake_compute, "GET", f"regions/{REGION}/subnetworks/default").status_code == 404


def test_path_parameters_are_checked_against_their_pattern(fake_compute: FakeCompute) -> None:
    response = call(fake_compute, "GET", f"regions/{REGION}/addresses/Not_Valid")
    assert response.status_code == 400
    assert error_of(response)[1:] == (
        "invalid",
        "Invalid value for field 'address': 'Not_Valid'. "
        "Must be a match of regex '[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19}'",
    )


def test_resources_can_be_read_by_numeric_id(fake_compute: FakeCompute) -> None:
    wait(fake_compute, call(fake_compute, "POST", f"zones/{ZONE}/disks", {"name": "d"}).json())
    disk = call(fake_compute, "GET", f"zones/{ZONE}/disks/d").json()
    assert call(fake_compute, "GET", f"zones/{ZONE}/disks/{disk['id']}").json()["name"] == "d"
