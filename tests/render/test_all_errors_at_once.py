"""A render reports every broken app at once (capped), not only the first."""

from __future__ import annotations

import pytest

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import MemoryTree
from gitkube.render.pipeline import ErrorList, render_tree
from tests.conftest import MINIMAL_CONFIG

GOOD = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"


def render(files: dict[str, bytes]):
    return render_tree(MemoryTree({"gitkube.yaml": MINIMAL_CONFIG.encode(), **files}))


def test_two_broken_apps_are_both_reported():
    with pytest.raises(GitkubeError) as caught:
        render(
            {
                "web/a/bad.yaml": b"apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n",
                "web/b/app.yaml": b"extrnal: {}\n",
                "web/c/good.yaml": GOOD,
                "web/d/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Upper}\n",
            }
        )
    lines = str(caught.value).splitlines()
    assert lines[0] == "3 errors:"
    assert lines[1].startswith("web/a/bad.yaml")
    assert lines[2].startswith("web/b/app.yaml") and "extrnal" in lines[2]
    assert lines[3].startswith("web/d/cm.yaml") and "Upper" in lines[3]


def test_one_error_stays_one_line():
    with pytest.raises(GitkubeError) as caught:
        render({"web/b/app.yaml": b"extrnal: {}\n", "web/c/good.yaml": GOOD})
    assert "\n" not in str(caught.value)
    assert caught.value.file == "web/b/app.yaml"


def test_many_errors_are_capped_with_a_count():
    files = {
        f"web/app{i:02}/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: Bad{i}}}\n".encode()
        for i in range(ErrorList.SHOWN + 5)
    }
    with pytest.raises(GitkubeError) as caught:
        render(files)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{ErrorList.SHOWN + 5} errors:"
    assert len(lines) == 1 + ErrorList.SHOWN + 1
    assert lines[-1] == "... and 5 more errors"
