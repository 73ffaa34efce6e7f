"""What render hooks receive besides the object at hand, and what validators return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gitkube.domain.config import RepoConfig

if TYPE_CHECKING:
    from gitkube.domain.resources import App, Resource


class RenderHooks(Protocol):
    """What a render asks of the plugins besides the stages it drives itself
    (:class:`gitkube.domain.plugin_manager.PluginHooks` is one). A protocol,
    so this module needs nothing of the plugin manager: no import circle."""

    def resolve_image(self, image: str, app: App, ctx: RenderContext) -> str: ...

    def validate(self, resources: Sequence[Resource], ctx: RenderContext) -> list[Problem]: ...


@dataclass(frozen=True)
class RenderContext:
    """The repo-wide facts of one render.

    ``config`` is the parsed ``gitkube.yaml``; ``applyset_id`` the ownership id
    every rendered object carries; ``hooks`` lets a plugin ask the other
    plugins (for instance :meth:`PluginHooks.resolve_image`).
    """

    config: RepoConfig
    applyset_id: str
    hooks: RenderHooks

    def options(self, plugin: str) -> Mapping[str, Any]:
        """``plugins.options.<plugin>`` from gitkube.yaml (empty when unset)."""
        return self.config.options_for(plugin)

    def resolve_image(self, image: str, app: App) -> str:
        """The image reference after every ``gitkube_resolve_image`` hook had its say."""
        return self.hooks.resolve_image(image=image, app=app, ctx=self)


@dataclass(frozen=True)
class Problem:
    """A finding of a ``gitkube_validate`` hook.

    An ``error`` stops the render; a ``warning`` is reported and rendering goes on.
    ``plugin`` is the plugin that found it; the plugin manager fills it in.
    """

    message: str
    file: str | None = None
    app: str | None = None
    obj: str | None = None
    severity: Literal["error", "warning"] = "error"
    plugin: str | None = None

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.file, self.app and f"app {self.app}", self.obj) if p)
        return f"{where}: {self.message}" if where else self.message
