"""A plan as people read it: one line per change, fields indented, a summary last."""

from __future__ import annotations

import typer

from gitkube.domain.targets import Action, SyncResult

_STYLE = {
    Action.CREATE: ("+", typer.colors.GREEN),
    Action.UPDATE: ("~", typer.colors.YELLOW),
    Action.REPLACE: ("-/+", typer.colors.MAGENTA),
    Action.DELETE: ("-", typer.colors.RED),
}


def print_plan(result: SyncResult) -> None:
    for change in result.changes:
        if change.action is Action.UNCHANGED and not change.note:
            continue
        mark, colour = _STYLE.get(change.action, ("=", typer.colors.WHITE))
        scope = f"{change.id.namespace}/" if change.id.namespace else ""
        line = f"{mark} {change.target}: {change.id.kind} {scope}{change.id.name}"
        if change.app:
            line += f"  (app {change.app})"
        typer.secho(line, fg=colour)
        for path in change.fields[:20]:
            typer.echo(f"      {path}")
        for path, value in change.late_bound.items():
            typer.echo(f"      {path} = {value}  (bound at apply time)")
        if change.note:
            typer.echo(f"      note: {change.note}")
        if change.blocked:
            typer.secho(f"      blocked: {change.blocked}", fg=typer.colors.RED)
    counts = (
        result.count(Action.CREATE),
        result.count(Action.UPDATE) + result.count(Action.REPLACE),
        result.count(Action.DELETE),
    )
    commit = result.commit[:12] if result.commit else "-"
    if result.applied:
        summary = "{} created, {} updated, {} deleted".format(*counts)
        typer.echo(f"applied {commit}: {summary}, {result.count(Action.UNCHANGED)} unchanged")
    else:
        summary = "{} to create, {} to update, {} to delete".format(*counts)
        typer.echo(f"planned {commit}: {summary}, {result.count(Action.UNCHANGED)} unchanged")
        if result.refused:
            typer.secho(f"sync would refuse this plan: {result.refused}", fg=typer.colors.RED)
