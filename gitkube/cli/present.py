"""How the CLI speaks: text for people, JSON for machines, errors on stderr.

All human formatting lives here: commands return data (summaries, plans,
statuses) and the command definitions hand it to :func:`emit` (JSON/YAML)
or to one of the ``print_*`` functions below (text).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from gitkube.primitives.errors import GitkubeError

if TYPE_CHECKING:
    from gitkube.commands.plugins import PluginInfo
    from gitkube.domain.targets import SyncResult
    from gitkube.render.branch import RenderSummary
    from gitkube.sync.status import ApplySetStatus
    from gitkube.sync.wait import AppHealth


class Format(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"

    @property
    def structured(self) -> bool:
        """JSON or YAML: for machines, same data either way."""
        return self is not Format.text


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def emit(output: Format | str, data: Any) -> None:
    """``data`` as JSON or YAML (the YAML holds exactly what the JSON would)."""
    if Format(output) is Format.yaml:
        import yaml

        plain = json.loads(json.dumps(data, default=str))
        sys.stdout.write(
            yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True)
        )
    else:
        emit_json(data)


def color_disabled() -> bool:
    """NO_COLOR (any value, https://no-color.org) or TERM=dumb turn colour off."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


class _Settings:
    """Process-wide CLI settings from the root options."""

    debug = False


settings = _Settings()


def debug_enabled() -> bool:
    return settings.debug or os.environ.get("GITKUBE_DEBUG", "") not in ("", "0")


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def error_document(exc: GitkubeError) -> dict[str, Any]:
    """An error as machines read it (``-o json``): the message and where it happened."""
    return {
        "error": {
            "message": exc.message,
            "file": exc.file,
            "line": exc.line,
            "app": exc.app,
            "object": exc.obj,
            "plugin": exc.plugin,
            "exitCode": exc.exit_code,
        }
    }


def error_markdown(exc: GitkubeError) -> str:
    """An error as a pull-request comment (``-o markdown``): what failed and where."""
    fence = "```"
    while fence in str(exc):
        fence += "`"
    return (
        "### gitkube diff\n\n> [!CAUTION]\n> **The change does not render**, so there is no "
        f"diff to review.\n\n{fence}\n{exc}\n{fence}\n"
    )


@contextmanager
def reported_errors(output: str | None = "text") -> Iterator[None]:
    """Turn a :class:`GitkubeError` into one message on stderr and its exit code.

    Under ``-o json``/``-o yaml`` the error is also a document on stdout in
    that format (``{"error": {"message", "file", "line", "app", "object",
    "plugin", "exitCode"}}``), and under ``-o markdown`` a comment saying what
    failed, so a program or CI job reading stdout never reads nothing.
    ``--debug`` (or GITKUBE_DEBUG=1) prints the traceback first.
    """
    try:
        yield
    except GitkubeError as exc:
        if debug_enabled():
            # The whole chain: a plugin's own exception comes first.
            traceback.print_exception(exc, file=sys.stderr)
        if output in (Format.json, Format.yaml):
            emit(output, error_document(exc))
        elif output == "markdown":
            sys.stdout.write(error_markdown(exc))
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None


# -- text for people -----------------------------------------------------------------


def print_render_summary(summary: RenderSummary, *, mode: str, push: str | None = None) -> None:
    """One line: what a render made (``mode``: check, out or branch)."""
    made = f"{summary.objects} objects ({summary.gce_objects} GCE)"
    if mode == "check":
        typer.echo(f"ok: the staged files render to {made} from {summary.apps} apps")
    elif mode == "out":
        typer.echo(f"rendered {made} from {summary.apps} apps into {summary.output}")
    else:
        state = "committed" if summary.changed else "unchanged at"
        pushed = f", pushed to {push}" if push else ""
        typer.echo(
            f"rendered {made} from "
            f"{summary.apps} apps: {summary.output} {state} {(summary.commit or '')[:12]}{pushed}"
        )


def print_plugins(infos: list[PluginInfo]) -> None:
    for info in infos:
        origin = "built-in" if info.builtin else "installed"
        keys = f"  keys: {', '.join(info.app_keys)}" if info.app_keys else ""
        typer.echo(f"{info.name} {info.version} ({origin}){keys}")
        typer.echo(f"  hooks: {', '.join(info.hooks)}")


def print_versions(info: dict[str, Any]) -> None:
    typer.echo(f"gitkube {info['gitkube']} (Python {info['python']})")
    for name, plugin_version in info["plugins"].items():
        typer.echo(f"  {name} {plugin_version}")


def print_statuses(statuses: list[ApplySetStatus]) -> None:
    if not statuses:
        typer.echo("no gitkube ApplySet in this cluster yet: run gitkube sync")
    for s in statuses:
        typer.echo(
            f"{s.name}: {s.result} at {s.synced_at}\n"
            f"  rendered commit {s.rendered_commit}\n  source commit   {s.source_commit}\n"
            f"  manages {s.objects} objects of {len(s.group_kinds)} kinds"
            + (f"\n  message: {s.message}" if s.message else "")
        )
        if s.health is not None:
            problems = s.health.get("problems") or {}
            typer.echo(f"  health: {s.health.get('healthy', 0)} apps healthy, {len(problems)} not")
            for app, text in problems.items():
                typer.secho(f"    {app}: {text}", fg=typer.colors.YELLOW)


@contextmanager
def health_display(output: Format) -> Iterator[Callable[[list[AppHealth]], None] | None]:
    """One line per changed app while --wait polls, on a terminal; quiet otherwise."""
    if output.structured or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    live = Live(console=Console(stderr=True), transient=True)

    def show(apps: list[AppHealth]) -> None:
        table = Table.grid(padding=(0, 2))
        for app in apps:
            colour = {"Healthy": "green", "Degraded": "red"}.get(app.health.state.value, "yellow")
            table.add_row(app.app, f"[{colour}]{app.health.state.value}[/]", app.describe())
        live.update(table)

    with live:
        yield show


def print_plan(result: SyncResult) -> None:
    """A plan as people read it: one line per change, fields indented, a summary last."""
    # Imported here: `gitkube render` prints through this module and must start fast.
    from gitkube.domain.targets import Action

    style = {
        Action.CREATE: ("+", typer.colors.GREEN),
        Action.UPDATE: ("~", typer.colors.YELLOW),
        Action.REPLACE: ("-/+", typer.colors.MAGENTA),
        Action.DELETE: ("-", typer.colors.RED),
    }
    for change in result.changes:
        if change.action is Action.UNCHANGED and not change.note:
            continue
        mark, colour = style.get(change.action, ("=", typer.colors.WHITE))
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
