"""Per-app summaries: the repo-wide checks of an incremental render without every object.

A render that takes most apps from the cache must still run the checks that
need every app at once (:func:`gitkube.render.pipeline.check_repo`): each
plugin's ``gitkube_validate``, no two objects at one path, the ``dependsOn``
graph. Loading every cached object back for them makes one changed app cost
as much as the whole repo. So each cached app also keeps a small summary
(its objects' paths, blob ids, inventory lines and identities, the apps it
depends on, and whether the checks found anything wrong with it), and
:func:`quick_repo_check` answers from those summaries plus the changed apps'
objects.

It only ever answers "nothing to report", and only when that is certain;
otherwise the caller runs the full check, so the result (objects, warnings,
the first error) is exactly the full check's. Certain means: every
``gitkube_validate`` implementation is one of :data:`APP_LOCAL_VALIDATORS`,
whose problems each come from one app's objects alone (except duplicate
identities, compared here across apps); every cached app was clean when it
was checked; and the changed apps, checked alone, are clean too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gitkube.domain.context import Problem, RenderContext
from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.domain.names import layout_conflicts
from gitkube.domain.plugin_manager import PluginHooks
from gitkube.domain.resources import Resource
from gitkube.primitives.errors import GitkubeError
from gitkube.render.ordering import check_wave_and_hook, find_cycle
from gitkube.render.pipeline import paths_of

# Built-in plugins whose gitkube_validate reports a problem of an app from that
# app's objects and settings alone (checks: plaintext Secrets, floating images,
# and duplicates, which are compared across apps below; disk and external:
# annotation values and exposed ports). A validator not listed here may look
# across apps, so with one registered every render runs the full check.
APP_LOCAL_VALIDATORS = frozenset({"checks", "disk", "external"})


@dataclass
class AppSummary:
    """What the repo-wide checks and the inventory need of one rendered app."""

    paths: list[str]  # rendered paths of its objects, in the app's order
    oids: list[str]  # their blob ids
    entries: list[bytes]  # their inventory items, as emitted
    gce: int  # how many of them are GCE resources
    ids: list[tuple[str, str, str | None, str]]  # their identities (see Resource.id)
    depends_on: list[str]
    clean: bool  # the checks found nothing (no warning either) in this app
    crds: dict[tuple[str, str], bool]  # the CRDs it defines
    scopes: str  # the digest of the CRD scopes it was rendered with


def summary_line(summary: AppSummary) -> bytes:
    """One app's summary as a JSON line (no raw newlines)."""
    data = {
        "paths": summary.paths,
        "oids": summary.oids,
        "entries": [e.decode() for e in summary.entries],
        "gce": summary.gce,
        "ids": [list(identity) for identity in summary.ids],
        "dependsOn": summary.depends_on,
        "clean": summary.clean,
        "crds": [[group, kind, namespaced] for (group, kind), namespaced in summary.crds.items()],
        "scopes": summary.scopes,
    }
    return json.dumps(data, ensure_ascii=True).encode()


def parse_summary(raw: bytes) -> AppSummary | None:
    """A summary line back, or None when it is not one.

    The bundle it comes from is checksummed and carries the cache format, so
    the fields are taken as written (this runs for every cached app).
    """
    try:
        data = json.loads(raw)
        summary = AppSummary(
            paths=data["paths"],
            oids=data["oids"],
            entries=[entry.encode() for entry in data["entries"]],
            gce=int(data["gce"]),
            ids=[tuple(identity) for identity in data["ids"]],
            depends_on=data["dependsOn"],
            clean=data["clean"] is True,
            crds={(str(g), str(k)): bool(n) for g, k, n in data["crds"]},
            scopes=str(data["scopes"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    lengths = {len(summary.paths), len(summary.oids), len(summary.entries), len(summary.ids)}
    return summary if len(lengths) == 1 else None


def validators_of(hooks: PluginHooks) -> set[str]:
    """The plugins with a ``gitkube_validate``: all in :data:`APP_LOCAL_VALIDATORS`, or
    the checks across apps need every object."""
    return {impl.plugin_name for impl in hooks.pm.hook.gitkube_validate.get_hookimpls()}


def clean_apps(warnings: Iterable[Problem]) -> Callable[[str], bool]:
    """A test for "the checks said nothing about this app", given a render's warnings."""
    named = {w.app for w in warnings}
    unnamed = any(w.app is None for w in warnings)
    return lambda app_path: not unnamed and app_path not in named


def quick_repo_check(
    changed: Sequence[Resource],
    changed_apps: Mapping[str, list[str]],
    cached: Mapping[str, AppSummary],
    namespace: str,
    ctx: RenderContext,
    validators: Iterable[str],
) -> bool:
    """True when the full repo-wide check is certain to find nothing; False: run it.

    :param changed: the objects of the apps rendered now, in rendered-path order.
    :param changed_apps: the apps rendered now (with objects or without), by
        path, with the apps each depends on.
    :param cached: the summaries of every other app.
    :param validators: the plugins with a ``gitkube_validate``.
    """
    if not all(summary.clean for summary in cached.values()):
        return False
    changed_paths = apps_clean_alone(changed, namespace, ctx, validators)
    if changed_paths is None:
        return False
    identities = {(r.id.group, r.id.kind, r.id.namespace, r.id.name) for r in changed}
    if len(identities) != len(changed):
        return False
    all_paths = list(changed_paths)
    for summary in cached.values():
        for identity in summary.ids:
            if identity in identities:
                return False
            identities.add(identity)
        all_paths.extend(summary.paths)
    if layout_conflicts([*all_paths, INVENTORY_FILE]) is not None:
        return False
    return _graph_holds(changed, changed_apps, cached)


def apps_clean_alone(
    changed: Sequence[Resource], namespace: str, ctx: RenderContext, validators: Iterable[str]
) -> list[str] | None:
    """The rendered paths of ``changed`` when the checks of one app at a time find
    nothing in them and every validator is app-local (the cross-app checks are the
    caller's); None when not sure."""
    if not set(validators) <= APP_LOCAL_VALIDATORS:
        return None
    try:
        for resource in changed:
            check_wave_and_hook(resource)
        paths = paths_of(changed, namespace)
        if ctx.hooks.validate(changed, ctx):
            return None
    except GitkubeError:
        return None  # the full check raises it, with the same words
    return list(paths)


def _graph_holds(
    changed: Sequence[Resource],
    changed_apps: Mapping[str, list[str]],
    cached: Mapping[str, AppSummary],
) -> bool:
    """check_order's graph part: every dependency renders objects, and no cycle."""
    with_objects = {r.app.path for r in changed}
    graph = {path: changed_apps[path] for path in with_objects}
    for path, summary in cached.items():
        if summary.paths:
            graph[path] = summary.depends_on
    for path, deps in graph.items():
        if any(dep == path or dep not in graph for dep in deps):
            return False
    return not find_cycle(graph)
