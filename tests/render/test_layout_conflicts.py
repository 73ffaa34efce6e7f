"""layout_conflicts finds the first path (in sorted order) that sits under another file."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gitkube.domain.names import layout_conflicts

SEGMENTS = st.sampled_from(["a", "b", "c.yaml"])
PATHS = st.lists(st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join), max_size=12)


def first_conflict(paths: list[str]) -> tuple[str, str] | None:
    """The definition, checked the slow way: every ancestor of every path."""
    files = set(paths)
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            parent = "/".join(parts[:depth])
            if parent in files:
                return parent, path
    return None


@given(PATHS)
def test_layout_conflicts_matches_its_definition(paths: list[str]) -> None:
    assert layout_conflicts(paths) == first_conflict(paths)


def test_a_file_that_is_also_a_directory_is_found() -> None:
    paths = ["prod/web/a.yaml", "prod/web/b.yaml", "prod/web", "prod/api/a.yaml"]
    assert layout_conflicts(paths) == ("prod/web", "prod/web/a.yaml")
    assert layout_conflicts(["prod/web/a.yaml", "prod/api/a.yaml"]) is None
