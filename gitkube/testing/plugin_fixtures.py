"""A fixture for plugin authors: register a plugin for one test only.

::

    def test_my_plugin_adds_owner(gitkube_plugin, tmp_path):
        gitkube_plugin(my_plugin_module)
        result = render_tree(DirectoryTree(repo))   # or run `gitkube render` in-process
        ...

The plugin takes part in every plugin manager built during the test, after
the built-ins, and is removed when the test ends, whether it passed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from gitkube.domain.plugin_manager import registered_for_tests


@pytest.fixture
def gitkube_plugin() -> Iterator[Callable[..., None]]:
    """Call it with a plugin object (a module or instance) and optionally a name."""
    with ExitStack() as stack:

        def register(plugin: object, name: str | None = None) -> None:
            plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            stack.enter_context(registered_for_tests(plugin, plugin_name))

        yield register
