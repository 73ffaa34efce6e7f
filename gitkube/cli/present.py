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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.jsonout import json_text

if TYPE_CHECKING:
    from gitkube.commands.plugins import PluginInfo
    from gitkube.commands.promote import Promotion
    from gitkube.domain.targets import SyncResult
    from gitkube.render.branch import RenderSummary
    from gitkube.render.cluster_diff import ClusterDiffReport
    from gitkube.render.diff import DiffReport, ObjectChange, Side
    from gitkube.render.risks import Risk
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
    sys.stdout.write(json_text(data))


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
    """One line: what a render made (``mode``: check, out or branch); per cluster, its name first."""
    made = f"{summary.objects} objects ({summary.gce_objects} GCE)"
    cluster = f"{summary.cluster}: " if summary.cluster else ""
    if mode == "check":
        typer.echo(f"{cluster}ok: the staged files render to {made} from {summary.apps} apps")
    elif mode == "out":
        typer.echo(f"{cluster}rendered {made} from {summary.apps} apps into {summary.output}")
    else:
        state = "committed" if summary.changed else "unchanged at"
        pushed = f", pushed to {push}" if push else ""
        typer.echo(
            f"{cluster}rendered {made} from "
            f"{summary.apps} apps: {summary.output} {state} {(summary.commit or '')[:12]}{pushed}"
        )


def print_promotion(done: Promotion) -> None:
    """One line: what ``gitkube promote`` edited, and what to do next."""
    if not done.changed:
        typer.echo(f"{done.app}: {done.target} already has {done.source}'s values ({done.file})")
        return
    keys = ", ".join(done.keys) or "values"
    typer.echo(
        f"{done.app}: copied {keys} from {done.source} to {done.target} in {done.file}; "
        "review it (git diff, gitkube diff) and commit"
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
        if s.refused:
            typer.secho(f"  refused: {s.refused}", fg=typer.colors.RED)
        if s.health is not None:
            problems = s.health.get("problems") or {}
            typer.echo(f"  health: {s.health.get('healthy', 0)} apps healthy, {len(problems)} not")
            for app, text in problems.items():
                typer.secho(f"    {app}: {text}", fg=typer.colors.YELLOW)
        for hook, run in (s.hooks or {}).items():
            colour = typer.colors.GREEN if run.get("result") == "Succeeded" else typer.colors.RED
            typer.secho(
                f"  hook {hook}: {run.get('name')} {run.get('result')} in {run.get('seconds')}s"
                + (f": {run['message']}" if run.get("message") else ""),
                fg=colour,
            )


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
    for line in phase_lines(result.phases or ()):
        typer.echo(line)
    for hook in result.hooks or ():
        took = f" in {hook['seconds']}s" if hook["result"] != "Planned" else ""
        typer.echo(
            f"hook {hook['hook']} of {hook['app']}: {hook['name']} ({hook['file']}): "
            f"{hook['result']}{took}"
        )
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


def phase_lines(phases: Sequence[Mapping[str, Any]]) -> list[str]:
    """The apply order of a plan (apps by dependency, waves), one line per phase."""
    lines = (
        ["order (each phase is applied, then waited healthy, before the next):"] if phases else []
    )
    for number, phase in enumerate(phases, 1):
        waits = "; ".join(
            f"{app} waits for {', '.join(deps)}" for app, deps in phase["waitsFor"].items()
        )
        lines.append(
            f"  phase {number}: wave {phase['wave']}: {', '.join(phase['apps']) or '-'}"
            f" ({phase['changes']} change(s)){f'  [{waits}]' if waits else ''}"
        )
    return lines


# -- gitkube diff ----------------------------------------------------------------------

MARKDOWN_LIMIT = 60_000  # characters; GitHub's comment limit is 65,536


def secret_keys_note(change: ObjectChange) -> str:
    """' (encrypted; keys ...)' for a SOPS Secret: what happened to which key, never a value."""
    if not change.secret_keys:
        return ""
    parts = [
        f"{what} {', '.join(f'`{k}`' for k in keys)}"
        for what, keys in change.secret_keys.items()
        if keys
    ]
    return f" (encrypted; keys {'; '.join(parts)})" if parts else " (encrypted; no key changed)"


def describe(change: ObjectChange) -> str:
    where = f"{change.namespace}/" if change.namespace else ""
    return f"{change.kind} {where}{change.name}"


def _label(side: Side) -> str:
    if not side.commit:
        return f"the {side.ref}"
    if side.commit.startswith(side.ref):
        return f"`{side.commit[:12]}`"
    return f"`{side.ref}` ({side.commit[:12]})"


RISK_HEADINGS = {
    "replacement": "forces replacement",
    "data-loss": "destroys data",
    "sync-would-refuse": "sync would refuse",
    "exposure": "widens exposure",
    "render-warning": "render warning",
}


def risk_block(risks: list[Risk]) -> list[str]:
    """Markdown lines for the risks, most severe first, like a Terraform plan's summary."""
    from gitkube.render.risks import HIGH  # here: the render half loads only for a diff

    if not risks:
        return []
    high = [r for r in risks if r.severity == HIGH]
    kind = "CAUTION" if high else "WARNING"
    lines = [
        "",
        f"> [!{kind}]",
        f"> **{len(risks)} risk{'s' if len(risks) != 1 else ''}** in this change:",
    ]
    for risk in risks[:30]:
        where = f" in `{risk.app}`" if risk.app else ""
        lines.append(f"> - **{RISK_HEADINGS[risk.reason]}**{where}: {risk.message}")
    if len(risks) > 30:
        lines.append(f"> - and {len(risks) - 30} more (`gitkube diff -o json` lists them all)")
    return lines


def to_markdown(report: DiffReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A ready pull-request comment: summary first, one collapsible section per app.

    GitHub refuses comments over 65,536 characters, so the comment stays under
    ``limit``: every changed object is listed while the list fits, and diff
    bodies are included in order while they fit in what is left; anything
    left out is said so, with the command that shows it all.
    """
    from gitkube.render.diff import ACTIONS  # here: the render half loads only for a diff

    base, head = report.base, report.head
    head_lines = [
        "### gitkube diff",
        "",
        f"{_label(base)} → {_label(head)}: **{report.summary()}**",
    ]
    head_lines += risk_block(report.risks)
    if report.hooks:
        head_lines += ["", "Hooks a sync of this change runs (in the cluster, never by this diff):"]
        head_lines += [
            f"- {h['hook']} `{h['kind']} {h['name']}` in `{h['app']}`" for h in report.hooks
        ]
    gce = [c for c in report.changes if c.gce]
    if gce:
        head_lines += [
            "",
            "> [!WARNING]",
            "> Google Compute Engine resources change (applied to the cloud project by sync):",
        ]
        head_lines += [f"> - {c.action} `{describe(c)}` in `{c.app}`" for c in gce]
    symbol = {
        "added": "\N{HEAVY PLUS SIGN}",
        "removed": "\N{HEAVY MINUS SIGN}",
        "changed": "\N{PENCIL}\N{VARIATION SELECTOR-16}",
    }
    reserve = 600  # for the notes at the end
    used = sum(len(line) + 1 for line in head_lines)
    # Pass 1: which apps and titles fit, without diff bodies.
    sections: list[tuple[str, str, list[tuple[str, ObjectChange]]]] = []
    apps_left_out = 0
    for app in report.apps:
        changes = [c for c in report.changes if c.app == app]
        counts = {a: sum(1 for c in changes if c.action == a) for a in ACTIONS}
        label = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
        app_gce = sum(1 for c in changes if c.gce)
        if app_gce:
            label += f"; {app_gce} GCE"
        summary = f"<summary><code>{app}</code>: {label}</summary>"
        titles = [
            (
                f"{symbol[c.action]} **{c.action}** `{describe(c)}`{' **(GCE)**' if c.gce else ''}"
                + secret_keys_note(c),
                c,
            )
            for c in changes
        ]
        cost = len(summary) + 30 + sum(len(t) + 3 for t, _c in titles)
        if used + cost > limit - reserve:
            apps_left_out += 1
            continue
        used += cost
        sections.append((app, summary, titles))
    # Pass 2: diff bodies, in order, while they fit.
    omitted = 0
    lines = list(head_lines)
    for _app, summary, titles in sections:
        lines += ["", "<details>", summary, ""]
        for title, change in titles:
            fence = "```"
            while fence in change.diff:
                fence += "`"
            body = [f"{fence}diff", change.diff.rstrip("\n"), fence]
            cost = sum(len(line) + 1 for line in body)
            if used + cost > limit - reserve:
                body = ["_(diff left out for size)_"]
                cost = len(body[0]) + 1
                omitted += 1
            used += cost
            lines += [title, "", *body, ""]
        lines.append("</details>")
    if apps_left_out:
        lines += [
            "",
            f"_{apps_left_out} more app{'s' if apps_left_out != 1 else ''} with changes "
            "not shown for size._",
        ]
    if omitted or apps_left_out:
        lines += [
            "",
            f"_{omitted} diff{'s' if omitted != 1 else ''} left out for size; "
            f"run `gitkube diff {' '.join(s.commit[:12] for s in (base, head) if s.commit)}` "
            "to see everything._",
        ]
    return "\n".join(lines) + "\n"


def print_diff(report: DiffReport) -> None:
    """The diff for a terminal: risks first, then each app's objects with their diffs."""
    typer.secho(f"{report.base.ref}..{report.head.ref}: {report.summary()}", bold=True)
    for risk in report.risks:
        where = f" [{risk.app}]" if risk.app else ""
        colour = "red" if risk.severity == "high" else "yellow"
        typer.secho(f"! {risk.reason}{where}: {risk.message}", fg=colour)
    marks = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}
    for app_path in report.apps:
        typer.secho(f"\napp {app_path}", bold=True)
        for change in (c for c in report.changes if c.app == app_path):
            mark, colour = marks[change.action]
            gce = " [GCE]" if change.gce else ""
            typer.secho(
                f"{mark} {change.action} {describe(change)}{gce}{secret_keys_note(change)}",
                fg=colour,
            )
            for line in change.diff.splitlines():
                style = (
                    "cyan"
                    if line.startswith("@@")
                    else "green"
                    if line.startswith("+") and not line.startswith("+++")
                    else "red"
                    if line.startswith("-") and not line.startswith("---")
                    else None
                )
                typer.secho(f"    {line}", fg=style)


def print_cluster_diff(report: ClusterDiffReport) -> None:
    """The diff of a repo with ``clusters:``: every cluster's summary, then each cluster's diff."""
    typer.secho(report.summary(), bold=True)
    for cluster, cluster_report in report.reports.items():
        if not cluster_report.changes:
            continue
        typer.secho(f"\n== cluster {cluster}", bold=True)
        print_diff(cluster_report)


def cluster_markdown(report: ClusterDiffReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """The pull-request comment of a repo with ``clusters:``: which clusters a change
    reaches on top, then each changed cluster's section (the comment limit shared)."""
    lines = ["### gitkube diff", ""]
    lines += [f"- **{report.cluster_summary(cluster)}**" for cluster in report.reports]
    changed = {c: r for c, r in report.reports.items() if r.changes}
    share = (limit - 2000) // max(len(changed), 1)
    for cluster, cluster_report in changed.items():
        section = to_markdown(cluster_report, limit=share)
        lines += ["", section.replace("### gitkube diff", f"#### cluster `{cluster}`", 1).rstrip()]
    return "\n".join(lines) + "\n"
