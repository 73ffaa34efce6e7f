"""The render cache keys a kustomize or helm app by every file it reads: a change
to a base, a component, a chart template or a values file is never missed."""

from __future__ import annotations

import pytest
import yaml

from gitkube.render.branch import render_to_branch
from tests.branch.conftest import _git_identity, app_files, commit_all, edit, git, git_repo
from tests.branch.test_render_cache import RenderSpy
from tests.sources.layouts import HELM_GUESTBOOK, KUSTOMIZE_OVERLAY

__all__ = ["_git_identity", "git_repo"]  # fixtures, used by name

pytestmark = pytest.mark.usefixtures("source_tools")

CHART = {k.replace("helm-guestbook/", "charts/guestbook/"): v for k, v in HELM_GUESTBOOK.items()}
FILES = {
    **KUSTOMIZE_OVERLAY,
    **CHART,
    "shop/app.yaml": "source:\n  helm: {chart: ../charts/guestbook, values: [values.yaml]}\n",
    "shop/values.yaml": "replicaCount: 2\n",
    **app_files("plain", where="more"),
}

EDITS = {
    "a base's manifest": (
        {
            "bases/web/deployment.yaml": KUSTOMIZE_OVERLAY["bases/web/deployment.yaml"].replace(
                "nginx:1.25", "nginx:1.27"
            )
        },
        "overlays/prod/deployment-web.yaml",
        "nginx:1.27",
    ),
    "a component's patch": (
        {
            "components/probes/probe.yaml": KUSTOMIZE_OVERLAY[
                "components/probes/probe.yaml"
            ].replace("/healthz", "/ready")
        },
        "overlays/prod/deployment-web.yaml",
        "/ready",
    ),
    "a generator's non-YAML file": (
        {"overlays/prod/settings.properties": "colour=green\n"},
        None,
        "colour=green",
    ),
    "a chart's helper template (not YAML)": (
        {
            "charts/guestbook/templates/_helpers.tpl": CHART[
                "charts/guestbook/templates/_helpers.tpl"
            ].replace('"%s-%s"', '"%s-x-%s"')
        },
        "shop/deployment-shop-x-helm-guestbook.yaml",
        "shop-x-helm-guestbook",
    ),
    "a values file": (
        {"shop/values.yaml": "replicaCount: 7\n"},
        "shop/deployment-shop-helm-guestbook.yaml",
        "replicas: 7",
    ),
    "the chart's default values": (
        {
            "charts/guestbook/values.yaml": CHART["charts/guestbook/values.yaml"].replace(
                '"0.1"', '"0.9"'
            )
        },
        "shop/deployment-shop-helm-guestbook.yaml",
        "guestbook-ui:0.9",
    ),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_an_input_change_re_renders_the_app_and_only_it(git_repo, monkeypatch, what):
    repo = git_repo(FILES)
    render_to_branch(repo)  # fills the cache
    files, path, expected = EDITS[what]
    edit(repo, {k: v for k, v in files.items()})
    commit_all(repo)
    spy = RenderSpy(monkeypatch)
    render_to_branch(repo, branch="cached")
    calls = list(spy.calls)
    full = render_to_branch(repo, branch="full", use_cache=False)
    assert full.changed
    assert git(repo, "rev-parse", "cached^{tree}") == git(repo, "rev-parse", "full^{tree}")
    listing = git(repo, "ls-tree", "-r", "--name-only", "cached").splitlines()
    if path is None:
        path = next(p for p in listing if p.startswith("overlays/prod/configmap-web-settings-"))
    assert expected in git(repo, "show", f"cached:{path}")
    # the plain app was taken from the cache, not rendered again
    assert calls and not any(f.startswith("more/plain/") for call in calls for f in call)


def test_unchanged_tool_apps_come_from_the_cache(git_repo, monkeypatch):
    repo = git_repo(FILES)
    render_to_branch(repo)
    edit(repo, app_files("plain", replicas=3, where="more"))
    commit_all(repo)
    spy = RenderSpy(monkeypatch)
    render_to_branch(repo, branch="cached")
    rendered_files = {f for call in spy.calls for f in call}
    assert not any(
        f.startswith(("overlays/", "bases/", "charts/", "shop/")) for f in rendered_files
    )
    inventory = yaml.safe_load(git(repo, "show", "cached:gitkube-inventory.yaml"))
    assert {o.get("renderedWith", "").split(" ")[0] for o in inventory["objects"]} == {
        "kustomize",
        "helm",
        "",
    }
