"""Names, scopes, Lists, limits and app settings, checked as the API server would (issue 10)."""

from __future__ import annotations

import textwrap

import pytest

from gitkube.domain.resources import App, Resource
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import MemoryTree
from gitkube.primitives.yamlio import load_documents
from gitkube.render.pipeline import MAX_OBJECT_BYTES, render_tree
from tests.conftest import MINIMAL_CONFIG


def render(files: dict[str, str | bytes], config: str = MINIMAL_CONFIG):
    blobs = {"gitkube.yaml": config.encode()}
    for path, text in files.items():
        blobs[path] = text if isinstance(text, bytes) else textwrap.dedent(text).encode()
    return render_tree(MemoryTree(blobs))


def fails(files: dict[str, str | bytes], *expected: str, config: str = MINIMAL_CONFIG) -> str:
    with pytest.raises(GitkubeError) as info:
        render(files, config)
    message = str(info.value)
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


def obj(
    kind: str, name: str, api: str = "v1", namespace: str | None = None, extra: str = ""
) -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return f'apiVersion: {api}\nkind: {kind}\nmetadata: {{name: "{name}"{ns}}}\n{extra}'


RBAC = "rbac.authorization.k8s.io/v1"
KNATIVE = "serving.knative.dev/v1"
GCE = "compute.cnrm.cloud.google.com/v1beta1"


# -- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,api,name",
    [
        ("ConfigMap", "v1", "../../../../tmp/x"),
        ("ConfigMap", "v1", ".."),
        ("ConfigMap", "v1", "Upper"),
        ("ConfigMap", "v1", "a" * 254),
        ("Service", "v1", "a.b"),  # a DNS label: no dots
        ("Service", "v1", "a" * 64),
        ("Namespace", "v1", "a.b"),
        ("CronJob", "batch/v1", "c" * 53),
        ("Job", "batch/v1", "j" * 64),
        ("ClusterRole", RBAC, "a/b"),
        ("ClusterRole", RBAC, "50%"),
        ("Thing", "example.com/v1", "."),
        ("Thing", "example.com/v1", "a\\nb"),  # a YAML escape: a newline
    ],
)
def test_names_the_api_server_refuses(kind, api, name):
    fails({"web/a/x.yaml": obj(kind, name, api)}, "web/a/x.yaml", "metadata.name")


@pytest.mark.parametrize(
    "kind,api,name,path",
    [
        ("ClusterRole", RBAC, "system:metrics-server", "clusterrole-system:metrics-server.yaml"),
        ("Deployment", "apps/v1", "a.b", "deployment-a.b.yaml"),
        ("Thing", "example.com/v1", "Mixed_Case name", "thing.example.com-Mixed_Case name.yaml"),
    ],
)
def test_names_the_api_server_takes(kind, api, name, path):
    result = render({"web/a/x.yaml": obj(kind, name, api)})
    assert list(result.files) == [f"web/a/{path}"]


def test_namespace_must_be_a_dns_label():
    fails({"web/a/x.yaml": obj("ConfigMap", "x", namespace="Bad_NS")}, "metadata.namespace")


def test_longest_name_gets_a_file_name_a_file_system_takes():
    result = render({"web/a/x.yaml": obj("ConfigMap", "a" * 253)})
    (path,) = result.files
    assert len(path.rsplit("/", 1)[1].encode()) <= 255
    assert result.resources[0].name == "a" * 253


@pytest.mark.parametrize("directory", ["Web App", "web/UPPER", "web/-x", "web/x_"])
def test_app_directories_with_unsafe_names(directory):
    fails({f"{directory}/x.yaml": obj("ConfigMap", "x")}, f"{directory}/x.yaml", "app directory")


def test_app_directory_named_like_a_rendered_file():
    files = {
        "web/a/x.yaml": obj("ConfigMap", "a"),
        "web/a/configmap-a.yaml/y.yaml": obj("ConfigMap", "b"),
    }
    fails(files, "web/a/configmap-a.yaml", "both a rendered file and a directory")


def test_gce_names_follow_compute_rules():
    fails({"web/a/x.yaml": obj("ComputeAddress", "Bad", GCE)}, "metadata.name", "Compute Engine")
    spec = "spec: {resourceID: ../evil, location: us-central1}\n"
    fails({"web/a/x.yaml": obj("ComputeAddress", "ok", GCE, extra=spec)}, "spec.resourceID")
    ref = "spec: {ipAddress: {addressRef: {name: ../../x}}}\n"
    fails(
        {"web/a/x.yaml": obj("ComputeForwardingRule", "r", GCE, extra=ref)},
        "spec.ipAddress.addressRef.name",
    )
    disk = "spec: {location: us-central1-b, type: ../../x}\n"
    fails({"web/a/x.yaml": obj("ComputeDisk", "d", GCE, extra=disk)}, "spec.type")
    # resourceID, when given, is the GCE name; metadata.name is then a Kubernetes name
    spec = "spec: {resourceID: real-name, location: us-central1}\n"
    render({"web/a/x.yaml": obj("ComputeAddress", "k8s.name", GCE, extra=spec)})


def test_attach_annotation_written_by_hand_is_checked():
    disk = obj(
        "ComputeDisk",
        "d",
        GCE,
        extra="spec: {location: us-central1-b}\n",
    ).replace(
        "metadata: {", "metadata: {annotations: {gitkube.dev/attach-to-instance: ../../x/y}, "
    )
    fails({"web/a/disk.yaml": disk}, "web/a/disk.yaml", "attach-to-instance")


def test_disk_node_must_be_an_instance_name():
    app = (
        "disks: [{name: d, sizeGb: 10, mount: /data, mode: node, "
        'node: "../../zones/x/instances/evil"}]\n'
    )
    fails({"web/a/app.yaml": app, "web/a/x.yaml": obj("ConfigMap", "x")}, "web/a/app.yaml", "node")


def test_config_values_that_go_into_compute_urls():
    config = MINIMAL_CONFIG.replace("zone: us-central1-b", "zone: ../../x")
    fails({"web/a/x.yaml": obj("ConfigMap", "x")}, "gitkube.yaml", "zone", config=config)


# -- Lists ----------------------------------------------------------------------------

LIST = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: one}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: two},
   spec: {template: {spec: {containers: [{name: c, image: "nginx:1"}]}}}}
"""


def test_list_items_become_objects():
    result = render({"web/a/list.yaml": LIST})
    assert sorted(result.files) == ["web/a/configmap-one.yaml", "web/a/deployment-two.yaml"]
    for resource in result.resources:
        labels = resource.body["metadata"]["labels"]
        assert labels["app"] == "a" and "applyset.kubernetes.io/part-of" in labels
    (deployment,) = [r for r in result.resources if r.kind == "Deployment"]
    assert deployment.body["spec"]["selector"]["matchLabels"]["app"] == "a"


def test_typed_list_is_expanded():
    text = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n"
    assert list(render({"web/a/l.yaml": text}).files) == ["web/a/configmap-c.yaml"]


def test_list_item_errors_name_the_item():
    text = LIST + "- {apiVersion: v1, kind: ConfigMap, metadata: {}}\n"
    fails({"web/a/list.yaml": text}, "web/a/list.yaml", "document 1, item 3", "metadata.name")


def test_secret_in_a_list_is_refused():
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {a: b}}\n"
    fails({"web/a/list.yaml": text}, "web/a/list.yaml", "item 1", "plaintext Secret")


def test_list_item_duplicate_of_a_document():
    files = {"web/a/list.yaml": LIST, "web/a/cm.yaml": obj("ConfigMap", "one")}
    fails(files, "defined twice", "web/a/list.yaml, item 1 of the List in document 1")


# -- identity and scope ---------------------------------------------------------------


def test_same_kind_and_name_in_two_groups_both_render():
    files = {
        "web/a/svc.yaml": obj("Service", "a", extra="spec: {ports: [{port: 80}]}\n"),
        "web/a/ksvc.yaml": obj("Service", "a", KNATIVE),
    }
    assert sorted(render(files).files) == [
        "web/a/service-a.yaml",
        "web/a/service.serving.knative.dev-a.yaml",
    ]


def test_identity_uses_group_not_version():
    files = {
        "web/a/h1.yaml": obj("HorizontalPodAutoscaler", "h", "autoscaling/v1"),
        "web/b/h2.yaml": obj("HorizontalPodAutoscaler", "h", "autoscaling/v2"),
    }
    fails(files, "defined twice")


def test_stray_namespace_on_a_cluster_scoped_kind():
    files = {
        "web/a/r.yaml": obj("ClusterRole", "x", RBAC),
        "web/b/r.yaml": obj("ClusterRole", "x", RBAC, namespace="other"),
    }
    fails(files, "web/b/r.yaml", "cluster-scoped")


@pytest.mark.parametrize(
    "kind,api",
    [
        ("VolumeAttributesClass", "storage.k8s.io/v1"),
        ("ServiceCIDR", "networking.k8s.io/v1"),
        ("IPAddress", "networking.k8s.io/v1"),
        ("MutatingAdmissionPolicy", "admissionregistration.k8s.io/v1beta1"),
        ("ClusterTrustBundle", "certificates.k8s.io/v1beta1"),
        ("DeviceClass", "resource.k8s.io/v1"),
        ("ResourceSlice", "resource.k8s.io/v1"),
        ("StorageVersionMigration", "storagemigration.k8s.io/v1alpha1"),
    ],
)
def test_cluster_scoped_kinds_get_no_namespace(kind, api):
    (resource,) = render({"web/a/x.yaml": obj(kind, "x", api)}).resources
    assert "namespace" not in resource.body["metadata"]
    assert resource.id.namespace is None


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.example.com}}
spec:
  group: example.com
  names: {{kind: Widget, plural: widgets}}
  scope: {scope}
"""


def test_crd_in_the_repo_decides_scope():
    namespaced = render(
        {
            "crds/w/crd.yaml": CRD.format(scope="Namespaced"),
            "web/a/w.yaml": obj("Widget", "w", "example.com/v1"),
        }
    )
    (widget,) = [r for r in namespaced.resources if r.kind == "Widget"]
    assert widget.namespace == "default"
    cluster = {"crds/w/crd.yaml": CRD.format(scope="Cluster")}
    (widget,) = [
        r
        for r in render({**cluster, "web/a/w.yaml": obj("Widget", "w", "example.com/v1")}).resources
        if r.kind == "Widget"
    ]
    assert widget.namespace is None
    fails(
        {**cluster, "web/a/w.yaml": obj("Widget", "w", "example.com/v1", namespace="x")},
        "web/a/w.yaml",
        "cluster-scoped",
    )


def test_unknown_kind_is_namespaced_only_with_a_namespace():
    result = render(
        {
            "web/a/a.yaml": obj("Gadget", "a", "example.com/v1"),
            "web/a/b.yaml": obj("Gadget", "b", "example.com/v1", namespace="tools"),
        }
    )
    by_name = {r.name: r for r in result.resources}
    assert by_name["a"].namespace is None and by_name["a"].id.namespace is None
    assert by_name["b"].id.namespace == "tools"
    assert "web/a/gadget.example.com-b.tools.yaml" in result.files


def test_common_paths_are_unchanged():
    files = {
        "web/a/d.yaml": obj("Deployment", "a", "apps/v1"),
        "web/a/r.yaml": obj("Role", "reader", RBAC, namespace="kube-system"),
        "web/a/g.yaml": obj("ComputeAddress", "ip", GCE, extra="spec: {location: us-central1}\n"),
        "web/a/e.yaml": obj("Event", "e", "events.k8s.io/v1"),
    }
    assert sorted(render(files).files) == [
        "web/a/computeaddress-ip.yaml",
        "web/a/deployment-a.yaml",
        "web/a/event.events.k8s.io-e.yaml",
        "web/a/role-reader.kube-system.yaml",
    ]


# -- limits ---------------------------------------------------------------------------


def test_file_over_the_limit_is_refused_before_parsing():
    config = MINIMAL_CONFIG + "render: {maxFileBytes: 100}\n"
    # not YAML at all: refused for its size, never parsed
    fails({"web/a/x.yaml": b"[" * 200}, "web/a/x.yaml", "over the limit of 100", config=config)


def test_limit_must_be_a_whole_number():
    config = MINIMAL_CONFIG + "render: {maxFileBytes: 100.5}\n"
    fails({"web/a/x.yaml": obj("ConfigMap", "x")}, "gitkube.yaml", "maxFileBytes", config=config)


def test_object_over_the_etcd_limit():
    config = MINIMAL_CONFIG + f"render: {{maxFileBytes: {4 * MAX_OBJECT_BYTES}}}\n"
    big = obj("ConfigMap", "big", extra=f"data: {{blob: {'x' * (MAX_OBJECT_BYTES + 10)}}}\n")
    fails({"web/a/big.yaml": big}, "web/a/big.yaml", "ConfigMap big", "etcd", config=config)


# -- app settings ---------------------------------------------------------------------

SERVICE = obj("Service", "web", extra="spec: {ports: [{port: 80}]}\n")


def test_a_whole_float_is_the_integer_kubectl_reads():
    # kubectl reads 80.0 as the JSON number 80 (Go writes whole floats so): it is port 80.
    result = render(
        {
            "web/a/svc.yaml": SERVICE,
            "web/a/app.yaml": "external: {address: ip, ports: [80.0, 443]}\n",
        }
    )
    ranges = sorted(
        r.body["spec"]["portRange"] for r in result.resources if r.kind == "ComputeForwardingRule"
    )
    assert ranges == ["443-443", "80-80"]


@pytest.mark.parametrize(
    "app_yaml,expected",
    [
        ("external: {address: ip, ports: [80.5, 443]}\n", "integer"),
        ("disks: [{name: d, sizeGb: 10.5, mount: /data}]\n", "integer"),
        ("disks: [{name: d, sizeGb: true, mount: /data}]\n", "integer"),
        (
            "volumes: [{name: v, mount: /etc/../../root, emptyDir: {}}]\n",
            "absolute-normalized-path",
        ),
        ("volumes: [{name: v, mount: relative, emptyDir: {}}]\n", "mount"),
        ("volumes: [{name: v, mount: /x, subPath: ../up, emptyDir: {}}]\n", "subPath"),
        ('labels: {"Bad Key": x}\n', "kubernetes-label-key"),
        (f"labels: {{k: {'v' * 64}}}\n", "at most 63"),
        (f"labels: {{{'p' * 254}/k: v}}\n", "prefix"),
        ("labels: {applyset.kubernetes.io/part-of: mine}\n", "gitkube's own"),
        ("labels: [a]\n", "is not of type 'object'"),
    ],
)
def test_app_settings_are_checked(app_yaml, expected):
    files = {"web/a/app.yaml": app_yaml, "web/a/svc.yaml": SERVICE}
    message = fails(files, "web/a/app.yaml", expected)
    assert "AssertionError" not in message


def test_manifest_labels_follow_kubernetes_rules():
    bad = obj("ConfigMap", "x").replace("metadata: {", "metadata: {labels: {a: [1]}, ")
    fails({"web/a/x.yaml": bad}, "web/a/x.yaml", "string value")
    bad = obj("ConfigMap", "x").replace("metadata: {", "metadata: {labels: [a], ")
    message = fails({"web/a/x.yaml": bad}, "web/a/x.yaml", "labels must be a mapping")
    assert "AssertionError" not in message


def test_selector_expression_contradicting_the_app_label():
    deployment = """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          selector:
            matchExpressions: [{key: app, operator: In, values: [other]}]
          template: {spec: {containers: [{name: c, image: "nginx:1"}]}}
        """
    fails({"web/a/d.yaml": deployment}, "web/a/d.yaml", "matchExpressions[0]", "app In")
    agreeing = deployment.replace("[other]", "[a, other]")
    render({"web/a/d.yaml": agreeing})


# -- reading never mutates -----------------------------------------------------------


def test_reading_labels_and_annotations_adds_nothing():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    resource = Resource(body, App("web/a", "a"), "web/a/x.yaml")
    assert dict(resource.labels()) == {} and resource.annotations().get("k") is None
    assert "k" not in resource.annotations()
    assert body["metadata"] == {"name": "x"}
    resource.annotations()["k"] = "v"  # writing through the view still works
    resource.ensure_labels()["l"] = "w"
    assert body["metadata"] == {"name": "x", "annotations": {"k": "v"}, "labels": {"l": "w"}}


def test_validators_reading_annotations_leave_no_empty_mapping():
    # external's validator reads every Service's annotations; the one that
    # serves no external port must not gain "annotations: {}".
    files = {
        "web/a/app.yaml": "external: {address: ip, ports: [80]}\n",
        "web/a/svc.yaml": SERVICE,
        "web/a/other.yaml": obj("Service", "other", extra="spec: {ports: [{port: 9000}]}\n"),
    }
    result = render(files)
    assert b"annotations" not in result.files["web/a/service-other.yaml"]


# -- shapes the plugins rely on -----------------------------------------------------


@pytest.mark.parametrize(
    "manifest,field",
    [
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: []\n", "spec must be"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: []}\n",
            "spec.selector must be a mapping",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
            "spec: {template: {metadata: {labels: []}}}\n",
            "spec.template.metadata.labels",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [a]}\n", "spec.ports"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
            "spec: {template: {metadata: {labels: {tier: Bad Value}}}}\n",
            "spec.template.metadata.label",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [a]}\n",
            "containers[0]",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
            "spec: {containers: [{name: c, volumeMounts: x}]}\n",
            "volumeMounts",
        ),
        (
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: []}\n",
            "jobTemplate",
        ),
        (
            f"apiVersion: {GCE}\nkind: ComputeAddress\nmetadata: {{name: a}}\nspec: []\n",
            "spec must be",
        ),
        (
            f"apiVersion: {GCE}\nkind: ComputeAddress\nmetadata: {{name: a}}\nspec:\n",
            "spec is empty",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n", "spec is empty"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
            "spec: {selector: {matchLabels: null}}\n",
            "spec.selector.matchLabels is empty",
        ),
    ],
)
def test_wrong_shapes_are_named_not_crashed_on(manifest, field):
    app = "volumes: [{name: v, mount: /data, emptyDir: {}}]\nexternal: {address: ip, ports: [80]}\n"
    message = fails({"web/a/app.yaml": app, "web/a/x.yaml": manifest}, "web/a/x.yaml", field)
    assert "raised" not in message


def test_directory_file_over_the_limit_is_never_read(tmp_path, monkeypatch):
    from gitkube.primitives.filetree import DirectoryTree

    (tmp_path / "web/a").mkdir(parents=True)
    (tmp_path / "gitkube.yaml").write_text(MINIMAL_CONFIG + "render: {maxFileBytes: 1000}\n")
    (tmp_path / "web/a/huge.yaml").write_bytes(b"#" * 5000)
    real_read = DirectoryTree.read

    def read(self, path):
        assert path != "web/a/huge.yaml", "read before its size was checked"
        return real_read(self, path)

    monkeypatch.setattr(DirectoryTree, "read", read)
    with pytest.raises(GitkubeError, match="over the limit"):
        render_tree(DirectoryTree(tmp_path))


@pytest.mark.parametrize("depth", [250, 1_500, 9_990])
def test_nesting_that_kubernetes_takes_renders(depth):
    manifest = obj(
        "Widget",
        "d",
        api="example.com/v1",
        namespace="default",
        extra="spec: " + "{a: " * depth + "1" + "}" * depth + "\n",
    )
    result = render({"web/a/deep.yaml": manifest})
    (path,) = [p for p in result.files if p.startswith("web/a/")]
    (rendered,) = load_documents(result.files[path], path)
    node = rendered["spec"]
    for _ in range(depth - 1):
        node = node["a"]
    assert node == {"a": 1}


def test_nesting_past_kubernetes_limit_is_refused_naming_the_file():
    depth = 10_001
    manifest = obj("ConfigMap", "d", extra="data: " + "{a: " * depth + "1" + "}" * depth + "\n")
    fails({"web/a/deep.yaml": manifest}, "web/a/deep.yaml", "nesting deeper than 10000")
