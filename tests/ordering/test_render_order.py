"""dependsOn and waves are checked at render, where the pull request shows the mistake."""

from __future__ import annotations

import pytest

from gitkube.domain.keys import DEPENDS_ON_ANNOTATION
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import MemoryTree
from gitkube.primitives.yamlio import load_one
from gitkube.render.pipeline import render_tree

CONFIG = "cluster: {name: c, project: p, region: us-central1, zone: us-central1-b}\n"


def configmap(name: str, annotations: str = "") -> str:
    extra = f", annotations: {{{annotations}}}" if annotations else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}{extra}}}\ndata: {{k: v}}\n"


def render(files: dict[str, str]):
    return render_tree(
        MemoryTree({"gitkube.yaml": CONFIG.encode(), **{k: v.encode() for k, v in files.items()}})
    )


def test_depends_on_travels_on_the_rendered_objects():
    result = render(
        {
            "web/ghost/cm.yaml": configmap("ghost"),
            "web/frontend/app.yaml": "dependsOn: [web/ghost]\n",
            "web/frontend/cm.yaml": configmap("frontend"),
        }
    )
    frontend = load_one(result.files["web/frontend/configmap-frontend.yaml"], "x")
    ghost = load_one(result.files["web/ghost/configmap-ghost.yaml"], "x")
    assert frontend["metadata"]["annotations"][DEPENDS_ON_ANNOTATION] == "web/ghost"
    assert DEPENDS_ON_ANNOTATION not in (ghost["metadata"].get("annotations") or {})


def test_a_dependency_cycle_is_refused_naming_both_files():
    with pytest.raises(GitkubeError) as caught:
        render(
            {
                "web/ghost/app.yaml": "dependsOn: [web/frontend]\n",
                "web/ghost/cm.yaml": configmap("ghost"),
                "web/frontend/app.yaml": "dependsOn: [web/ghost]\n",
                "web/frontend/cm.yaml": configmap("frontend"),
            }
        )
    message = str(caught.value)
    assert "cycle" in message
    assert "web/frontend/app.yaml" in message and "web/ghost/app.yaml" in message


def test_an_unknown_dependency_is_refused_naming_the_file_and_the_app():
    with pytest.raises(GitkubeError) as caught:
        render(
            {
                "web/frontend/app.yaml": "dependsOn: [web/gohst]\n",
                "web/frontend/cm.yaml": configmap("frontend"),
            }
        )
    assert caught.value.file == "web/frontend/app.yaml"
    assert 'no app "web/gohst"' in caught.value.message


def test_depends_on_must_be_a_list_of_app_paths():
    with pytest.raises(GitkubeError) as caught:
        render(
            {
                "web/frontend/app.yaml": "dependsOn: web/ghost\n",
                "web/frontend/cm.yaml": configmap("frontend"),
            }
        )
    assert caught.value.file == "web/frontend/app.yaml"
    assert "dependsOn" in caught.value.message


def test_a_wave_that_is_not_an_integer_is_refused_naming_the_object():
    with pytest.raises(GitkubeError) as caught:
        render({"web/ghost/cm.yaml": configmap("ghost", 'gitkube.dev/wave: "first"')})
    assert caught.value.file == "web/ghost/cm.yaml"
    assert "gitkube.dev/wave" in caught.value.message and "first" in caught.value.message


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ('gitkube.dev/hook: "pre-sync"', "only a Job or a Pod can be a hook, not a ConfigMap"),
        ('gitkube.dev/hook-delete: "always"', "gitkube.dev/hook-delete is set but"),
    ],
)
def test_a_hook_annotation_on_something_that_cannot_run_is_refused(annotations, expected):
    with pytest.raises(GitkubeError) as caught:
        render({"web/ghost/cm.yaml": configmap("ghost", annotations)})
    assert caught.value.file == "web/ghost/cm.yaml"
    assert expected in caught.value.message


def test_an_unknown_hook_point_is_refused():
    job = (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: "
        "{gitkube.dev/hook: presync}}\nspec: {template: {spec: {restartPolicy: Never, "
        "containers: [{name: m, image: busybox}]}}}\n"
    )
    with pytest.raises(GitkubeError) as caught:
        render({"web/ghost/job.yaml": job})
    assert caught.value.file == "web/ghost/job.yaml"
    assert '"presync" is not one of pre-sync, post-sync, sync-failed' in caught.value.message
