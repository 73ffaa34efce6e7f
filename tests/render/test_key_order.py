"""Rendered objects read in kubectl's order: apiVersion, kind, metadata, spec; template metadata first."""

from __future__ import annotations

from gitkube.primitives.filetree import MemoryTree
from gitkube.render.pipeline import render_tree
from tests.conftest import MINIMAL_CONFIG

# Written back to front, with no selector and no template metadata (plugins add both).
BACKWARDS = b"""\
spec:
  template:
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
  replicas: 2
metadata: {name: web, labels: {zeta: z, alpha: a}}
kind: Deployment
apiVersion: apps/v1
"""


def test_rendered_keys_follow_kubectl_and_keep_the_rest_as_written():
    result = render_tree(
        MemoryTree({"gitkube.yaml": MINIMAL_CONFIG.encode(), "web/web/deploy.yaml": BACKWARDS})
    )
    text = result.files["web/web/deployment-web.yaml"].decode()
    top = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert top == ["apiVersion", "kind", "metadata", "spec"]
    (deployment,) = [r.body for r in result.resources if r.kind == "Deployment"]
    # The added selector goes before the template; replicas stays where the author put it.
    assert list(deployment["spec"]) == ["selector", "template", "replicas"]
    assert list(deployment["spec"]["template"]) == ["metadata", "spec"]
    assert list(deployment["metadata"]["labels"])[:2] == ["zeta", "alpha"]  # the author's order
