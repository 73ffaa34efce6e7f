"""The ``gitkube`` command line (thin: parse, call the library, report)."""

from gitkube.cli import sync_cli
from gitkube.cli.app import app, main

app.command()(sync_cli.plan)
app.command()(sync_cli.sync)
app.command()(sync_cli.status)
app.command()(sync_cli.agent)

__all__ = ["app", "main"]
