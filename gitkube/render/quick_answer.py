"""A plain ``gitkube render`` answered before the command line loads.

Loading typer (and pydantic with it) costs more than a no-op render itself,
and about as much as rendering one changed app. When the command is exactly
``gitkube render`` and either the branch already holds the render of HEAD
(branch.quick_unchanged), or HEAD renders as a patch of a tree rendered
before (branch.render_patched_to_branch), with nothing to warn about, the one
line the command would print is printed here. Anything else (options,
warnings, uncommitted changes, a commit off the source branch, several
clusters, a render the incremental path declines, progress notes for a
terminal) returns None and the full command line runs, as it always did.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import (
    quick_unchanged,
    render_patched_to_branch,
    source_branch_skip,
    uncommitted_note,
)


def unchanged_render_line(repo: Path) -> str | None:
    """The line ``gitkube render`` prints for a render of ``repo`` answered here, or None."""
    if source_branch_skip(repo) is not None:
        return None
    summary = quick_unchanged(repo, "HEAD", None)
    if summary is None and sys.stderr.isatty():
        return None  # the command line shows the render's progress
    if summary is not None and (summary.warnings or summary.cluster):
        return None
    if uncommitted_note(repo) is not None:
        return None  # the command line warns about them first
    if summary is None:
        from gitkube.render.clusters import declares_clusters

        store = GitStore(repo)
        source, tree = store.resolve_commit("HEAD")
        if declares_clusters(store, source):
            return None
        summary = render_patched_to_branch(store, source, tree)
        if summary is None:
            return None
    # The words of gitkube.cli.present.print_render_summary (a test compares them).
    state = "committed" if summary.changed else "unchanged at"
    return (
        f"rendered {summary.objects} objects ({summary.gce_objects} GCE) from "
        f"{summary.apps} apps: {summary.output} {state} {(summary.commit or '')[:12]}"
    )
