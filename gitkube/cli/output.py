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


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


class _Settings:
    """Process-wide CLI settings from the root options."""

    debug = False


settings = _Settings()


def debug_enabled() -> bool:
    return settings.debug or os.environ.get("GITKUBE_DEBUG", "") not in ("", "0")


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a :class:`GitkubeError` into one message on stderr and its exit code."""
    try:
        yield
    except GitkubeError as exc:
        if debug_enabled():
            # The whole chain: a plugin's own exception comes first.
            traceback.print_exception(exc, file=sys.stderr)
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None


def run(action: Callable[[], Any]) -> Any:
    with reported_errors():
        return action()
