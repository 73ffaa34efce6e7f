"""The renderer's fixed interface: app labels on metadata, selectors and templates; images."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import require_tool, write_tree

DEPLOYMENT_AND_SERVICE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app0
spec:
  selector:
    matchLabels: {role: web}
  template:
    metadata:
      labels: {role: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: app0
spec:
  selector: {role: web}
  ports:
  - port: 80
"""


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_app_label_on_metadata_selectors_and_templates(make_repo, cli, tmp_path):
    repo = make_repo({"group0/app0/all.yaml": DEPLOYMENT_AND_SERVICE})
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    deployment = load(out / "group0/app0/deployment-app0.yaml")
    service = load(out / "group0/app0/service-app0.yaml")
    assert deployment["metadata"]["labels"]["app"] == "app0"
    assert deployment["spec"]["selector"]["matchLabels"] == {"role": "web", "app": "app0"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"role": "web", "app": "app0"}
    assert service["metadata"]["labels"]["app"] == "app0"
    assert service["spec"]["selector"] == {"role": "web", "app": "app0"}
    assert deployment["metadata"]["namespace"] == "default"


def test_labels_match_kustomize(make_repo, cli, tmp_path):
    """kubectl's built-in kustomize is the peer: same labels, selectors and images
    (where a Service selects its own app's pods, so both add the label)."""
    kubectl = require_tool("kubectl")
    repo = make_repo(
        {
            "group0/app0/all.yaml": DEPLOYMENT_AND_SERVICE,
            "group0/app0/app.yaml": "images:\n- {name: nginx, newName: gcr.io/myproj/nginx}\n",
        }
    )
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    kustomization = tmp_path / "kust"
    write_tree(
        kustomization,
        {
            "all.yaml": DEPLOYMENT_AND_SERVICE,
            "kustomization.yaml": """\
                resources: [all.yaml]
                labels:
                - pairs: {app: app0}
                  includeSelectors: true
                  includeTemplates: true
                images:
                - {name: nginx, newName: gcr.io/myproj/nginx}
                """,
        },
    )
    built = subprocess.run(
        [kubectl, "kustomize", str(kustomization)], capture_output=True, text=True, check=True
    ).stdout
    theirs = {d["kind"]: d for d in yaml.safe_load_all(built)}
    ours = {
        "Deployment": load(out / "group0/app0/deployment-app0.yaml"),
        "Service": load(out / "group0/app0/service-app0.yaml"),
    }
    for kind in ("Deployment", "Service"):
        assert ours[kind]["metadata"]["labels"]["app"] == theirs[kind]["metadata"]["labels"]["app"]
        assert ours[kind]["spec"]["selector"] == theirs[kind]["spec"]["selector"]
    assert (
        ours["Deployment"]["spec"]["template"]["metadata"]["labels"]
        == theirs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    )
    our_image = ours["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    their_image = theirs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert our_image == their_image == "gcr.io/myproj/nginx:1.25"


POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec: {{containers: [{{name: c, image: "busybox:1.36"}}]}}
"""


def render_selectors(make_repo, cli, tmp_path, files: dict[str, str]) -> dict[str, dict]:
    """Render ``files`` (under web/frontend/) and return each object's selector by file."""
    repo = make_repo({f"web/frontend/{name}": text for name, text in files.items()})
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    found = {}
    for path in (out / "web/frontend").glob("*.yaml"):
        spec = load(path).get("spec") or {}
        found[path.name] = spec.get("selector", spec.get("podSelector", "absent"))
    return found


SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  {selector}
  ports: [{{port: 80}}]
"""


def test_own_pods_selector_keeps_its_keys_and_gains_app(make_repo, cli, tmp_path):
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "pod.yaml": POD.format(name="proxy", labels="{role: proxy}"),
            "svc.yaml": SERVICE.format(name="frontend", selector="selector: {role: proxy}"),
        },
    )
    assert found["service-frontend.yaml"] == {"role": "proxy", "app": "frontend"}


def test_service_without_selector_gets_none(make_repo, cli, tmp_path):
    """The documented pattern with hand-written EndpointSlices: a selector would hand
    the Service to Kubernetes' endpoint controllers."""
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "pod.yaml": POD.format(name="p", labels="{role: db}"),
            "svc.yaml": SERVICE.format(name="external-db", selector=""),
            "slice.yaml": """\
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata:
                  name: external-db-1
                  labels: {kubernetes.io/service-name: external-db}
                addressType: IPv4
                ports: [{port: 80}]
                endpoints: [{addresses: [10.1.2.3]}]
                """,
        },
    )
    assert found["service-external-db.yaml"] == "absent"


def test_selector_of_operator_made_pods_is_left_as_written(make_repo, cli, tmp_path):
    """prometheus-operator makes the pods a Service selects; the app has no such template."""
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "svc.yaml": SERVICE.format(name="prometheus", selector="selector: {prometheus: main}"),
            "pdb.yaml": """\
                apiVersion: policy/v1
                kind: PodDisruptionBudget
                metadata: {name: prometheus}
                spec:
                  minAvailable: 1
                  selector: {matchLabels: {prometheus: main}}
                """,
            "netpol.yaml": """\
                apiVersion: networking.k8s.io/v1
                kind: NetworkPolicy
                metadata: {name: prometheus}
                spec:
                  podSelector: {matchLabels: {prometheus: main}}
                """,
        },
    )
    assert found["service-prometheus.yaml"] == {"prometheus": "main"}
    assert found["poddisruptionbudget-prometheus.yaml"] == {"matchLabels": {"prometheus": "main"}}
    assert found["networkpolicy-prometheus.yaml"] == {"matchLabels": {"prometheus": "main"}}


def test_selector_of_another_apps_pods_is_left_as_written(make_repo, cli, tmp_path):
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "pod.yaml": POD.format(name="web", labels="{role: web}"),
            "svc.yaml": SERVICE.format(name="cache", selector="selector: {app: redis}"),
        },
    )
    assert found["service-cache.yaml"] == {"app": "redis"}


def test_pdb_and_network_policy_get_no_selector_and_empty_ones_stay_empty(make_repo, cli, tmp_path):
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "pod.yaml": POD.format(name="web", labels="{role: web}"),
            "pdb.yaml": """\
                apiVersion: policy/v1
                kind: PodDisruptionBudget
                metadata: {name: web}
                spec: {minAvailable: 1}
                """,
            "netpol.yaml": """\
                apiVersion: networking.k8s.io/v1
                kind: NetworkPolicy
                metadata: {name: deny-all}
                spec: {podSelector: {}}
                """,
        },
    )
    assert found["poddisruptionbudget-web.yaml"] == "absent"
    assert found["networkpolicy-deny-all.yaml"] == {}


def test_pdb_and_network_policy_selecting_own_pods_gain_app(make_repo, cli, tmp_path):
    found = render_selectors(
        make_repo,
        cli,
        tmp_path,
        {
            "pod.yaml": POD.format(name="web", labels="{role: web, tier: front}"),
            "pdb.yaml": """\
                apiVersion: policy/v1
                kind: PodDisruptionBudget
                metadata: {name: web}
                spec:
                  minAvailable: 1
                  selector:
                    matchLabels: {role: web}
                    matchExpressions: [{key: tier, operator: In, values: [front]}]
                """,
            "netpol.yaml": """\
                apiVersion: networking.k8s.io/v1
                kind: NetworkPolicy
                metadata: {name: web}
                spec: {podSelector: {matchLabels: {role: web}}}
                """,
        },
    )
    assert found["poddisruptionbudget-web.yaml"]["matchLabels"] == {
        "role": "web",
        "app": "frontend",
    }
    assert found["networkpolicy-web.yaml"] == {"matchLabels": {"role": "web", "app": "frontend"}}


def test_app_yaml_name_and_labels(make_repo, cli, tmp_path):
    repo = make_repo(
        {
            "web/fe/app.yaml": "name: frontend\nlabels: {tier: web}\n",
            "web/fe/pod.yaml": """\
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec: {containers: [{name: c, image: "busybox:1.36"}]}
                """,
        }
    )
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    pod = load(out / "web/fe/pod-p.yaml")
    assert pod["metadata"]["labels"]["app"] == "frontend"
    assert pod["metadata"]["labels"]["tier"] == "web"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitkube"


def test_image_rewrite_with_tag_and_digest(make_repo, cli, tmp_path):
    digest = "sha256:" + "a" * 64
    repo = make_repo(
        {
            "a/app.yaml": f"""\
                images:
                - {{name: nginx, newName: gcr.io/myproj/nginx, newTag: "1.27"}}
                - {{name: "registry.local:5000/tool", digest: "{digest}"}}
                """,
            "a/pod.yaml": """\
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec:
                  initContainers: [{name: init, image: "registry.local:5000/tool:3"}]
                  containers: [{name: c, image: "nginx:1.25"}, {name: d, image: "redis:7"}]
                """,
        }
    )
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    spec = load(out / "a/pod-p.yaml")["spec"]
    assert spec["initContainers"][0]["image"] == f"registry.local:5000/tool@{digest}"
    assert spec["containers"][0]["image"] == "gcr.io/myproj/nginx:1.27"
    assert spec["containers"][1]["image"] == "redis:7"


def test_render_json_output_counts(make_repo, cli, tmp_path):
    import json

    repo = make_repo({"group0/app0/all.yaml": DEPLOYMENT_AND_SERVICE})
    result = cli("render", repo, "--out", tmp_path / "out", "-o", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["apps"] == 1 and data["objects"] == 2 and data["gceObjects"] == 0


GUESTBOOK = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: guestbook-ui, labels: {app: guestbook-ui}}
spec:
  selector: {matchLabels: {app: guestbook-ui}}
  template:
    metadata: {labels: {app: guestbook-ui}}
    spec: {containers: [{name: ui, image: "gcr.io/heptio-images/ks-guestbook-demo:0.2"}]}
---
apiVersion: v1
kind: Service
metadata: {name: guestbook-ui, labels: {app: guestbook-ui}}
spec:
  selector: {app: guestbook-ui}
  ports: [{port: 80}]
"""


def test_app_label_every_manifest_carries_names_the_app(make_repo, cli, tmp_path):
    """argocd-example-apps' guestbook/ labels everything app: guestbook-ui; no app.yaml needed."""
    repo = make_repo({"guestbook/all.yaml": GUESTBOOK})
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    service = load(out / "guestbook/service-guestbook-ui.yaml")
    assert service["metadata"]["labels"]["app"] == "guestbook-ui"
    assert service["spec"]["selector"] == {"app": "guestbook-ui"}


def test_a_mix_of_app_labels_is_an_error_naming_the_files(make_repo, cli):
    repo = make_repo(
        {
            "shop/front.yaml": GUESTBOOK,
            "shop/cart.yaml": CONFIGMAP_LABELLED.format(name="cart", app="cart"),
        }
    )
    result = cli("render", repo, "--out", repo.parent / "out")
    assert result.returncode == 1
    assert "different app labels" in result.stderr
    assert '"cart" in shop/cart.yaml' in result.stderr
    assert '"guestbook-ui" in shop/front.yaml' in result.stderr


CONFIGMAP_LABELLED = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, labels: {{app: {app}}}}}
data: {{k: v}}
"""


def test_a_partly_labelled_app_keeps_its_directory_name(make_repo, cli):
    repo = make_repo(
        {
            "shop/cart.yaml": CONFIGMAP_LABELLED.format(name="cart", app="cart"),
            "shop/plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        }
    )
    result = cli("render", repo, "--out", repo.parent / "out")
    assert result.returncode == 1
    assert 'has app: "cart" but gitkube sets app: "shop"' in result.stderr
    assert "shop/cart.yaml" in result.stderr


def test_app_yaml_namespace_is_the_default_of_the_apps_objects(make_repo, cli, tmp_path):
    repo = make_repo(
        {
            "monitoring/app.yaml": "namespace: monitoring\n",
            "monitoring/objects.yaml": """\
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: plain}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: elsewhere, namespace: kube-system}
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: ClusterRole
                metadata: {name: reader}
                rules: []
                """,
            "other/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n",
        }
    )
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    rendered = {
        load(p)["metadata"]["name"]: load(p)["metadata"].get("namespace")
        for p in out.rglob("*.yaml")
        if p.name != "gitkube-inventory.yaml"
    }
    assert rendered == {
        "plain": "monitoring",
        "elsewhere": "kube-system",
        "reader": None,
        "other": "default",
    }


def test_selector_of_the_app_label_selects_the_apps_templates(make_repo, cli, tmp_path):
    """The template pattern: pods labelled by gitkube alone, the Service selecting app: NAME."""
    repo = make_repo(
        {
            "web/frontend/app.yaml": "labels: {tier: web}\n",
            "web/frontend/all.yaml": POD.format(name="p", labels="{}")
            + "---\n"
            + SERVICE.format(name="frontend", selector="selector: {app: frontend}"),
        }
    )
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    service = load(out / "web/frontend/service-frontend.yaml")
    assert service["spec"]["selector"] == {"app": "frontend", "tier": "web"}
