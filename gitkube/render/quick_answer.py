"""``gitkube render`` with nothing to do, answered before the command line loads.

Loading typer (and pydantic with it) costs more than a no-op render itself.
When the command is exactly ``gitkube render`` and the branch already holds
the render of HEAD (branch.quick_unchanged), with nothing to warn about, the
one line the command would print is printed here. Anything else (options,
warnings, uncommitted changes, a commit off the source branch) returns None
and the full command line runs, as it always did.
"""

from __future__ import annotations

from pathlib import Path

from gitkube.render.branch import quick_unchanged, source_branch_skip, uncommitted_note


def unchanged_render_line(repo: Path) -> str | None:
    """The line ``gitkube render`` prints for a no-op render of ``repo``, or None."""
    if source_branch_skip(repo) is not None:
        return None
    summary = quick_unchanged(repo, "HEAD", None)
    if summary is None or summary.warnings or summary.cluster:
        return None
    if uncommitted_note(repo) is not None:
        return None  # the command line warns about them first
    # The words of gitkube.cli.present.print_render_summary (a test compares them).
    return (
        f"rendered {summary.objects} objects ({summary.gce_objects} GCE) from "
        f"{summary.apps} apps: {summary.output} unchanged at {(summary.commit or '')[:12]}"
    )
