"""Fixtures for plugin authors: register a plugin for one test, render a repo in memory.

::

    def test_my_plugin(gitkube_plugin, gitkube_render):
        gitkube_plugin(my_plugin_module)
        rendered = gitkube_render({"web/a/app.yaml": "...", "web/a/deploy.yaml": "..."})
        hpa = rendered.object("HorizontalPodAutoscaler", "a")

The plugin takes part in what the test's own fixtures build (``gitkube_render``,
the ``cli`` of gitkube's suite, ``gitkube_plugin.hooks()``), after the
built-ins; it is handed to the plugin manager explicitly (there is no global
registry), so it ends with the test, whether it passed or not. It works the
same when the plugin is also installed through its entry point (the
registered object then takes the entry point's place).
"""

from __future__ import annotations

import tempfile
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitkube.domain.config import RepoConfig
from gitkube.domain.plugin_manager import ExtraPlugins, PluginHooks, build_plugin_manager
from gitkube.primitives.filetree import DirectoryTree
from gitkube.render.pipeline import render_tree

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


def render_files(
    files: dict[str, str], config: str = DEFAULT_CONFIG, *, plugins: ExtraPlugins = ()
) -> Rendered:
    """Render a config repo given as ``{path: text}`` (texts are dedented), with
    ``plugins`` (``name, plugin`` pairs) after the installed ones.

    Raises :class:`gitkube.plugin_api.GitkubeError` exactly as ``gitkube render`` would.
    """
    with tempfile.TemporaryDirectory() as root:
        for rel, text in {"gitkube.yaml": config, **files}.items():
            path = Path(root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        result = render_tree(
            DirectoryTree(Path(root)),
            plugins=lambda repo_config: build_plugin_manager(
                repo_config.disabled_plugins, plugins=plugins
            ),
        )
    return Rendered(
        files={path: data.decode() for path, data in result.files.items()},
        objects=[resource.body for resource in result.resources],
        warnings=[str(problem) for problem in result.warnings],
    )


class TestPlugins:
    """One test's plugins: call it with a plugin object (a module or instance)
    and optionally a name; ``plugins`` lists them for the plugin manager."""

    __test__ = False  # not a test class, whatever pytest's name rules say

    def __init__(self) -> None:
        self.plugins: list[tuple[str, object]] = []

    def __call__(self, plugin: object, name: str | None = None) -> None:
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        self.plugins.append((plugin_name, plugin))

    def hooks(self, disabled: Iterable[str] = (), *, builtins_only: bool = False) -> PluginHooks:
        """A plugin manager with the installed plugins and this test's."""
        return build_plugin_manager(disabled, builtins_only=builtins_only, plugins=self.plugins)

    def for_config(self, config: RepoConfig) -> PluginHooks:
        """The plugin manager a render of ``config`` uses (``render_tree(plugins=...)``)."""
        return self.hooks(config.disabled_plugins)


@pytest.fixture
def gitkube_plugin() -> TestPlugins:
    """Call it with a plugin object (a module or instance) and optionally a name."""
    return TestPlugins()


@pytest.fixture
def gitkube_render(gitkube_plugin: TestPlugins) -> Callable[..., Rendered]:
    """Render ``{path: text}`` files as a config repo (see :func:`render_files`),
    with the plugins given to ``gitkube_plugin``."""

    def render(files: dict[str, str], config: str = DEFAULT_CONFIG) -> Rendered:
        return render_files(files, config, plugins=gitkube_plugin.plugins)

    return render
