"""The ``gitkube`` command line (thin: parse, call the library, report)."""

from gitkube.cli.app import app, main

__all__ = ["app", "main"]
