"""Helm apps, rendered by the real pinned helm: the same objects as ``helm
template``, then every gitkube plugin; charts only from the repo."""

from __future__ import annotations

import shutil

import pytest
import yaml

from gitkube.testing.sourcetools import HELM_VERSION
from tests.render.test_render_errors import render_fails
from tests.sources.conftest import run_tool
from tests.sources.layouts import HELM_GUESTBOOK
from tests.sources.test_kustomize import rendered

pytestmark = pytest.mark.usefixtures("source_tools")


def without_helm_managed_by(text: str) -> str:
    """helm template's output, less the one label gitkube replaces (managed-by: Helm)."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        doc["metadata"].get("labels", {}).pop("app.kubernetes.io/managed-by", None)
    return yaml.safe_dump_all(docs, sort_keys=False)


def compare_with_helm_template(
    cli, make_repo, tmp_path, files, app, tools, helm_args, plain_settings=None
):
    repo = make_repo(files, name="helm-repo")
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    reference = without_helm_managed_by(run_tool(tools, "helm", "template", *helm_args, cwd=repo))
    plain = {f"{app}/built.yaml": reference}
    if plain_settings:
        plain[f"{app}/app.yaml"] = plain_settings
    plain_repo = make_repo(plain, name="plain-repo")
    plain_out = tmp_path / "plain-out"
    assert cli("render", plain_repo, "--out", plain_out).returncode == 0
    ours, theirs = rendered(out), rendered(plain_out)
    inventory = yaml.safe_load(ours.pop("gitkube-inventory.yaml"))
    theirs.pop("gitkube-inventory.yaml")
    assert ours == theirs and ours
    return ours, inventory


def test_guestbook_chart_equals_helm_template_plus_gitkube_labels(
    cli, make_repo, tmp_path, source_tools
):
    ours, inventory = compare_with_helm_template(
        cli,
        make_repo,
        tmp_path,
        HELM_GUESTBOOK,
        "helm-guestbook",
        source_tools,
        ["helm-guestbook", "helm-guestbook", "--namespace", "default"],
    )
    deployment = yaml.safe_load(
        ours["helm-guestbook/deployment-helm-guestbook-helm-guestbook.yaml"]
    )
    assert deployment["metadata"]["labels"]["app"] == "helm-guestbook"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitkube"
    assert {o["renderedWith"] for o in inventory["objects"]} == {f"helm {HELM_VERSION}"}
    # the chart's templates directory is the chart's, not an app
    assert {o["app"] for o in inventory["objects"]} == {"helm-guestbook"}


def test_app_yaml_source_with_values_release_and_namespace(cli, make_repo, tmp_path, source_tools):
    chart = {
        k.replace("helm-guestbook/", "charts/guestbook/"): v for k, v in HELM_GUESTBOOK.items()
    }
    files = {
        **chart,
        "web/app.yaml": """\
            source:
              helm:
                chart: ../charts/guestbook
                values: [prod-values.yaml]
                releaseName: front
                namespace: shop
            """,
        "web/prod-values.yaml": "replicaCount: 4\n",
    }
    ours, _inventory = compare_with_helm_template(
        cli,
        make_repo,
        tmp_path,
        files,
        "web",
        source_tools,
        ["front", "charts/guestbook", "--namespace", "shop", "--values", "web/prod-values.yaml"],
        plain_settings="namespace: shop\n",  # helm -n: where objects without one go
    )
    deployment = yaml.safe_load(ours["web/deployment-front-helm-guestbook.shop.yaml"])
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["namespace"] == "shop"


def test_vendored_chart_archive(cli, make_repo, tmp_path, source_tools):
    chart_dir = make_repo(HELM_GUESTBOOK, name="chart-src")
    run_tool(
        source_tools, "helm", "package", "helm-guestbook", "-d", tmp_path / "pkg", cwd=chart_dir
    )
    repo = make_repo({"web/app.yaml": "source: {helm: {chart: guestbook-0.1.0.tgz}}\n"})
    shutil.copy(tmp_path / "pkg" / "helm-guestbook-0.1.0.tgz", repo / "web" / "guestbook-0.1.0.tgz")
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "web/deployment-web-helm-guestbook.yaml").is_file()


def test_chart_from_the_network_is_refused(cli, make_repo, tmp_path):
    for chart in ("oci://registry.example/charts/nginx", "https://charts.example/nginx-1.0.tgz"):
        repo = make_repo({"web/app.yaml": f"source: {{helm: {{chart: '{chart}'}}}}\n"}, name="r")
        render_fails(cli, repo, tmp_path / "out", "web/app.yaml", "network")
        shutil.rmtree(repo)


def test_chart_name_not_in_the_repo_is_refused(cli, make_repo, tmp_path):
    repo = make_repo({"web/app.yaml": "source: {helm: {chart: bitnami/nginx}}\n"})
    render_fails(cli, repo, tmp_path / "out", "web/app.yaml", "bitnami/nginx", "network")


def test_values_file_outside_the_repo_is_refused(cli, make_repo, tmp_path):
    repo = make_repo(
        {
            **HELM_GUESTBOOK,
            "helm-guestbook/app.yaml": "source: {helm: {chart: ., values: [../../x.yaml]}}\n",
        }
    )
    render_fails(cli, repo, tmp_path / "out", "helm-guestbook/app.yaml", "../../x.yaml")


def test_chart_plaintext_secret_is_refused_naming_the_template(cli, make_repo, tmp_path):
    files = {
        **HELM_GUESTBOOK,
        "helm-guestbook/templates/secret.yaml": """\
            apiVersion: v1
            kind: Secret
            metadata: {name: db}
            stringData: {password: {{ .Values.image.tag | quote }}}
            """,
    }
    repo = make_repo(files)
    render_fails(
        cli, repo, tmp_path / "out", "plaintext Secret", "helm-guestbook/templates/secret.yaml"
    )


def test_template_error_names_the_chart(cli, make_repo, tmp_path):
    files = {**HELM_GUESTBOOK, "helm-guestbook/templates/bad.yaml": "{{ .Values.nope.deeper }}\n"}
    repo = make_repo(files)
    render_fails(cli, repo, tmp_path / "out", "helm template", "helm-guestbook")


def test_the_built_tool_is_the_pinned_release(source_tools):
    assert HELM_VERSION in run_tool(source_tools, "helm", "version", "--short", cwd=source_tools)
