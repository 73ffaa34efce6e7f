"""What the built-in plugins make, checked against the real schemas.

GCE objects are validated against Config Connector's CRDs (vendored in tests/data/config-connector)
with unknown fields rejected, since an API server would silently prune them;
Kubernetes objects against the Kubernetes OpenAPI schemas (strict).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from gitkube.primitives.filetree import DirectoryTree
from gitkube.render.pipeline import render_tree
from tests.conftest import REPO_ROOT, TEST_DATA

KCC_SCHEMAS = TEST_DATA / "config-connector"
KCC_FILES = {
    "ComputeAddress": "computeaddresses.yaml",
    "ComputeDisk": "computedisks.yaml",
    "ComputeFirewall": "computefirewalls.yaml",
    "ComputeForwardingRule": "computeforwardingrules.yaml",
    "ComputeTargetPool": "computetargetpools.yaml",
}
K8S_VERSION = "1.34.0"


def _closed(schema: Any) -> Any:
    """The schema with additionalProperties: false wherever properties are listed."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def kcc_validator(kind: str) -> jsonschema.Validator:
    if not KCC_SCHEMAS.is_dir():
        pytest.fail(f"Config Connector CRDs not found at {KCC_SCHEMAS}")
    crd = yaml.safe_load((KCC_SCHEMAS / KCC_FILES[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {
        "type": "object"
    }  # the API server checks metadata, not the CRD
    schema["properties"].pop("status", None)
    return jsonschema.Draft7Validator(_closed(schema))


def validate_all(result) -> None:
    for resource in result.resources:
        body = resource.body
        if resource.is_gce:
            errors = [e.message for e in kcc_validator(resource.kind).iter_errors(body)]
            assert errors == [], f"{resource.describe()}: {errors}"
        else:
            kubernetes_validate.validate(body, K8S_VERSION, strict=True)


@pytest.fixture
def template_result():
    return render_tree(DirectoryTree(REPO_ROOT / "repo-template"))


def by_kind(result, kind: str, app: str) -> list[dict[str, Any]]:
    return [r.body for r in result.resources if r.kind == kind and r.app.path == app]


def test_repo_template_renders_valid_objects(template_result):
    validate_all(template_result)
    kinds = {r.kind for r in template_result.resources if r.is_gce}
    assert kinds == set(KCC_FILES)


def test_kcc_validation_rejects_unknown_fields():
    """The check above would be worthless if unknown fields passed."""
    address = {
        "apiVersion": "compute.cnrm.cloud.google.com/v1beta1",
        "kind": "ComputeAddress",
        "metadata": {"name": "x"},
        "spec": {"location": "us-central1", "adressType": "EXTERNAL"},
    }
    assert list(kcc_validator("ComputeAddress").iter_errors(address))


def test_external_makes_address_firewall_pool_and_rule(template_result):
    result = template_result
    (address,) = by_kind(result, "ComputeAddress", "web/frontend")
    (firewall,) = by_kind(result, "ComputeFirewall", "web/frontend")
    (pool,) = by_kind(result, "ComputeTargetPool", "web/frontend")
    https, rule = by_kind(result, "ComputeForwardingRule", "web/frontend")  # by path
    assert address["metadata"]["name"] == "frontend-ip"
    assert address["spec"]["location"] == "us-central1"
    assert firewall["spec"]["allow"] == [{"protocol": "tcp", "ports": ["80", "443"]}]
    assert firewall["spec"]["sourceRanges"] == ["0.0.0.0/0"]
    assert firewall["spec"]["targetTags"] == ["k8s-home-node"]
    assert pool["spec"]["region"] == "us-central1"
    assert rule["spec"]["ipAddress"]["addressRef"]["name"] == "frontend-ip"
    assert rule["metadata"]["annotations"]["gitkube.dev/target-pool"] == pool["metadata"]["name"]
    # One rule per run of listed ports: 81..442 are never forwarded.
    assert (rule["metadata"]["name"], rule["spec"]["portRange"]) == ("frontend-tcp", "80-80")
    assert (https["metadata"]["name"], https["spec"]["portRange"]) == (
        "frontend-tcp-443",
        "443-443",
    )
    assert https["spec"]["ipAddress"] == rule["spec"]["ipAddress"]
    (service,) = by_kind(result, "Service", "web/frontend")
    assert service["metadata"]["annotations"]["gitkube.dev/external-address"] == "frontend-ip"
    # Internal apps get nothing public.
    assert by_kind(result, "ComputeAddress", "web/ghost") == []


def test_gce_objects_carry_ownership(template_result):
    for resource in template_result.resources:
        if resource.is_gce:
            assert template_result.inventory()["applysetId"] in resource.body["spec"]["description"]
            assert "gitkube-applyset" in resource.body["metadata"]["labels"]
        else:
            assert resource.body["metadata"]["labels"]["applyset.kubernetes.io/part-of"].startswith(
                "applyset-"
            )


def test_volumes_mount_in_every_container(template_result):
    (deployment,) = by_kind(template_result, "Deployment", "web/frontend")
    spec = deployment["spec"]["template"]["spec"]
    assert {"name": "conf", "configMap": {"name": "frontend-conf"}} in spec["volumes"]
    assert {"name": "cache", "emptyDir": {}} in spec["volumes"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert {"name": "conf", "mountPath": "/etc/nginx/conf.d"} in mounts


def test_disk_pv_mode(template_result):
    (disk,) = by_kind(template_result, "ComputeDisk", "minecraft")
    (pv,) = by_kind(template_result, "PersistentVolume", "minecraft")
    (pvc,) = by_kind(template_result, "PersistentVolumeClaim", "minecraft")
    assert disk["spec"] == {
        "location": "us-central1-b",
        "size": 50,
        "type": "pd-standard",
        "description": disk["spec"]["description"],
    }
    assert (
        pv["spec"]["csi"]["volumeHandle"]
        == "projects/my-proj/zones/us-central1-b/disks/minecraft-world"
    )
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert "namespace" not in pv["metadata"]
    (deployment,) = by_kind(template_result, "Deployment", "minecraft")
    spec = deployment["spec"]["template"]["spec"]
    assert {
        "name": "disk-minecraft-world",
        "persistentVolumeClaim": {"claimName": "minecraft-world"},
    } in spec["volumes"]


def test_disk_node_mode(make_repo):
    repo = make_repo(
        {
            "minecraft/app.yaml": "disks:\n- {name: world, sizeGb: 50, mount: /world, mode: node, node: bar-node-1}\n",
            "minecraft/deploy.yaml": """\
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: minecraft}
                spec:
                  template:
                    spec:
                      containers: [{name: mc, image: "itzg/minecraft-server:2024.10.0"}]
                """,
        }
    )
    result = render_tree(DirectoryTree(repo))
    validate_all(result)
    (disk,) = by_kind(result, "ComputeDisk", "minecraft")
    assert disk["metadata"]["annotations"]["gitkube.dev/attach-to-instance"] == "bar-node-1"
    (job,) = by_kind(result, "Job", "minecraft")
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "bar-node-1"}
    assert pod["containers"][0]["securityContext"]["privileged"] is True
    script = pod["containers"][0]["command"][-1]
    assert "blkid" in script and script.index("blkid") < script.index("mkfs")
    assert "/host/mnt/world" in script
    (deployment,) = by_kind(result, "Deployment", "minecraft")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "bar-node-1"}
    assert {"name": "disk-world", "hostPath": {"path": "/mnt/world", "type": "Directory"}} in spec[
        "volumes"
    ]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "disk-world", "mountPath": "/world"}]
    assert by_kind(result, "PersistentVolume", "minecraft") == []


def test_disk_needs_zone(make_repo, cli, tmp_path):
    repo = make_repo(
        {"a/app.yaml": "disks:\n- {name: d, sizeGb: 1, mount: /d}\n"},
        config="cluster: {name: home}\n",
    )
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "a/app.yaml" in result.stderr and "cluster.zone" in result.stderr


def test_external_without_matching_service_is_an_error(make_repo, cli, tmp_path):
    repo = make_repo(
        {
            "a/app.yaml": "external: {address: a-ip, ports: [8080]}\n",
            "a/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n",
        }
    )
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "a/app.yaml" in result.stderr and "8080" in result.stderr


def test_volume_conflict_is_an_error(make_repo, cli, tmp_path):
    repo = make_repo(
        {
            "a/app.yaml": "volumes:\n- {name: conf, mount: /etc/x, configMap: x}\n",
            "a/pod.yaml": """\
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec:
                  containers: [{name: c, image: "busybox:1.36"}]
                  volumes: [{name: conf, emptyDir: {}}]
                """,
        }
    )
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "a/pod.yaml" in result.stderr and '"conf"' in result.stderr


def test_render_is_deterministic(template_result):
    again = render_tree(DirectoryTree(REPO_ROOT / "repo-template"))
    assert again.all_files("x") == template_result.all_files("x")


def test_template_files_path_layout(template_result):
    paths = set(template_result.files)
    assert "web/frontend/deployment-frontend.yaml" in paths
    assert "web/frontend/computeaddress-frontend-ip.yaml" in paths
    assert all(not Path(p).is_absolute() for p in paths)
