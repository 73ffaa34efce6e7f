"""The ``gitkube`` command line (thin: parse, call the library, report)."""

from gitkube.cli import secret_cli, sync_cli
from gitkube.cli.app import EXIT_CODES, app, main

app.command()(sync_cli.plan)
app.command()(sync_cli.sync)
app.command()(sync_cli.status)
app.command()(sync_cli.agent)
app.add_typer(secret_cli.secret_app)

# Every command's --help ends with the exit codes.
for _command in app.registered_commands:
    _command.epilog = _command.epilog or EXIT_CODES

__all__ = ["app", "main"]
