"""``gitkube plugins``: which plugins are active, their versions, hooks and app.yaml keys."""

from __future__ import annotations

from pathlib import Path

from gitkube.domain.config import CONFIG_FILE, parse_config
from gitkube.domain.plugin_manager import PluginInfo, build_plugin_manager


def list_plugins(repo: Path | None = None) -> list[PluginInfo]:
    """The plugins a render of ``repo`` would use (its gitkube.yaml may disable some)."""
    config_file = (repo or Path.cwd()) / CONFIG_FILE
    config = parse_config(config_file.read_bytes() if config_file.is_file() else None)
    return build_plugin_manager(config.disabled_plugins).plugins()
