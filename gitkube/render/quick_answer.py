"""A plain ``gitkube render`` answered before the command line loads.

Loading typer (and pydantic with it) costs more than a no-op render itself,
and about as much as rendering one changed app. When the command is exactly
``gitkube render``, the one line (and warning) the command would print is
printed here in two cases: the branch already holds the render of HEAD
(branch.quick_unchanged) with nothing to warn about; or HEAD renders as a
patch of a tree rendered before (branch.render_patched) and stderr is no
terminal (the command line shows progress there; without one, its warning
about uncommitted changes is the plain line written here). Anything else
(options, warnings, a commit off the source branch, several clusters, a
render the incremental path declines) returns None and the full command
line runs, as it always did. So is ``gitkube diff BASE HEAD -o json`` (what
CI runs on every pull request), unless stderr is a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gitkube.primitives.gitstore import GitStore
from gitkube.primitives.jsonout import json_text
from gitkube.render.branch import (
    RenderSummary,
    commit_and_stamp,
    quick_unchanged,
    render_patched,
    source_branch_skip,
    start_uncommitted_note,
    uncommitted_note,
)


def unchanged_render_line(repo: Path) -> str | None:
    """The line ``gitkube render`` prints for a render of ``repo`` answered here, or None."""
    if source_branch_skip(repo) is not None:
        return None
    start_uncommitted_note(repo)
    summary = quick_unchanged(repo, "HEAD", None)
    if summary is not None:
        if summary.warnings or summary.cluster:
            return None
        if uncommitted_note(repo) is not None:
            return None  # the command line warns about them first
        return _summary_line(summary)
    if sys.stderr.isatty():
        return None  # the command line shows the render's progress
    store = GitStore(repo)
    source, tree = store.resolve_commit("HEAD")
    from gitkube.render.clusters import declares_clusters

    if declares_clusters(store, source):
        return None
    rendered = render_patched(store, source, tree)
    if rendered is None:
        return None  # the command line renders it the full way (its git status not run twice)
    left_out = uncommitted_note(repo)
    if left_out is not None:  # as the command line's warn() writes it when no terminal
        sys.stderr.write(f"warning: {left_out}\n")
    return _summary_line(commit_and_stamp(store, source, rendered))


def diff_json(repo: Path, base: str, head: str) -> str | None:
    """What ``gitkube diff BASE HEAD -o json`` prints for ``repo``, or None when stderr is a
    terminal (the command line shows the diff's progress there)."""
    if sys.stderr.isatty():
        return None
    from gitkube.render.cluster_diff import diff_any

    return json_text(diff_any(repo, base, head).as_dict())


def _summary_line(summary: RenderSummary) -> str:
    # The words of gitkube.cli.present.print_render_summary (a test compares them).
    state = "committed" if summary.changed else "unchanged at"
    return (
        f"rendered {summary.objects} objects ({summary.gce_objects} GCE) from "
        f"{summary.apps} apps: {summary.output} {state} {(summary.commit or '')[:12]}"
    )
