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
  template:
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
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "app0"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "app0"}
    assert service["metadata"]["labels"]["app"] == "app0"
    assert service["spec"]["selector"] == {"app": "app0"}
    assert deployment["metadata"]["namespace"] == "default"


def test_labels_match_kustomize(make_repo, cli, tmp_path):
    """kubectl's built-in kustomize is the peer: same labels, selectors and images."""
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


def test_existing_selector_keeps_its_keys_and_gains_app(make_repo, cli, tmp_path):
    repo = make_repo(
        {
            "web/frontend/svc.yaml": """\
                apiVersion: v1
                kind: Service
                metadata: {name: frontend, labels: {tier: web}}
                spec:
                  selector: {role: proxy}
                  ports: [{port: 80}]
                """
        }
    )
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    service = load(out / "web/frontend/service-frontend.yaml")
    assert service["spec"]["selector"] == {"role": "proxy", "app": "frontend"}
    assert service["metadata"]["labels"]["tier"] == "web"


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
