"""What kubectl reads from the rendered branch is what it reads from the source,
plus gitkube's documented additions (labels, namespace)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gitkube.plugin_api import hookimpl
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import DirectoryTree
from gitkube.render.pipeline import render_tree
from gitkube.testing.yamlgen import manifests_with_fields
from gitkube.testing.yamlpeer import YamlPeer
from tests.conftest import MINIMAL_CONFIG, write_tree

EXAMPLES = int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "3000"))
ADDED_LABELS = {"app", "app.kubernetes.io/managed-by", "applyset.kubernetes.io/part-of"}


def render_one(root: Path, manifest: str | bytes) -> tuple[bytes, bytes]:
    """Render an app holding one manifest; (source bytes, rendered bytes of its object)."""
    source = manifest.encode() if isinstance(manifest, str) else manifest
    (root / "web" / "w").mkdir(parents=True, exist_ok=True)
    (root / "gitkube.yaml").write_text(MINIMAL_CONFIG)
    (root / "web" / "w" / "w.yaml").write_bytes(source)
    result = render_tree(DirectoryTree(root))
    (path,) = [p for p in result.files if p.startswith("web/w/")]
    return source, result.files[path]


def without_additions(document: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(document["metadata"])
    labels = {k: v for k, v in metadata.pop("labels", {}).items() if k not in ADDED_LABELS}
    if labels:
        metadata["labels"] = labels
    return {**document, "metadata": metadata}


@settings(
    max_examples=max(EXAMPLES // 10, 50),  # each example is a whole render
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(manifest=manifests_with_fields())
def test_kubectl_reads_the_rendered_object_as_it_reads_the_source(
    kubectl_reader: YamlPeer, tmp_path_factory: pytest.TempPathFactory, manifest: str
) -> None:
    root = tmp_path_factory.mktemp("repo")
    source_reading = kubectl_reader.read(manifest.encode())
    try:
        _, rendered = render_one(root, manifest)
    except GitkubeError as exc:
        assert exc.file == "web/w/w.yaml"
        assert source_reading.refused or source_reading.strict_error or "both mean" in str(exc)
        return
    assert not source_reading.refused, f"kubectl refuses the source: {source_reading.error}"
    rendered_reading = kubectl_reader.read(rendered)
    assert rendered_reading.documents is not None, rendered_reading.error
    (theirs,) = source_reading.documents or []
    (ours,) = rendered_reading.documents
    assert without_additions(ours) == theirs


@pytest.mark.parametrize(
    "data",
    [
        'data: {zip: "02139", flag: "y", ver: "1e3", mode: "0o755", t: "12:30"}',
        "data: {zip: 02139, flag: y, ver: 1e3, mode: 0o755, t: 12:30, d: 2026-01-01}",
        'data: {smile: "😀\\t", nel: "a\\Nb", bom: "\\uFEFF"}',
        "data: {op: =, merge: <<, tagged: ! 12}",
    ],
)
def test_issue_examples_render_to_what_kubectl_read(
    kubectl_reader: YamlPeer, tmp_path: Path, data: str
) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n{data}\n"
    source, rendered = render_one(tmp_path, manifest)
    (theirs,) = kubectl_reader.read(source).documents or []
    (ours,) = kubectl_reader.read(rendered).documents or []
    assert ours["data"] == theirs["data"]


class EditsOneField:
    """A plugin that changes one field of one object, and nothing else."""

    @hookimpl
    def gitkube_transform(self, resource: Any, ctx: Any) -> None:
        if resource.kind == "Deployment":
            resource.body["metadata"]["labels"]["tier"] = "edited"


def test_a_plugin_edit_never_reaches_an_aliased_copy(
    gitkube_plugin: Any, kubectl_reader: YamlPeer, tmp_path: Path
) -> None:
    gitkube_plugin(EditsOneField(), "edits-one-field")
    root = write_tree(
        tmp_path / "repo",
        {
            "gitkube.yaml": MINIMAL_CONFIG,
            "web/w/app.yaml": "name: w\n",
            "web/w/all.yaml": """\
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: w
                  labels: &labels {app: w, tier: web}
                spec:
                  selector: {matchLabels: *labels}
                  template:
                    metadata: {labels: *labels}
                    spec: {containers: [{name: c, image: nginx:1.25}]}
                """,
        },
    )
    result = render_tree(DirectoryTree(root), plugins=gitkube_plugin.for_config)
    (deployment,) = kubectl_reader.read(result.files["web/w/deployment-w.yaml"]).documents or []
    assert deployment["metadata"]["labels"]["tier"] == "edited"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "w", "tier": "web"}
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert template_labels["tier"] == "web"
    assert "applyset.kubernetes.io/part-of" not in deployment["spec"]["selector"]["matchLabels"]
