"""Building the plugin manager and calling hooks through a typed facade.

The manager is built by :func:`build_plugin_manager`, never at import time, so
tests and commands each get their own. Built-in plugins come from an explicit
ordered list (as pytest and tox do) and register through the same public
``hookimpl`` API a third-party plugin uses; third-party plugins come from the
``gitkube`` entry-point group.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from gitkube.domain import hookspec
from gitkube.domain.config import CONFIG_FILE, closest, schema_error_message
from gitkube.domain.health import HEALTHY, Health, HealthState
from gitkube.domain.schema import first_error
from gitkube.primitives.errors import GitkubeError

if TYPE_CHECKING:
    from gitkube.domain.context import Problem, RenderContext
    from gitkube.domain.notify import Event
    from gitkube.domain.resources import App, Resource
    from gitkube.domain.sources import AppSource, SourceObject
    from gitkube.domain.targets import SyncSettings, Target

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gitkube"
DISABLE_ENV = "GITKUBE_DISABLE_PLUGINS"

# Order matters: transforms run in this order (DESIGN §3); `checks` validates;
# the targets serve `gitkube sync` (GCE first: Services bind its addresses).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "plain",
    "kustomize",
    "helm",
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
# Built-in plugins that are packages: the module holding their hooks.
_BUILTIN_MODULES = {
    "gce_target": "gce.target",
    "kubernetes_target": "kubernetes.target",
    # the sources (gitkube_source): plain manifests, kustomize, helm
    "plain": "sources.plain",
    "kustomize": "sources.kustomize",
    "helm": "sources.helm",
}

#: Plugins handed in by the caller (``name, plugin object``), as tox takes its
#: inline plugin: the test kit's ``gitkube_plugin`` fixture passes them this way.
ExtraPlugins = Sequence[tuple[str, object]]


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
    disabled: Iterable[str] = (),
    *,
    builtins_only: bool = False,
    plugins: ExtraPlugins = (),
) -> PluginHooks:
    """Make a plugin manager with the built-ins and every installed plugin.

    :param disabled: plugin names to block (``plugins.disable`` of
        gitkube.yaml); names in ``$GITKUBE_DISABLE_PLUGINS`` are added.
    :param builtins_only: skip third-party entry points (used by tests).
    :param plugins: more plugins, registered after the others (so called
        last, like any third-party plugin); one named like an installed entry
        point takes its place.
    Raises :class:`GitkubeError` for a disabled name no plugin has, for a
    plugin that fails to load, and for a hook implementation no hook
    specification matches (a misspelt hook name), naming the plugin.
    """
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    third_party = [] if builtins_only else _third_party_entry_points()
    extra_names = {name for name, _ in plugins}
    known = set(BUILTIN_PLUGINS) | {ep.name for ep in third_party} | extra_names
    blocked = set(disabled) | disabled_from_env()
    for name in sorted(blocked - known):
        raise GitkubeError(
            f'unknown plugin "{name}" in plugins.disable{closest(name, known)}; '
            f"installed plugins: {', '.join(sorted(known))}",
            file="gitkube.yaml" if name in set(disabled) else f"${DISABLE_ENV}",
        )
    for name in sorted(blocked):
        pm.set_blocked(name)  # register() of a blocked name is then a no-op
    # pluggy calls the last registered first: register in reverse so the call
    # order is built-ins in BUILTIN_PLUGINS order, then third-party by name,
    # then the plugins handed in.
    extra_objects = {id(plugin) for _, plugin in plugins}
    for name, plugin in reversed(plugins):
        _register(pm, plugin, name)
    for ep in reversed(third_party):
        if ep.name in blocked or ep.name in extra_names:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise GitkubeError(f"cannot load: {type(exc).__name__}: {exc}", plugin=ep.name) from exc
        if id(plugin) in extra_objects:
            continue  # handed in already: one registration, not two
        _register(pm, plugin, ep.name)
    for name in reversed(BUILTIN_PLUGINS):
        if name not in blocked:
            module = _BUILTIN_MODULES.get(name, name)
            _register(pm, importlib.import_module(f"{BUILTIN_PACKAGE}.{module}"), name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _validation_error(pm, exc) from None
    _name_the_plugin_on_errors(pm)
    return PluginHooks(pm)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise _validation_error(pm, exc, name) from None


def _validation_error(
    pm: pluggy.PluginManager, exc: pluggy.PluginValidationError, name: str | None = None
) -> GitkubeError:
    """pluggy's refusal of a plugin, as one line naming the plugin and the hook."""
    name = name or pm.get_name(exc.plugin) or repr(exc.plugin)
    for caller in pm.get_hookcallers(exc.plugin) or ():
        if caller.spec is None:  # check_pending: an implementation of no known hook
            hooks = [h for h in vars(hookspec) if h.startswith(f"{hookspec.PROJECT}_")]
            return GitkubeError(
                f'unknown hook "{caller.name}"{closest(caller.name, hooks)}; '
                f"hooks: {', '.join(sorted(hooks))}",
                plugin=name,
            )
    message = str(exc).replace(f"\nPlugin: {name},", "").splitlines()[0]
    return GitkubeError(f"invalid hook implementation: {message}", plugin=name)


# Hooks whose failing implementation is logged and skipped instead of failing
# the call: a plugin that fails to listen never fails the run.
_BEST_EFFORT_HOOKS = frozenset({"gitkube_notify"})


def _name_the_plugin_on_errors(pm: pluggy.PluginManager) -> None:
    """Wrap every hook implementation so an exception it raises names its plugin,
    and what it returns carries its plugin's name (see :class:`FromPlugin`).

    pluggy still makes every call (order, ``firstresult``, wrappers); only the
    function each :class:`pluggy.HookImpl` calls is wrapped.
    """
    for name, caller in vars(pm.hook).items():
        if not name.startswith(f"{hookspec.PROJECT}_"):
            continue
        for impl in caller.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                impl.function = _named_wrapper(impl.function, impl.plugin_name)
            else:
                impl.function = _named_function(
                    impl.function, impl.plugin_name, best_effort=name in _BEST_EFFORT_HOOKS
                )


class FromPlugin(list[Any]):
    """A hook implementation's iterable result, made a list that knows its plugin."""

    plugin: str


class FromPluginDict(dict[str, Any]):
    """A hook implementation's mapping result, knowing its plugin."""

    plugin: str


def _tagged(result: Any, plugin: str) -> Any:
    """``result`` marked with the plugin that made it (lists and mappings only)."""
    if result is None or isinstance(result, FromPlugin | FromPluginDict | str):
        return result
    tagged: FromPlugin | FromPluginDict
    if isinstance(result, Mapping):
        tagged = FromPluginDict(result)
    elif isinstance(result, Iterable):
        tagged = FromPlugin(result)
    else:
        return result
    tagged.plugin = plugin
    return tagged


def _named_function(
    function: Callable[..., Any], plugin: str, *, best_effort: bool
) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            return _tagged(function(*args), plugin)
        except Exception as exc:
            error = _plugin_error(exc, plugin)
            if best_effort:
                log.warning("notification not sent: %s", error)
                return None
            raise error from exc

    return call


def _named_wrapper(function: Callable[..., Any], plugin: str) -> Callable[..., Any]:
    """A hook wrapper (a generator) whose own failures name its plugin; errors
    from the implementations it wraps pass through already named."""

    @functools.wraps(function)
    def wrap(*args: Any) -> Generator[Any, Any, Any]:
        try:
            result = yield from function(*args)
        except GitkubeError as exc:
            raise _plugin_error(exc, plugin) from None
        except Exception as exc:
            raise _plugin_error(exc, plugin) from exc
        if isinstance(result, list):  # new-style wrapper: results it added are its own
            return [_tagged(item, plugin) for item in result]
        return result

    return wrap


class PluginHooks:
    """A typed facade over ``pm.hook``: one method per hook.

    Every call goes through pluggy (ordering, ``firstresult``, wrappers). An
    exception raised inside a plugin arrives as a :class:`GitkubeError` that
    names the plugin (see :func:`_name_the_plugin_on_errors`); the facade adds
    the app, file and object when it knows them, so a plugin bug reads as a
    message, not a traceback.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- render side ---------------------------------------------------------
    def app_keys(self) -> dict[str, tuple[str, Mapping[str, Any]]]:
        """Every declared app.yaml key with its owning plugin and value schema."""
        owners: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for declared in self.pm.hook.gitkube_app_keys():
            plugin = _plugin_of(declared)
            for key, schema in declared.items():
                if key in owners:
                    raise GitkubeError(
                        f'app.yaml key "{key}" is declared by both {owners[key][0]} and {plugin}',
                        plugin=plugin,
                    )
                owners[key] = (plugin, schema)
        return owners

    def option_schemas(self) -> dict[str, Mapping[str, Any]]:
        """Each plugin's declared options schema, by plugin name."""
        return {_plugin_of(schema): schema for schema in self.pm.hook.gitkube_plugin_options()}

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
            error = first_error(schemas[plugin], value)
            if error is not None:
                raise GitkubeError(
                    f"{where}: {schema_error_message(error)}", file=CONFIG_FILE, plugin=plugin
                )

    def source(self, app: App, ctx: RenderContext, source: AppSource) -> list[SourceObject]:
        """The app's objects from the first source that builds apps of ``source.kind``."""
        with _naming(app=app):
            result = self.pm.hook.gitkube_source(app=app, ctx=ctx, source=source)
        if result is None:
            raise GitkubeError(
                f'no plugin builds apps of source "{source.kind}" (is its plugin disabled?)',
                file=app.settings_file or app.path,
                app=app.path,
            )
        return list(result)

    def generate(
        self, app: App, ctx: RenderContext, resources: Sequence[Resource] = ()
    ) -> list[tuple[str, dict[str, Any]]]:
        """(plugin name, object) for every object the plugins make for ``app``."""
        with _naming(app=app):
            results = self.pm.hook.gitkube_generate(app=app, ctx=ctx, resources=resources)
        made: list[tuple[str, dict[str, Any]]] = []
        for objects in results:
            plugin = _plugin_of(objects)
            for obj in objects:
                if not isinstance(obj, dict):
                    raise GitkubeError(
                        f"gitkube_generate returned a {type(obj).__name__}, not a mapping",
                        plugin=plugin,
                        app=app.path,
                    )
                made.append((plugin, obj))
        return made

    def transform(self, resource: Resource, ctx: RenderContext) -> None:
        with _naming(app=resource.app, file=resource.source, obj=resource.describe()):
            self.pm.hook.gitkube_transform(resource=resource, ctx=ctx)

    def resolve_image(self, image: str, app: App, ctx: RenderContext) -> str:
        with _naming(app=app):
            result = self.pm.hook.gitkube_resolve_image(image=image, app=app, ctx=ctx)
        return image if result is None else str(result)

    def validate(self, resources: Sequence[Resource], ctx: RenderContext) -> list[Problem]:
        """Every plugin's problems, in plugin order, each carrying its plugin's name."""
        problems: list[Problem] = []
        for found in self.pm.hook.gitkube_validate(resources=resources, ctx=ctx):
            plugin = _plugin_of(found)
            problems.extend(p if p.plugin else replace(p, plugin=plugin) for p in found)
        return problems

    # -- sync side -----------------------------------------------------------
    def sync_targets(self, settings: SyncSettings) -> list[Target]:
        results = self.pm.hook.gitkube_sync_targets(settings=settings)
        return [target for targets in results for target in targets]

    def health(self, obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> Health:
        """One object's health; Healthy when it exists and no plugin knows its kind."""
        with _naming(obj=f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"):
            result: Health | None = self.pm.hook.gitkube_health(obj=obj, live=live)
        if result is not None:
            return result
        return HEALTHY if live is not None else Health(HealthState.MISSING, "NotFound")

    def notify(self, event: Event, settings: SyncSettings) -> None:
        """Tell every plugin; a plugin that fails to listen never fails the run
        (its failure is logged, the others still hear)."""
        self.pm.hook.gitkube_notify(event=event, settings=settings)

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
        """Registered plugin names in call order (blocked names left out)."""
        names = [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]
        return list(reversed(names))

    def versions(self) -> dict[str, str]:
        return {info.name: info.version for info in self.plugins()}


def _plugin_of(result: Any) -> str:
    """The plugin a hook result came from (wrapped results always know it)."""
    return getattr(result, "plugin", None) or "unknown"


class _naming:
    """Add the app, file and object the caller knows to a plugin's error."""

    def __init__(
        self, *, app: App | None = None, file: str | None = None, obj: str | None = None
    ) -> None:
        self.app, self.file, self.obj = app, file, obj

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, GitkubeError):
            exc.app = exc.app or (self.app.path if self.app else None)
            exc.file = exc.file or self.file
            exc.obj = exc.obj or self.obj


def _plugin_error(exc: Exception, plugin: str) -> GitkubeError:
    if isinstance(exc, GitkubeError):
        exc.plugin = exc.plugin or plugin
        return exc
    return GitkubeError(f"plugin raised {type(exc).__name__}: {exc}", plugin=plugin)


def _gitkube_version() -> str:
    from gitkube import __version__

    return __version__
