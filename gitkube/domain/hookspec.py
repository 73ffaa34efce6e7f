"""Every hook a gitkube plugin can implement.

This module is the plugin API's documentation: each hook says when it is
called, what each argument is, what it returns and whether the first result
wins. ``tests/test_hookspec_docs.py`` fails when a hook lacks any of that or
is missing from ``docs/plugins.md``.

Hooks are called in this order during ``gitkube render``:

1. :func:`gitkube_app_keys` and :func:`gitkube_plugin_options` once, to learn
   which ``app.yaml`` keys and plugin options exist;
2. :func:`gitkube_source` for every app, to turn its directory into objects,
   then :func:`gitkube_generate`;
3. :func:`gitkube_transform` for every object (the user's and the generated);
4. :func:`gitkube_validate` once with the final set.

:func:`gitkube_resolve_image` is called by whichever plugin rewrites images
(the built-in ``image`` plugin) through :meth:`RenderContext.resolve_image`.

Implementations run in plugin order: the built-ins in the order ``labels,
image, volumes, disk, external, checks``, then third-party plugins sorted by
entry-point name. ``tryfirst``/``trylast`` move an implementation ahead or
behind, and ``wrapper=True`` wraps the others, as in pluggy. Every hook is
called through pluggy (``pm.hook``); an implementation whose name is no hook
here is refused when the plugin is registered (``check_pending``).

Only :func:`gitkube_sync_targets`, :func:`gitkube_health` and
:func:`gitkube_notify` are called by ``gitkube sync`` and the agent; the sync
side never calls render hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from gitkube.domain.context import Problem, RenderContext
    from gitkube.domain.health import Health
    from gitkube.domain.notify import Event
    from gitkube.domain.resources import App, Resource
    from gitkube.domain.sources import AppSource, SourceObject
    from gitkube.domain.targets import SyncSettings, Target

PROJECT = "gitkube"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gitkube_app_keys() -> Mapping[str, Mapping[str, Any]] | None:
    """Declare the ``app.yaml`` keys this plugin owns.

    Called once per render, before any app is read.

    :return: a mapping of key to the JSON schema (draft 2020-12) its value must
        match, or ``None``. Results of all plugins are merged; two plugins
        declaring the same key is an error. A key no plugin declares is an
        error naming the file and the closest known key.
    """


@hookspec
def gitkube_plugin_options() -> Mapping[str, Any] | None:
    """Declare the JSON schema of this plugin's options.

    Called once per render, before any app is read. The options are
    ``plugins.options.<plugin name>`` in gitkube.yaml and reach hooks as
    ``ctx.options("<plugin name>")``.

    :return: a JSON schema (draft 2020-12) the options must match, or ``None``
        for a plugin without options. Give ``"additionalProperties": false``
        so a misspelt option is refused with a suggestion, and ``description``
        and ``default`` annotations for ``gitkube explain``. Options given to a
        plugin that declares no schema are an error, as are options for a
        plugin that is not installed.
    """


@hookspec(firstresult=True)
def gitkube_source(
    app: App, ctx: RenderContext, source: AppSource
) -> Iterable[SourceObject] | None:
    """Turn an app directory into objects.

    Called once for every app, after its ``app.yaml`` is read, before
    :func:`gitkube_generate`. The built-in ``plain`` reader (trylast) reads
    the directory's YAML manifests; the built-in ``kustomize`` and ``helm``
    sources run those tools; a third-party plugin can add jsonnet, CUE or
    anything else.

    :param app: the app; ``app.settings`` holds its ``app.yaml``.
    :param ctx: the render's repo-wide context.
    :param source: the app's view of the repo
        (:class:`gitkube.plugin_api.AppSource`): ``source.kind`` is the
        source it asks for (app.yaml ``source``, or detected from its files),
        ``source.checkout()`` the repo on disk for tools, and helpers that
        turn YAML into checked objects.
    :return: the app's objects (:class:`gitkube.plugin_api.SourceObject`), or
        ``None`` when this plugin does not build apps of ``source.kind``.
        **The first non-None result wins**. The objects then go through every
        plugin like hand-written manifests (labels, images, Secret refusal,
        duplicate check). Raise :class:`gitkube.plugin_api.GitkubeError`
        naming the file for bad input; never reach the network.
    """


@hookspec
def gitkube_generate(
    app: App, ctx: RenderContext, resources: Sequence[Resource]
) -> Iterable[dict[str, Any]] | None:
    """Make new objects for an app.

    Called once for every app, after its manifests are read, before any
    transform.

    :param app: the app; ``app.settings`` holds its ``app.yaml``.
    :param ctx: the render's repo-wide context (config, options, other hooks).
    :param resources: the app's own objects as the user wrote them (before
        any transform, without other plugins' generated objects); read them,
        do not change them. Leave the parameter out when you do not need it.
    :return: new Kubernetes or Config Connector objects (plain dicts with
        ``apiVersion``, ``kind`` and ``metadata.name``), or ``None``. All
        plugins' results are kept; the objects then go through every
        :func:`gitkube_transform` like the user's own.
    """


@hookspec
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    """Change one object in place.

    Called for every object of every app, the user's and the generated, in
    plugin order (see the module docstring), after all generation.

    :param resource: the object (``resource.body``), its app and source file.
        Add and fill fields (labels and annotations through
        ``resource.ensure_labels()`` / ``ensure_annotations()``; reading
        ``labels()`` never adds an empty mapping); a conflict with a value
        the user wrote must be raised as
        :class:`gitkube.plugin_api.GitkubeError`, never overwritten.
    :param ctx: the render's repo-wide context.
    :return: nothing; every implementation runs.
    """


@hookspec(firstresult=True)
def gitkube_resolve_image(image: str, app: App, ctx: RenderContext) -> str | None:
    """Rewrite one container image reference.

    Called by the ``image`` plugin for each container's ``image``.

    :param image: the reference as written (``nginx:1.25``).
    :param app: the app whose object holds the container.
    :param ctx: the render's repo-wide context.
    :return: the new reference, or ``None`` to leave the decision to the next
        plugin. **The first non-None result wins**; when all return ``None``
        the image stays as written.
    """


@hookspec
def gitkube_validate(resources: Sequence[Resource], ctx: RenderContext) -> Iterable[Problem] | None:
    """Check the final set of objects.

    Called once per render, after every transform, before anything is written.

    :param resources: every rendered object of the repo, in a stable order.
    :param ctx: the render's repo-wide context.
    :return: problems found (errors stop the render, warnings are reported),
        or ``None``. All plugins' results are collected.
    """


@hookspec
def gitkube_sync_targets(settings: SyncSettings) -> Iterable[Target] | None:
    """Offer targets that observe, plan and apply a family of resources.

    Called once per ``gitkube plan``/``sync`` run, never during render.

    :param settings: the run's settings: the config recorded in the rendered
        commit, the ApplySet, credentials and endpoints, and what the user
        allowed (adopt, force conflicts, replace).
    :return: targets (see :class:`gitkube.domain.targets.Target`), or ``None``.
        All plugins' targets are used; each rendered object goes to the first
        target whose ``handles`` accepts it.
    """


@hookspec(firstresult=True)
def gitkube_health(obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> Health | None:
    """Judge whether one applied object works, from its live state.

    Called by ``gitkube sync --wait`` for every object the run changed, on
    every poll, and by the agent for its health report; never during render.

    :param obj: the object as rendered (what sync applied): Kubernetes or
        Config Connector, with ``apiVersion``, ``kind`` and ``metadata``.
    :param live: the object as the API server (or Compute Engine, in the
        Compute API's own JSON) returns it now, status included; ``None``
        when it does not exist.
    :return: a :class:`gitkube.plugin_api.Health` (Healthy, Progressing,
        Degraded or Missing, with a reason and a message read from the
        status), or ``None`` for kinds the plugin does not know.
        **The first non-None result wins**; third-party plugins are asked
        before the built-in ``health`` plugin, so a plugin can judge its own
        kinds.
    """


@hookspec
def gitkube_notify(event: Event, settings: SyncSettings) -> None:
    """Hear about something a sync run did.

    Called by ``gitkube sync`` and the agent after a run that changed
    something (``synced``), failed (``failed``), was refused by a safety rule
    (``refused``), left an app Degraded (``degraded``) or repaired drift
    (``drift-repaired``); never during render.

    :param event: what happened (:class:`gitkube.plugin_api.Event`): kind,
        cluster, message, commits, the apps concerned and change counts.
    :param settings: the run's settings; ``settings.config.notify`` holds the
        ``notify:`` rules of the rendered commit's gitkube.yaml.
    :return: nothing; every implementation runs. An implementation must not
        block the run: hand slow deliveries to a thread, bounded in time.
    """
