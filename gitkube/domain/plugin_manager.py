"""Building the plugin manager and calling hooks through a typed facade.

The manager is built by :func:`build_plugin_manager`, never at import time, so
tests and commands each get their own. Built-in plugins come from an explicit
ordered list (as pytest and tox do) and register through the same public
``hookimpl`` API a third-party plugin uses; third-party plugins come from the
``gitkube`` entry-point group.
"""

from __future__ import annotations

import importlib
import logging
import os
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, TypeVar

import jsonschema
import pluggy

from gitkube.domain import hookspec
from gitkube.domain.config import CONFIG_FILE, closest, schema_error_message
from gitkube.domain.health import HEALTHY, Health, HealthState
from gitkube.domain.schema import strict_validator
from gitkube.primitives.errors import GitkubeError

if TYPE_CHECKING:
    from gitkube.domain.context import Problem, RenderContext
    from gitkube.domain.notify import Event
    from gitkube.domain.resources import App, Resource
    from gitkube.domain.targets import SyncSettings, Target

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gitkube"
DISABLE_ENV = "GITKUBE_DISABLE_PLUGINS"

# Order matters: transforms run in this order (DESIGN §3); `checks` validates;
# the targets serve `gitkube sync` (GCE first: Services bind its addresses).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "labels",
    "image",
    "volumes",
    "disk",
    "external",
    "checks",
    "gce_target",
    "kubernetes_target",
    "health",
    "notify",
)
BUILTIN_PACKAGE = "gitkube_plugins"

T = TypeVar("T")

# Plugins added for the duration of a test by gitkube.testing.plugin_fixtures;
# registered after the built-ins, so they run last, like any third-party plugin.
_test_plugins: list[tuple[str, object]] = []


@contextmanager
def registered_for_tests(plugin: object, name: str) -> Iterator[None]:
    """Make every plugin manager built inside the block include ``plugin``."""
    entry = (name, plugin)
    _test_plugins.append(entry)
    try:
        yield
    finally:
        _test_plugins.remove(entry)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    builtin: bool
    hooks: tuple[str, ...]
    app_keys: tuple[str, ...]
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _third_party_entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def build_plugin_manager(
    disabled: Iterable[str] = (), *, builtins_only: bool = False
) -> PluginHooks:
    """Make a plugin manager with the built-ins and every installed plugin.

    :param disabled: plugin names to leave out (``plugins.disable`` of
        gitkube.yaml); names in ``$GITKUBE_DISABLE_PLUGINS`` are added.
    :param builtins_only: skip third-party entry points (used by tests).
    Raises :class:`GitkubeError` for a disabled name no plugin has, and for a
    plugin that fails to load.
    """
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    third_party = [] if builtins_only else _third_party_entry_points()
    known = set(BUILTIN_PLUGINS) | {ep.name for ep in third_party} | {n for n, _ in _test_plugins}
    blocked = set(disabled) | disabled_from_env()
    for name in sorted(blocked - known):
        raise GitkubeError(
            f'unknown plugin "{name}" in plugins.disable{closest(name, known)}; '
            f"installed plugins: {', '.join(sorted(known))}",
            file="gitkube.yaml" if name in set(disabled) else f"${DISABLE_ENV}",
        )
    # pluggy calls the last registered first: register in reverse so the call
    # order is built-ins in BUILTIN_PLUGINS order, then third-party by name.
    for name, plugin in reversed(_test_plugins):
        pm.register(plugin, name=name)
    for_tests = {id(plugin) for _, plugin in _test_plugins}
    for ep in reversed(third_party):
        if ep.name in blocked:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise GitkubeError(f"cannot load: {type(exc).__name__}: {exc}", plugin=ep.name) from exc
        if id(plugin) in for_tests:
            continue  # registered for a test already: one registration, not two
        pm.register(plugin, name=ep.name)
    for name in reversed(BUILTIN_PLUGINS):
        if name not in blocked:
            pm.register(importlib.import_module(f"{BUILTIN_PACKAGE}.{name}"), name=name)
    return PluginHooks(pm)


class PluginHooks:
    """A typed facade over ``pm.hook``: one method per hook.

    Every call turns an exception raised inside a plugin into a
    :class:`GitkubeError` that names the plugin (and the app and file when the
    caller knows them), so a plugin bug reads as a message, not a traceback.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- render side ---------------------------------------------------------
    def app_keys(self) -> dict[str, tuple[str, Mapping[str, Any]]]:
        """Every declared app.yaml key with its owning plugin and value schema."""
        owners: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for impl in self._impls("gitkube_app_keys"):
            declared = self._call_impl(impl, {}) or {}
            for key, schema in declared.items():
                if key in owners:
                    raise GitkubeError(
                        f'app.yaml key "{key}" is declared by both '
                        f"{owners[key][0]} and {impl.plugin_name}",
                        plugin=impl.plugin_name,
                    )
                owners[key] = (impl.plugin_name, schema)
        return owners

    def option_schemas(self) -> dict[str, Mapping[str, Any]]:
        """Each plugin's declared options schema, by plugin name."""
        schemas: dict[str, Mapping[str, Any]] = {}
        for impl in self._impls("gitkube_plugin_options"):
            schema = self._call_impl(impl, {})
            if schema is not None:
                schemas[impl.plugin_name] = schema
        return schemas

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Check ``plugins.options`` of gitkube.yaml against what the plugins declare."""
        schemas = self.option_schemas()
        names = set(self.plugin_names())
        for plugin, value in options.items():
            where = f"plugins.options.{plugin}"
            if plugin not in names:
                raise GitkubeError(
                    f'{where}: no plugin "{plugin}" is active{closest(plugin, names)}; '
                    f"plugins: {', '.join(sorted(names))}",
                    file=CONFIG_FILE,
                )
            if plugin not in schemas:
                raise GitkubeError(f"{where}: plugin {plugin} takes no options", file=CONFIG_FILE)
            error = jsonschema.exceptions.best_match(
                strict_validator(schemas[plugin]).iter_errors(value)
            )
            if error is not None:
                raise GitkubeError(
                    f"{where}: {schema_error_message(error)}", file=CONFIG_FILE, plugin=plugin
                )

    def generate(
        self, app: App, ctx: RenderContext, resources: Sequence[Resource] = ()
    ) -> list[tuple[str, dict[str, Any]]]:
        """(plugin name, object) for every object the plugins make for ``app``."""
        made: list[tuple[str, dict[str, Any]]] = []
        for impl in self._impls("gitkube_generate"):
            kwargs = {"app": app, "ctx": ctx, "resources": resources}
            objects = self._call_impl(impl, kwargs, app=app)
            for obj in objects or ():
                if not isinstance(obj, dict):
                    raise GitkubeError(
                        f"gitkube_generate returned a {type(obj).__name__}, not a mapping",
                        plugin=impl.plugin_name,
                        app=app.path,
                    )
                made.append((impl.plugin_name, obj))
        return made

    def transform(self, resource: Resource, ctx: RenderContext) -> None:
        self._call(
            lambda: self.pm.hook.gitkube_transform(resource=resource, ctx=ctx),
            "gitkube_transform",
            app=resource.app,
            file=resource.source,
            obj=resource.describe(),
        )

    def resolve_image(self, image: str, app: App, ctx: RenderContext) -> str:
        result = self._call(
            lambda: self.pm.hook.gitkube_resolve_image(image=image, app=app, ctx=ctx),
            "gitkube_resolve_image",
            app=app,
        )
        return image if result is None else str(result)

    def validate(self, resources: Sequence[Resource], ctx: RenderContext) -> list[Problem]:
        problems: list[Problem] = []
        for impl in self._impls("gitkube_validate"):
            problems.extend(self._call_impl(impl, {"resources": resources, "ctx": ctx}) or ())
        return problems

    # -- sync side -----------------------------------------------------------
    def sync_targets(self, settings: SyncSettings) -> list[Target]:
        targets: list[Target] = []
        for impl in self._impls("gitkube_sync_targets"):
            targets.extend(self._call_impl(impl, {"settings": settings}) or ())
        return targets

    def health(self, obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> Health:
        """One object's health; Healthy when it exists and no plugin knows its kind."""
        result = self._call(
            lambda: self.pm.hook.gitkube_health(obj=obj, live=live),
            "gitkube_health",
            obj=f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}",
        )
        if result is not None:
            return result
        return HEALTHY if live is not None else Health(HealthState.MISSING, "NotFound")

    def notify(self, event: Event, settings: SyncSettings) -> None:
        """Tell every plugin; a plugin that fails to listen never fails the run."""
        for impl in self._impls("gitkube_notify"):
            try:
                self._call_impl(impl, {"event": event, "settings": settings})
            except GitkubeError as exc:
                log.warning("notification not sent: %s", exc)

    # -- introspection -------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """The registered plugins in call order, with versions, hooks and keys."""
        keys_by_plugin: dict[str, dict[str, Mapping[str, Any]]] = {}
        for key, (owner, schema) in self.app_keys().items():
            keys_by_plugin.setdefault(owner, {})[key] = schema
        infos = []
        dists = {ep.name: ep.dist for ep in _third_party_entry_points()}
        for name in self.plugin_names():
            plugin = self.pm.get_plugin(name)
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ()))
            dist = dists.get(name)
            builtin = name in BUILTIN_PLUGINS
            version = _gitkube_version() if builtin or dist is None else dist.version
            schemas = keys_by_plugin.get(name, {})
            infos.append(
                PluginInfo(
                    name,
                    version,
                    builtin,
                    hooks,
                    tuple(sorted(schemas)),
                    {key: schemas[key] for key in sorted(schemas)},
                )
            )
        return infos

    def plugin_names(self) -> list[str]:
        """Registered plugin names in call order."""
        names = [name for name, _ in self.pm.list_name_plugin()]
        return list(reversed(names))

    def versions(self) -> dict[str, str]:
        return {info.name: info.version for info in self.plugins()}

    # -- plumbing ------------------------------------------------------------
    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        # get_hookimpls() lists in registration order; calls go the other way.
        return list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))

    def _call_impl(
        self, impl: pluggy.HookImpl, kwargs: dict[str, Any], app: App | None = None
    ) -> Any:
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            return impl.function(**args)
        except Exception as exc:
            raise _plugin_error(exc, impl.plugin_name, app=app) from exc

    def _call(
        self,
        call: Callable[[], T],
        hook_name: str,
        *,
        app: App | None = None,
        file: str | None = None,
        obj: str | None = None,
    ) -> T:
        try:
            return call()
        except Exception as exc:
            plugin = _raising_plugin(exc, self._impls(hook_name))
            raise _plugin_error(exc, plugin, app=app, file=file, obj=obj) from exc


def _raising_plugin(exc: BaseException, impls: list[pluggy.HookImpl]) -> str | None:
    """The plugin whose hook implementation is on the traceback of ``exc``."""
    codes = {impl.function.__code__: impl.plugin_name for impl in impls}
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return codes[tb.tb_frame.f_code]
        tb = tb.tb_next
    return None


def _plugin_error(
    exc: Exception,
    plugin: str | None,
    *,
    app: App | None = None,
    file: str | None = None,
    obj: str | None = None,
) -> GitkubeError:
    if isinstance(exc, GitkubeError):
        exc.plugin = exc.plugin or plugin
        exc.app = exc.app or (app.path if app else None)
        exc.file = exc.file or file
        exc.obj = exc.obj or obj
        return exc
    return GitkubeError(
        f"plugin raised {type(exc).__name__}: {exc}",
        plugin=plugin or "unknown",
        app=app.path if app else None,
        file=file,
        obj=obj,
    )


def _gitkube_version() -> str:
    from gitkube import __version__

    return __version__
