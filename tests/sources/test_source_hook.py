"""The gitkube_source hook: the plain reader is its default implementation, and
a third-party source's objects go through every plugin like the user's own."""

from __future__ import annotations

import pytest

from gitkube.plugin_api import AppSource, GitkubeError, SourceObject, hookimpl


class LinesSource:
    """A toy third-party source: ``source: lines`` makes one ConfigMap per line of
    ``names.txt`` (read from the checkout, as a tool would)."""

    @hookimpl
    def gitkube_source(self, app, source: AppSource):
        if source.kind != "lines":
            return None
        text = (source.checkout() / app.path / "names.txt").read_text()
        source.record_tool("lines 1.0")
        return [
            SourceObject(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}},
                f"{app.path}/names.txt",
                f"line {i}",
            )
            for i, n in enumerate(text.split(), start=1)
        ]


def test_plain_manifests_still_render_through_the_default_source(gitkube_render):
    result = gitkube_render(
        {"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    )
    assert list(result.files) == ["web/configmap-a.yaml"]


def test_third_party_source_objects_get_every_plugin(gitkube_plugin, gitkube_render):
    gitkube_plugin(LinesSource(), "lines")
    result = gitkube_render(
        {"web/app.yaml": "source: lines\nlabels: {team: blue}\n", "web/names.txt": "one\ntwo\n"}
    )
    assert sorted(result.files) == ["web/configmap-one.yaml", "web/configmap-two.yaml"]
    labels = result.objects[0]["metadata"]["labels"]
    assert labels["app"] == "web" and labels["team"] == "blue"
    assert labels["app.kubernetes.io/managed-by"] == "gitkube"


def test_third_party_source_duplicates_are_refused(gitkube_plugin, gitkube_render):
    gitkube_plugin(LinesSource(), "lines")
    with pytest.raises(GitkubeError, match="defined twice"):
        gitkube_render({"web/app.yaml": "source: lines\n", "web/names.txt": "one\none\n"})


def test_a_source_nobody_builds_is_an_error_naming_app_yaml(gitkube_render):
    with pytest.raises(GitkubeError, match='no plugin builds apps of source "jsonnet"') as caught:
        gitkube_render({"web/app.yaml": "source: jsonnet\n", "web/main.jsonnet": "{}"})
    assert caught.value.file == "web/app.yaml"


def test_a_source_returning_no_object_shape_is_refused(gitkube_plugin, gitkube_render):
    class Broken:
        @hookimpl
        def gitkube_source(self, app, source):
            return (
                [SourceObject({"kind": "ConfigMap"}, f"{app.path}/x", "")]
                if source.kind == "broken"
                else None
            )

    gitkube_plugin(Broken(), "broken")
    with pytest.raises(GitkubeError, match="no apiVersion"):
        gitkube_render({"web/app.yaml": "source: broken\n"})


def test_disabling_the_plain_source_leaves_plain_apps_unbuilt(gitkube_render):
    config = (
        "cluster: {name: home, project: my-proj, region: us-central1, zone: us-central1-b}\n"
        "namespace: default\nplugins: {disable: [plain]}\n"
    )
    with pytest.raises(GitkubeError, match='source "plain"'):
        gitkube_render(
            {"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}, config
        )
