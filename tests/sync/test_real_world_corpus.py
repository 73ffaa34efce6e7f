"""Repos in the shapes of real ones nobody here wrote, rendered and synced into the real control plane.

The shapes come from the corpora gitkube was tried on (issue #11):
prometheus-operator with cert-manager (CRDs, a cluster-scoped custom resource,
a Service selecting pods the operator makes), argocd-example-apps' guestbook
(every manifest labelled ``app: guestbook-ui``), Kubernetes' documented
Service without a selector and its hand-written EndpointSlice, a workload with
values the server normalises, an apiVersion the cluster no longer serves, and
a namespace stuck Terminating. The repos are small and written here.
"""

from __future__ import annotations

import json
import uuid

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from tests.sync.conftest import RECORD_KEYS, kubectl_diff_rendered, record_requests


def get(kube: KubeApi, path: str) -> dict | None:
    try:
        return kube.request("GET", path)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise


def crd(group: str, kind: str, plural: str, scope: str, versions: tuple[str, ...] = ("v1",)) -> str:
    served = "".join(
        f"""\
  - name: {version}
    served: true
    storage: {"true" if i == 0 else "false"}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""
        for i, version in enumerate(versions)
    )
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: {scope}
  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, listKind: {kind}List}}
  versions:
{served}"""


def operator_corpus(tag: str) -> dict[str, str]:
    """prometheus-operator + cert-manager, shrunk: two CRDs, their custom resources, a
    Service selecting the pods the operator makes, and an app namespace of its own."""
    certs, monitoring = f"cert-manager-{tag}.io", f"monitoring-{tag}.coreos.com"
    return {
        "operators/crds/crds.yaml": crd(certs, "ClusterIssuer", "clusterissuers", "Cluster")
        + "---\n"
        + crd(monitoring, "Prometheus", "prometheuses", "Namespaced"),
        "operators/crds/app.yaml": "name: crds\n",
        "operators/prometheus/app.yaml": f"namespace: mon-{tag}\n",
        "operators/prometheus/prometheus.yaml": f"""\
apiVersion: {monitoring}/v1
kind: Prometheus
metadata: {{name: main}}
spec: {{replicas: 1, serviceAccountName: prometheus}}
---
apiVersion: v1
kind: Service
metadata: {{name: prometheus}}
spec:
  selector: {{prometheus: main}}
  ports: [{{port: 9090, name: web}}]
""",
        "operators/issuer/issuer.yaml": f"""\
apiVersion: {certs}/v1
kind: ClusterIssuer
metadata: {{name: selfsigned-{tag}}}
spec: {{selfSigned: {{}}}}
""",
    }


GUESTBOOK = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: guestbook-ui, labels: {app: guestbook-ui}}
spec:
  replicas: 1
  selector: {matchLabels: {app: guestbook-ui}}
  template:
    metadata:
      labels: {app: guestbook-ui}
      creationTimestamp: null
    spec:
      containers:
      - name: guestbook-ui
        image: gcr.io/heptio-images/ks-guestbook-demo:0.2
        resources: {requests: {cpu: 0.5, memory: 1073741824}}
---
apiVersion: v1
kind: Service
metadata: {name: guestbook-ui, labels: {app: guestbook-ui}}
spec:
  selector: {app: guestbook-ui}
  ports: [{port: 80, targetPort: 80}]
"""

EXTERNAL_DB = """\
apiVersion: v1
kind: Service
metadata: {name: external-db}
spec:
  ports: [{port: 5432, name: pg}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-db-1
  labels: {kubernetes.io/service-name: external-db}
addressType: IPv4
ports: [{port: 5432, name: pg}]
endpoints: [{addresses: [10.1.2.3]}]
"""


def test_operator_and_plain_corpora_sync_cleanly_and_resync_with_only_lists(
    sync_repo, kube, controlplane, tmp_path, monkeypatch
):
    tag = uuid.uuid4().hex[:6]
    repo = sync_repo(
        {
            **operator_corpus(tag),
            "examples/guestbook/all.yaml": GUESTBOOK,
            "examples/external-db/all.yaml": EXTERNAL_DB,
        }
    )
    calls = record_requests(monkeypatch)
    first = repo.sync_json()
    monkeypatch.undo()
    assert first["created"] == 10, [(c["kind"], c["name"]) for c in first["changes"]]
    # The CRDs are waited for together through discovery, not by reading each back.
    assert [p for m, p, _q in calls if m == "GET" and "/customresourcedefinitions/" in p] == []
    assert first["deleted"] == 0

    # The cluster-scoped custom resource has no namespace and stays put.
    issuer = kube.request("GET", f"/apis/cert-manager-{tag}.io/v1/clusterissuers/selfsigned-{tag}")
    assert "namespace" not in issuer["metadata"]
    # The app namespace from app.yaml, created for it; the operator's pods stay selected.
    prometheus = kube.request("GET", f"/api/v1/namespaces/mon-{tag}/services/prometheus")
    assert prometheus["spec"]["selector"] == {"prometheus": "main"}
    kube.request(
        "GET", f"/apis/monitoring-{tag}.coreos.com/v1/namespaces/mon-{tag}/prometheuses/main"
    )
    # No selector where none was written: the EndpointSlice stays the Service's only source.
    db = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/services/external-db")
    assert "selector" not in db["spec"]
    # The app is named by the label its manifests carry; no app.yaml needed.
    ui = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/services/guestbook-ui")
    assert ui["metadata"]["labels"]["app"] == "guestbook-ui"
    assert ui["metadata"]["annotations"]["gitkube.dev/app"] == "examples/guestbook"

    result, changed = kubectl_diff_rendered(repo, controlplane.kubeconfig, tmp_path / "rendered")
    for text in changed:
        assert text.startswith((*RECORD_KEYS, "annotations:", "generation:")), result.stdout
    assert result.returncode in (0, 1), result.stderr

    # Again and again: nothing flaps (the ClusterIssuer used to be created and
    # pruned in turn), and no request but GETs, none of them per object.
    calls = record_requests(monkeypatch)
    for _ in range(2):
        again = repo.sync_json()
        assert again["changes"] == [], again["changes"]
        assert again["unchanged"] == 10
    assert [c for c in calls if c[0] != "GET"] == []
    per_object = [
        p
        for m, p, _q in calls
        if m == "GET"
        and p.rsplit("/", 1)[-1]
        in {
            "main",
            "guestbook-ui",
            f"selfsigned-{tag}",
            "external-db",
        }
    ]
    assert per_object == []


def test_values_the_server_normalises_cost_no_dry_run_once_recorded(sync_repo, kube, monkeypatch):
    repo = sync_repo({"examples/guestbook/all.yaml": GUESTBOOK})
    repo.sync_json()
    live = kube.request(
        "GET", f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/guestbook-ui"
    )
    requests = live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": "500m", "memory": "1073741824"}  # the server's form
    assert "gitkube.dev/server-form-hash" in live["metadata"]["annotations"]

    calls = record_requests(monkeypatch)
    assert repo.sync_json()["changes"] == []
    assert [c for c in calls if c[0] == "PATCH"] == []  # no dry-run
    monkeypatch.undo()

    # A member without the record (synced before it existed) gets it once.
    path = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/guestbook-ui"
    kube.request(
        "PATCH",
        path,
        body={"metadata": {"annotations": {"gitkube.dev/server-form-hash": None}}},
        content_type="application/merge-patch+json",
    )
    (once,) = repo.sync_json()["changes"]
    assert once["fields"] == ["metadata.annotations.gitkube.dev/server-form-hash"], once
    assert "its own form" in once["note"]
    assert repo.sync_json()["changes"] == []

    # A change by hand to one of those values is still drift, found and healed.
    kube.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/guestbook-ui",
        body={
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "guestbook-ui", "resources": {"requests": {"cpu": "2"}}}
                        ]
                    }
                }
            }
        },
        content_type="application/strategic-merge-patch+json",
    )
    healed = repo.sync_json("--force-conflicts")  # the hand edit took the field's ownership
    (change,) = healed["changes"]
    assert change["action"] == "update"
    assert any("cpu" in f for f in change["fields"]), change


def test_unservable_plan_is_refused_whole_naming_every_problem(sync_repo, kube):
    tag = uuid.uuid4().hex[:6]
    served_group = f"served-{tag}.example.com"
    kube.request(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        body=json.loads(json.dumps(_crd_body(served_group, "Gadget", "gadgets", "Cluster"))),
    )
    _wait_served(kube, served_group, "gadgets")
    kube.request(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        body=_crd_body(served_group, "Widget", "widgets", "Namespaced"),
    )
    _wait_served(kube, served_group, "widgets")
    repo = sync_repo(
        {
            "shop/cart/config.yaml": f"""\
apiVersion: v1
kind: ConfigMap
metadata: {{name: cart-{tag}}}
data: {{k: v}}
""",
            # Not served since Kubernetes 1.25; kubectl refuses the file before applying anything.
            "shop/cart/pdb.yaml": """\
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: cart}
spec: {minAvailable: 1, selector: {matchLabels: {role: cart}}}
""",
            # Its CRD is neither in the repo nor installed.
            "shop/certs/cert.yaml": f"""\
apiVersion: cert-manager-{tag}.io/v1
kind: Certificate
metadata: {{name: shop, namespace: default}}
spec: {{secretName: shop-tls}}
""",
            # Installed out of band as cluster-scoped; the manifest gives a namespace.
            "shop/gadget/gadget.yaml": f"""\
apiVersion: {served_group}/v1
kind: Gadget
metadata: {{name: g, namespace: default}}
""",
            # Installed out of band as namespaced; the manifest gives none, so the
            # render could not know it is namespaced.
            "shop/widget/widget.yaml": f"""\
apiVersion: {served_group}/v1
kind: Widget
metadata: {{name: w}}
""",
        }
    )
    result = repo.sync()
    assert result.returncode == 1
    message = result.stderr
    assert "nothing was changed: 4 problems" in message, message
    assert (
        "shop/cart/" in message
        and "apiVersion policy/v1beta1 is not served for PodDisruptionBudget (served: policy/v1)"
        in message
    ), message
    assert (
        "shop/certs/" in message and f"does not serve Certificate.cert-manager-{tag}.io" in message
    )
    assert "shop/gadget/" in message and "is cluster-scoped (the cluster)" in message
    assert "shop/widget/" in message and "is namespaced (the cluster)" in message
    # Nothing applied: not the ConfigMap that was fine, not even the ApplySet parent.
    assert get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/cart-{tag}") is None
    assert get(kube, f"/api/v1/namespaces/gitkube-system/configmaps/gitkube-{repo.cluster}") is None


def _crd_body(group: str, kind: str, plural: str, scope: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "plural": plural},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def _wait_served(kube: KubeApi, group: str, plural: str) -> None:
    import time

    for _ in range(100):
        try:
            kube.request("GET", f"/apis/{group}/v1/{plural}")
            return
        except KubeApiError:
            time.sleep(0.1)
    raise AssertionError(f"{plural}.{group} never served")


def test_a_namespace_stuck_terminating_counts_as_deleted(sync_repo, kube, monkeypatch):
    tag = uuid.uuid4().hex[:6]
    stuck = f"stuck-{tag}"
    repo = sync_repo(
        {
            "team/a/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "team/b/web/app.yaml": f"namespace: {stuck}\n",
            "team/b/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        }
    )
    assert repo.sync_json()["created"] == 3  # two ConfigMaps and the namespace for team/b/web
    repo.remove("team/b")
    repo.commit_and_render("drop team b")
    pruned = repo.sync_json("--allow-mass-prune")
    deletes = {(c["kind"], c["name"]): c for c in pruned["changes"] if c["action"] == "delete"}
    assert set(deletes) == {("ConfigMap", "b"), ("Namespace", stuck)}
    # Two apps called "web": the change names which, by path, and its file.
    assert deletes[("ConfigMap", "b")]["app"] == "team/b/web"
    assert deletes[("ConfigMap", "b")]["file"].startswith("team/b/web/")
    live = kube.request("GET", f"/api/v1/namespaces/{stuck}")
    assert live["metadata"].get("deletionTimestamp")  # no namespace controller: Terminating

    calls = record_requests(monkeypatch)
    again = repo.sync_json()
    assert again["changes"] == [] and again["deleted"] == 0, again["changes"]
    assert [c for c in calls if c[0] != "GET"] == []  # no delete, no Event

    # Objects bound for it are refused before any write, naming the file.
    repo.write(
        {
            "team/c/app.yaml": f"namespace: {stuck}\n",
            "team/c/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "team/a/web/more.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a2}\n",
        }
    )
    repo.commit_and_render("into the stuck namespace")
    refused = repo.sync()
    assert refused.returncode == 1
    assert "team/c/" in refused.stderr and f'namespace "{stuck}" is being deleted' in refused.stderr
    assert get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/a2") is None


def test_status_after_a_failed_first_sync_names_only_what_exists(sync_repo, monkeypatch):
    from tests.sync.test_ownership import fail_applying

    repo = sync_repo(
        {
            "apps/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\n",
            "apps/web/rbac.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: []
""",
        }
    )
    fail_applying(monkeypatch, "conf", "etcdserver: request timed out")
    failed = repo.sync()
    monkeypatch.undo()
    assert failed.returncode == 1
    assert "apps/web/configmap-conf.yaml, app apps/web" in failed.stderr
    status = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine,) = [s for s in json.loads(status.stdout) if s["name"] == f"gitkube-{repo.cluster}"]
    assert mine["result"] == "error"
    # The Role was written before the failure (RBAC comes first); the ConfigMap never was.
    assert mine["group_kinds"] == ["Role.rbac.authorization.k8s.io"]
    assert mine["objects"] == 1
