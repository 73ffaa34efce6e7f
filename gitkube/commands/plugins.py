"""``gitkube plugins``: which plugins are active, their versions, hooks and app.yaml keys."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from gitkube.domain.config import CONFIG_FILE, RepoConfig, parse_config
from gitkube.domain.plugin_manager import ExtraPlugins, PluginInfo, build_plugin_manager
from gitkube.primitives.errors import GitkubeError


def read_config(repo: Path | None = None) -> RepoConfig:
    """The repo's gitkube.yaml (all defaults when it has none)."""
    root = repo or Path.cwd()
    if not root.is_dir():
        raise GitkubeError("no such directory", file=str(root))
    config_file = root / CONFIG_FILE
    return parse_config(
        config_file.read_bytes() if config_file.is_file() else None, path=str(config_file)
    )


def list_plugins(repo: Path | None = None, *, plugins: ExtraPlugins = ()) -> list[PluginInfo]:
    """The plugins a render of ``repo`` would use (its gitkube.yaml may disable some)."""
    return build_plugin_manager(read_config(repo).disabled_plugins, plugins=plugins).plugins()


def required_plugins(repo: Path | None = None) -> list[str]:
    """``plugins.require`` of the repo's gitkube.yaml, as pip requirement lines."""
    from gitkube.domain.requirements import parse_requirements

    return [str(r) for r in parse_requirements(read_config(repo).required_plugins)]


def versions() -> dict[str, Any]:
    """gitkube's, Python's and every installed plugin's version (none disabled)."""
    from gitkube import __version__

    return {
        "gitkube": __version__,
        "python": platform.python_version(),
        "plugins": build_plugin_manager().versions(),
    }
