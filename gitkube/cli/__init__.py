"""The ``gitkube`` command line (thin: parse, call the library, report)."""

from gitkube.cli import secret_cli, source_cli, sync_cli  # noqa: F401  (their commands register themselves)
from gitkube.cli.app import EXIT_CODES, app, main

# Every command's --help ends with the exit codes.
for _command in app.registered_commands:
    _command.epilog = _command.epilog or EXIT_CODES

__all__ = ["app", "main"]
