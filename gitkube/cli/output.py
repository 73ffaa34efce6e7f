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


@contextmanager
def reported_errors(output: str | None = None) -> Iterator[None]:
    """Turn a :class:`GitkubeError` into one message on stderr and its exit code.

    Under ``-o json``/``-o yaml`` the error is also written to stdout in that
    format (``{"error": {"message", "file", "line", "plugin", "app", "object",
    "exitCode"}}``), so a program reading stdout sees it.
    """
    try:
        yield
    except GitkubeError as exc:
        if debug_enabled():
            # The whole chain: a plugin's own exception comes first.
            traceback.print_exception(exc, file=sys.stderr)
        if output in (Format.json, Format.yaml):
            emit(output, {"error": error_document(exc)})
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None


def error_document(exc: GitkubeError) -> dict[str, Any]:
    return {
        "message": exc.message,
        "file": exc.file,
        "line": exc.line,
        "plugin": exc.plugin,
        "app": exc.app,
        "object": exc.obj,
        "exitCode": exc.exit_code,
        "text": str(exc),
    }


def run(action: Callable[[], Any]) -> Any:
    with reported_errors():
        return action()
