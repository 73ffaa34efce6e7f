"""How the CLI speaks: text for people, JSON for machines, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer

from gitkube.primitives.errors import GitkubeError


class Format(StrEnum):
    text = "text"
    json = "json"


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


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
def reported_errors(output: str = "text") -> Iterator[None]:
    """Turn a :class:`GitkubeError` into one message on stderr and its exit code.

    Under ``-o json`` the error is also a JSON document on stdout, and under
    ``-o markdown`` a comment saying what failed, so a CI job that posts the
    output never posts nothing.
    """
    try:
        yield
    except GitkubeError as exc:
        if output == "json":
            emit_json(error_document(exc))
        elif output == "markdown":
            sys.stdout.write(error_markdown(exc))
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None


def run(action: Callable[[], Any]) -> Any:
    with reported_errors():
        return action()
