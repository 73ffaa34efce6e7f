"""Command definitions. Each one parses, calls :mod:`gitkube.commands`, and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitkube import __version__
from gitkube.cli.output import Format, emit_json, reported_errors, warn

app = typer.Typer(
    name="gitkube",
    help="Render a Git repo of Kubernetes apps, review the plan, sync it (with its GCE networking).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

OutputOption = Annotated[Format, typer.Option("--output", "-o", help="text or json")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gitkube {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """gitkube: GitOps for Kubernetes and Google Compute Engine."""


@app.command()
def render(
    repo: Annotated[Path, typer.Argument(help="The config repo (default: here).")] = Path("."),
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the rendered files into this directory.")
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Render the repo's apps through the plugins."""
    from gitkube.commands.render import render_to_directory

    with reported_errors():
        if out is None:
            raise typer.BadParameter("--out DIR is required for now", param_hint="--out")
        summary = render_to_directory(repo, out)
    for problem in summary.warnings:
        warn(str(problem))
    if output is Format.json:
        emit_json(summary.as_dict())
    else:
        typer.echo(
            f"rendered {summary.objects} objects ({summary.gce_objects} GCE) "
            f"from {summary.apps} apps into {summary.output}"
        )


@app.command()
def plugins(
    repo: Annotated[Path, typer.Argument(help="The config repo (default: here).")] = Path("."),
    output: OutputOption = Format.text,
) -> None:
    """List plugins in call order with versions, hooks and the app.yaml keys they own."""
    from gitkube.commands.plugins import list_plugins

    with reported_errors():
        infos = list_plugins(repo)
    if output is Format.json:
        emit_json(
            [
                {
                    "name": i.name,
                    "version": i.version,
                    "builtin": i.builtin,
                    "hooks": list(i.hooks),
                    "appKeys": list(i.app_keys),
                }
                for i in infos
            ]
        )
        return
    for info in infos:
        origin = "built-in" if info.builtin else "installed"
        keys = f"  keys: {', '.join(info.app_keys)}" if info.app_keys else ""
        typer.echo(f"{info.name} {info.version} ({origin}){keys}")
        typer.echo(f"  hooks: {', '.join(info.hooks)}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the config repo.")],
    output: OutputOption = Format.text,
) -> None:
    """Create a new config repo from the bundled example."""
    from gitkube.commands.init import init_repo

    with reported_errors():
        files = init_repo(directory)
    if output is Format.json:
        emit_json({"directory": str(directory), "files": files})
    else:
        typer.echo(f"created {directory} with {len(files)} files; next: cd {directory} && git init")


def main() -> None:
    app()
