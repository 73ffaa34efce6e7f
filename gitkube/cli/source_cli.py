"""``gitkube set`` and ``gitkube import``: edit or create the source repo (thin: the
work is in gitkube.commands.set_values and gitkube.commands.import_repo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitkube.cli.app import OutputOption, app
from gitkube.cli.present import Format, emit, reported_errors


@app.command(name="set")
def set_command(
    arguments: Annotated[
        list[str],
        typer.Argument(
            metavar="image APP NAME=REF | APP KEY=VALUE",
            help="`image APP NAME=REF` sets an image's tag, digest or reference; "
            "`APP KEY=VALUE` sets an app.yaml value (dotted KEY reaches into mappings).",
            show_default=False,
        ),
    ],
    repo: Annotated[
        Path, typer.Option("--repo", "-C", help="The config repo (default: here).")
    ] = Path("."),
    commit: Annotated[
        bool, typer.Option("--commit", help="Commit the edited files (a conventional message).")
    ] = False,
    output: OutputOption = Format.text,
) -> None:
    """Edit app.yaml, a kustomization or a manifest in the work tree, keeping the rest byte for byte."""
    from gitkube.commands.set_values import set_image, set_value

    with reported_errors(output):
        if len(arguments) == 3 and arguments[0] == "image":
            edit = set_image(repo, arguments[1], arguments[2], commit=commit)
        elif len(arguments) == 2:
            edit = set_value(repo, arguments[0], arguments[1], commit=commit)
        else:
            raise typer.BadParameter(
                "give `image APP NAME=REF` or `APP KEY=VALUE`", param_hint="ARGUMENTS"
            )
    if output.structured:
        emit(
            output,
            {"app": edit.app, "files": edit.files, "changes": edit.changes, "commit": edit.commit},
        )
        return
    for change in edit.changes:
        typer.echo(change)
    if edit.commit:
        typer.echo(f"committed {edit.commit[:12]}")


@app.command(name="import")
def import_command(
    source: Annotated[Path, typer.Argument(help="A checkout of an Argo CD or Flux repo.")],
    target: Annotated[Path, typer.Argument(help="Where to write the gitkube repo (new or empty).")],
    output: OutputOption = Format.text,
) -> None:
    """Write gitkube app directories and app.yaml files for an Argo CD or Flux repo."""
    from gitkube.commands.import_repo import import_repo

    with reported_errors(output):
        report = import_repo(source, target)
    if output.structured:
        emit(
            output,
            {
                "apps": [
                    {"directory": a.directory, "settings": a.settings, "from": a.origin}
                    for a in report.apps
                ],
                "unmapped": report.unmapped,
                "droppedFiles": report.dropped_files,
            },
        )
        return
    for imported in report.apps:
        typer.echo(f"app {imported.directory}: from {imported.origin}")
    for line in report.unmapped:
        typer.echo(f"not mapped: {line}")
    typer.echo(
        f"imported {len(report.apps)} apps into {target}; {len(report.unmapped)} things not mapped"
    )
