"""Fixtures for plugin authors: register a plugin for one test, render a repo in memory.

::

    def test_my_plugin(gitkube_plugin, gitkube_render):
        gitkube_plugin(my_plugin_module)
        rendered = gitkube_render({"web/a/app.yaml": "...", "web/a/deploy.yaml": "..."})
        hpa = rendered.object("HorizontalPodAutoscaler", "a")

The plugin takes part in every plugin manager built during the test, after
the built-ins, and is removed when the test ends, whether it passed or not.
It works the same when the plugin is also installed through its entry point
(the registered object then takes the entry point's place).
"""

from __future__ import annotations

import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitkube.domain.plugin_manager import registered_for_tests
from gitkube.domain.render import render_tree
from gitkube.primitives.filetree import DirectoryTree

DEFAULT_CONFIG = (
    "cluster: {name: test, project: test-project, region: us-central1, zone: us-central1-b}\n"
)


@dataclass(frozen=True)
class Rendered:
    """What a render made: rendered files by path, the objects, the warnings."""

    files: dict[str, str]
    objects: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def object(self, kind: str, name: str) -> dict[str, Any]:
        """The one rendered object of this kind and name (KeyError when none)."""
        for obj in self.objects:
            if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
                return obj
        raise KeyError(f"no {kind} {name} among {len(self.objects)} rendered objects")


def render_files(files: dict[str, str], config: str = DEFAULT_CONFIG) -> Rendered:
    """Render a config repo given as ``{path: text}`` (texts are dedented).

    Raises :class:`gitkube.plugin_api.GitkubeError` exactly as ``gitkube render`` would.
    """
    with tempfile.TemporaryDirectory() as root:
        for rel, text in {"gitkube.yaml": config, **files}.items():
            path = Path(root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        result = render_tree(DirectoryTree(Path(root)))
    return Rendered(
        files={path: data.decode() for path, data in result.files.items()},
        objects=[resource.body for resource in result.resources],
        warnings=[str(problem) for problem in result.warnings],
    )


@pytest.fixture
def gitkube_plugin() -> Iterator[Callable[..., None]]:
    """Call it with a plugin object (a module or instance) and optionally a name."""
    with ExitStack() as stack:

        def register(plugin: object, name: str | None = None) -> None:
            plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            stack.enter_context(registered_for_tests(plugin, plugin_name))

        yield register


@pytest.fixture
def gitkube_render() -> Callable[..., Rendered]:
    """Render ``{path: text}`` files as a config repo (see :func:`render_files`)."""
    return render_files
