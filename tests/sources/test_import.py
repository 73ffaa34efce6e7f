"""``gitkube import``: a small Argo CD repo and a small Flux repo become gitkube
app directories that render; what has no equivalent is reported."""

from __future__ import annotations

import json

import yaml

from tests.conftest import MINIMAL_CONFIG, write_tree
from tests.sources.layouts import HELM_GUESTBOOK, KUSTOMIZE_GUESTBOOK

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"

ARGO_REPO = {
    **KUSTOMIZE_GUESTBOOK,
    **HELM_GUESTBOOK,
    "plain/settings.yaml": CONFIGMAP,
    "apps/kustomize-guestbook.yaml": """\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: kustomize-guestbook, namespace: argocd}
        spec:
          project: default
          source:
            repoURL: https://git.example/org/config.git
            path: kustomize-guestbook
            kustomize:
              images: ["registry.example/guestbook-ui=registry.example/guestbook-ui:0.3"]
          destination: {server: https://kubernetes.default.svc, namespace: guestbook}
          syncPolicy: {automated: {prune: true}}
        """,
    "apps/helm-guestbook.yaml": """\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: helm-guestbook, namespace: argocd}
        spec:
          source:
            repoURL: https://git.example/org/config.git
            path: helm-guestbook
            helm: {releaseName: guestbook, valueFiles: [values.yaml]}
          destination: {server: https://kubernetes.default.svc, namespace: guestbook}
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: plain, namespace: argocd}
        spec:
          source: {repoURL: https://git.example/org/config.git, path: plain}
          destination: {namespace: default}
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: redis, namespace: argocd}
        spec:
          source: {repoURL: https://charts.example, chart: redis, targetRevision: 1.2.3}
          destination: {namespace: cache}
        """,
}

FLUX_REPO = {
    **KUSTOMIZE_GUESTBOOK,
    **{k.replace("helm-guestbook/", "charts/guestbook/"): v for k, v in HELM_GUESTBOOK.items()},
    "clusters/home/apps.yaml": """\
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: guestbook, namespace: flux-system}
        spec:
          interval: 10m
          path: ./kustomize-guestbook
          prune: true
          sourceRef: {kind: GitRepository, name: flux-system}
          targetNamespace: web
          postBuild: {substitute: {cluster: home}}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: shop, namespace: flux-system}
        spec:
          interval: 10m
          releaseName: shop
          targetNamespace: shop
          chart:
            spec:
              chart: ./charts/guestbook
              sourceRef: {kind: GitRepository, name: flux-system}
          values: {replicaCount: 2}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: flux-system, namespace: flux-system}
        spec: {url: https://git.example/org/config.git, ref: {branch: main}}
        """,
}


def app_settings(root, directory):
    return yaml.safe_load((root / directory / "app.yaml").read_text())


def test_argo_cd_repo(cli, tmp_path, source_tools):
    source = write_tree(tmp_path / "argo", ARGO_REPO)
    target = tmp_path / "gitkube"
    result = cli("import", source, target, "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(a["directory"] for a in report["apps"]) == [
        "helm-guestbook",
        "kustomize-guestbook",
        "plain",
    ]
    assert app_settings(target, "kustomize-guestbook") == {
        "namespace": "guestbook",
        "source": "kustomize",
        "images": [{"name": "registry.example/guestbook-ui", "newTag": "0.3"}],
    }
    assert app_settings(target, "helm-guestbook")["source"] == {
        "helm": {"chart": ".", "values": ["values.yaml"], "releaseName": "guestbook"}
    }
    assert any("redis" in line and "Helm repository" in line for line in report["unmapped"])
    assert any("syncPolicy" in line for line in report["unmapped"])
    assert not (target / "apps").exists()  # the Application manifests are Argo's, not apps
    # the result renders with gitkube
    (target / "gitkube.yaml").write_text(MINIMAL_CONFIG)
    out = tmp_path / "out"
    rendered = cli("render", target, "--out", out)
    assert rendered.returncode == 0, rendered.stderr
    deployment = yaml.safe_load(
        (out / "kustomize-guestbook/deployment-kustomize-guestbook-ui.guestbook.yaml").read_text()
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.3")


def test_flux_repo(cli, tmp_path, source_tools):
    source = write_tree(tmp_path / "flux", FLUX_REPO)
    target = tmp_path / "gitkube"
    result = cli("import", source, target)
    assert result.returncode == 0, result.stderr
    assert "imported 2 apps" in result.stdout
    assert "postBuild" in result.stdout and "values not mapped" in result.stdout
    assert app_settings(target, "kustomize-guestbook") == {
        "namespace": "web",
        "source": "kustomize",
    }
    assert app_settings(target, "charts/guestbook") == {
        "namespace": "shop",
        "source": {"helm": {"chart": ".", "releaseName": "shop"}},
    }
    (target / "gitkube.yaml").write_text(MINIMAL_CONFIG)
    rendered = cli("render", target, "--out", tmp_path / "out")
    assert rendered.returncode == 0, rendered.stderr


def test_import_into_a_non_empty_directory_writes_nothing(cli, tmp_path):
    source = write_tree(tmp_path / "argo", ARGO_REPO)
    target = write_tree(tmp_path / "gitkube", {"keep.txt": "mine\n"})
    result = cli("import", source, target)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_repo_without_controllers_is_an_error(cli, tmp_path):
    source = write_tree(tmp_path / "plain", {"web/cm.yaml": CONFIGMAP})
    result = cli("import", source, tmp_path / "out")
    assert result.returncode == 1 and "no Argo CD Application or Flux" in result.stderr
    assert not (tmp_path / "out").exists()
