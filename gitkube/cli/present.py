"""How the CLI speaks: text for people, JSON for machines, errors on stderr."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer

from gitkube.primitives.errors import GitkubeError


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


def run(action: Callable[[], Any]) -> Any:
    with reported_errors():
        return action()
