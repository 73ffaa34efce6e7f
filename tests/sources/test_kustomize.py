"""Kustomize apps, built by the real pinned kustomize: the same objects as
``kustomize build``, then every gitkube plugin, and nothing from the network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitkube.testing.sourcetools import KUSTOMIZE_VERSION
from tests.conftest import write_tree
from tests.render.test_render_errors import render_fails
from tests.sources.conftest import run_tool
from tests.sources.layouts import KUSTOMIZE_GUESTBOOK, KUSTOMIZE_OVERLAY

pytestmark = pytest.mark.usefixtures("source_tools")


def rendered(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def assert_same_as_plain(cli, make_repo, tmp_path, files, app, tools) -> dict[str, str]:
    """Render the kustomize app; render ``kustomize build``'s output as a plain app
    at the same path; every rendered object must be the same, byte for byte."""
    repo = make_repo(files, name="kustomize-repo")
    out = tmp_path / "out"
    result = cli("render", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    built = run_tool(tools, "kustomize", "build", app, cwd=repo)
    plain = {f"{app}/built.yaml": built}
    if f"{app}/app.yaml" in files:  # the same settings, less the source
        lines = files[f"{app}/app.yaml"].splitlines(keepends=True)
        plain[f"{app}/app.yaml"] = "".join(x for x in lines if not x.startswith("source:"))
    plain_repo = make_repo(plain, name="plain-repo")
    plain_out = tmp_path / "plain-out"
    assert cli("render", plain_repo, "--out", plain_out).returncode == 0
    ours, theirs = rendered(out), rendered(plain_out)
    inventory = ours.pop("gitkube-inventory.yaml")
    theirs.pop("gitkube-inventory.yaml")
    assert ours == theirs
    assert ours, "the app rendered no objects"
    return {"inventory": inventory, **ours}


def test_guestbook_equals_kustomize_build_plus_gitkube_labels(
    cli, make_repo, tmp_path, source_tools
):
    result = assert_same_as_plain(
        cli, make_repo, tmp_path, KUSTOMIZE_GUESTBOOK, "kustomize-guestbook", source_tools
    )
    deployment = yaml.safe_load(
        result["kustomize-guestbook/deployment-kustomize-guestbook-ui.yaml"]
    )
    labels = deployment["metadata"]["labels"]
    assert labels["tier"] == "frontend"  # kustomize's
    assert labels["app"] == "guestbook-ui"  # gitkube's (the name the labels give)
    assert labels["app.kubernetes.io/managed-by"] == "gitkube"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/guestbook-ui:0.2"  # kustomize images
    inventory = yaml.safe_load(result["inventory"])
    tools = {o["renderedWith"] for o in inventory["objects"]}
    assert tools == {f"kustomize {KUSTOMIZE_VERSION}"}


def test_overlay_with_base_and_component_in_the_repo(cli, make_repo, tmp_path, source_tools):
    result = assert_same_as_plain(
        cli, make_repo, tmp_path, KUSTOMIZE_OVERLAY, "overlays/prod", source_tools
    )
    inventory = yaml.safe_load(result["inventory"])
    # the base and the component are inputs of the overlay, not apps of their own
    assert {o["app"] for o in inventory["objects"]} == {"overlays/prod"}
    deployment = yaml.safe_load(result["overlays/prod/deployment-web.yaml"])
    assert deployment["spec"]["replicas"] == 3
    assert "readinessProbe" in deployment["spec"]["template"]["spec"]["containers"][0]
    assert any(path.startswith("overlays/prod/configmap-web-settings-") for path in result)


def test_app_yaml_applies_to_kustomize_output(cli, make_repo, tmp_path):
    files = {
        **KUSTOMIZE_GUESTBOOK,
        "kustomize-guestbook/app.yaml": "source: kustomize\nimages: "
        "[{name: registry.example/guestbook-ui, newTag: '9.9'}]\nlabels: {team: blue}\n",
    }
    repo = make_repo(files)
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    deployment = yaml.safe_load(
        (out / "kustomize-guestbook/deployment-kustomize-guestbook-ui.yaml").read_text()
    )
    assert deployment["metadata"]["labels"]["team"] == "blue"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9")


def test_remote_base_is_refused_before_kustomize_runs(cli, make_repo, tmp_path):
    repo = make_repo(
        {
            "web/kustomization.yaml": "resources:\n"
            "- https://github.com/example/manifests//base?ref=v1.0.0\n",
        }
    )
    render_fails(cli, repo, tmp_path / "out", "web/kustomization.yaml", "remote base")


def test_remote_base_deep_in_a_base_is_refused(cli, make_repo, tmp_path):
    repo = make_repo(
        {
            "web/kustomization.yaml": "resources: [../base]\n",
            "base/kustomization.yaml": "resources: [github.com/example/repo/base]\n",
        }
    )
    render_fails(cli, repo, tmp_path / "out", "base/kustomization.yaml", "remote base")


def test_reference_outside_the_repo_is_refused(cli, make_repo, tmp_path):
    write_tree(tmp_path / "outside", {"kustomization.yaml": "resources: []\n"})
    repo = make_repo({"web/kustomization.yaml": "resources: [../../outside]\n"})
    render_fails(cli, repo, tmp_path / "out", "web/kustomization.yaml", "outside the repo")


def test_helm_charts_inside_a_kustomization_are_refused(cli, make_repo, tmp_path):
    repo = make_repo(
        {"web/kustomization.yaml": "helmCharts:\n- {name: nginx, repo: https://charts.example}\n"}
    )
    render_fails(cli, repo, tmp_path / "out", "web/kustomization.yaml", "helmCharts")


def test_generated_plaintext_secret_is_refused_like_any_other(cli, make_repo, tmp_path):
    repo = make_repo(
        {
            "web/kustomization.yaml": "secretGenerator:\n"
            "- {name: db, literals: [password=hunter2]}\n",
        }
    )
    render_fails(cli, repo, tmp_path / "out", "plaintext Secret", "web")


def test_kustomize_failure_names_the_kustomization(cli, make_repo, tmp_path):
    repo = make_repo({"web/kustomization.yaml": "resources: [missing.yaml]\n"})
    message = render_fails(cli, repo, tmp_path / "out", "web/kustomization.yaml")
    assert "missing.yaml" in message


def test_the_built_tool_is_the_pinned_release(source_tools):
    assert KUSTOMIZE_VERSION in run_tool(source_tools, "kustomize", "version", cwd=source_tools)
