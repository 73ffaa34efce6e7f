"""One app's render as the render cache keeps it: objects, cache lines, summary.

The pieces both the cache (:mod:`gitkube.render.cache`) and the workers of a
cold render (:mod:`gitkube.render.prerender`) make of an app: its rendered
objects cut out of a render (:func:`split_by_app`), the two JSON lines of its
cache entry (:func:`app_lines`, read back by :func:`app_from_line`) and the
summary the repo-wide checks use in its place (:func:`summary_of`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.plugin_manager import PluginHooks
from gitkube.domain.resources import App, Resource, rendered_path
from gitkube.domain.scopes import crd_scopes, scopes_digest
from gitkube.primitives.filetree import MemoryTree
from gitkube.primitives.yamlio import dump_list_item
from gitkube.render.ordering import dependencies_of
from gitkube.render.pipeline import RenderResult, render_tree
from gitkube.render.summary import AppSummary

DATA_SUFFIX = "+data"  # an app's line of file contents, next to its line of objects
SUMMARY_SUFFIX = "+summary"  # an app's summary for the repo-wide checks (render/summary.py)


@dataclass
class RenderedObject:
    """One rendered object as the cache keeps it."""

    path: str
    source: str
    body: dict[str, Any]
    data: bytes | None  # None: not loaded (cached apps load contents on demand)
    entry: bytes  # its item of the inventory's ``objects`` list, as emitted
    oid: str | None = None  # its blob id, when known without hashing
    item: str | None = None  # where in ``source`` (a List's item), see Resource.item
    generated_by: str | None = None  # the plugin that made it, see Resource.generated_by


@dataclass
class RenderedApp:
    """One app's rendered objects, with the CRD facts its output depends on.

    ``crds`` are the CustomResourceDefinitions the app itself defines;
    ``scopes`` the digest of every CRD scope the render knew. An app's
    output depends on CRDs anywhere in the repo (they decide whether a
    namespace is filled in), so a cached app is used only while that
    digest still holds.
    """

    app: App
    objects: list[RenderedObject]
    crds: dict[tuple[str, str], bool] = field(default_factory=dict)
    scopes: str = ""


def is_gce(body: Mapping[str, Any]) -> bool:
    return str(body.get("apiVersion", "")).startswith("compute.cnrm.cloud.google.com/")


def split_by_app(result: RenderResult, inventory: bytes | None) -> list[RenderedApp]:
    """Cut a full render into per-app, per-object pieces (inventory lines included)."""
    namespace = result.config.namespace
    paths = [rendered_path(r, namespace) for r in result.resources]
    entries = _inventory_items(inventory, len(paths)) if inventory is not None else None
    if entries is None:
        inv = result.inventory(None)["objects"]
        entries = [dump_list_item(item).encode() for item in inv]
    digest = scopes_digest(result.crds)
    by_app: dict[str, RenderedApp] = {
        app.path: RenderedApp(app, [], scopes=digest) for app in result.apps
    }
    for resource, path, entry in zip(result.resources, paths, entries, strict=True):
        obj = RenderedObject(
            path,
            resource.source,
            resource.body,
            result.files[path],
            entry,
            item=resource.item,
            generated_by=resource.generated_by,
        )
        by_app[resource.app.path].objects.append(obj)
    for app in by_app.values():
        app.crds = crd_scopes(o.body for o in app.objects)
    return list(by_app.values())


def _inventory_items(inventory: bytes, count: int) -> list[bytes] | None:
    """The items of the inventory's ``objects`` list as emitted, or None if unsure."""
    marker = b"\nobjects:\n"
    at = inventory.find(marker)
    if at < 0:
        return None
    items: list[bytes] = []
    for line in inventory[at + len(marker) :].splitlines(keepends=True):
        if line.startswith(b"- "):
            items.append(line)
        elif line.startswith(b"  ") and items:
            items[-1] += line
        else:
            return None
    return items if len(items) == count else None


def render_apps(
    sources: Mapping[str, bytes],
    hooks: PluginHooks,
    known_crds: Mapping[tuple[str, str], bool],
    checked: frozenset[str] = frozenset(),
) -> RenderResult:
    """Render some apps of a tree (``sources``: their files and gitkube.yaml), the CRDs
    of the others known; the caller runs the checks across apps, over every app.
    ``checked``: as :func:`render_tree` takes it."""
    return render_tree(
        MemoryTree(dict(sources)),
        plugins=lambda _c: hooks,
        known_crds=known_crds,
        repo_checks=False,
        checked=checked,
    )


def resources_in_path_order(apps: Iterable[RenderedApp]) -> list[Resource]:
    """The objects of ``apps`` as resources, in rendered-path order (as checks want them)."""
    pairs = [
        (obj.path, Resource(obj.body, app.app, obj.source, obj.item, generated_by=obj.generated_by))
        for app in apps
        for obj in app.objects
    ]
    pairs.sort(key=lambda pair: pair[0])
    return [resource for _path, resource in pairs]


def summary_of(app: RenderedApp, oids: Mapping[str, str], clean: bool) -> AppSummary:
    """The summary of an app rendered now (render/summary.py)."""
    ids = [
        Resource(obj.body, app.app, obj.source, obj.item, generated_by=obj.generated_by).id
        for obj in app.objects
    ]
    return AppSummary(
        paths=[obj.path for obj in app.objects],
        oids=[oids[obj.path] for obj in app.objects],
        entries=[obj.entry for obj in app.objects],
        gce=sum(1 for obj in app.objects if is_gce(obj.body)),
        ids=[(i.group, i.kind, i.namespace, i.name) for i in ids],
        depends_on=dependencies_of(app.app),
        clean=clean,
        crds=dict(app.crds),
        scopes=app.scopes,
    )


def app_lines(rendered: RenderedApp, oids: Mapping[str, str]) -> tuple[bytes, bytes] | None:
    """An app entry as two JSON lines (objects, then their contents), or None when
    JSON would not give the bodies back exactly."""
    app = rendered.app
    if any(obj.data is None for obj in rendered.objects):
        return None
    objects = [
        {
            "path": obj.path,
            "source": obj.source,
            "item": obj.item,
            "generatedBy": obj.generated_by,
            "body": obj.body,
            "oid": oids[obj.path],
            "entry": obj.entry.decode(),
        }
        for obj in rendered.objects
    ]
    entry = {
        "app": {
            "path": app.path,
            "name": app.name,
            "settings": app.settings,
            "settingsFile": app.settings_file,
            "manifestFiles": app.manifest_files,
            "renderedWith": app.rendered_with,
        },
        "objects": objects,
        "crds": [[group, kind, namespaced] for (group, kind), namespaced in rendered.crds.items()],
        "scopes": rendered.scopes,
    }
    try:  # ensure_ascii: one line each, no raw newlines
        line = json.dumps(entry, ensure_ascii=True)
        back = json.loads(line)  # no dates, binary or non-string keys: it must round-trip
    except (TypeError, ValueError):
        return None
    if back["app"]["settings"] != app.settings or any(
        copy["body"] != obj.body
        for copy, obj in zip(back["objects"], rendered.objects, strict=True)
    ):
        return None
    texts = [obj.data.decode() for obj in rendered.objects if obj.data is not None]
    return line.encode(), json.dumps(texts).encode()


def app_from_line(raw: bytes) -> RenderedApp | None:
    try:
        data = json.loads(raw)
        a = data["app"]
        app = App(
            path=a["path"],
            name=a["name"],
            settings=a["settings"],
            settings_file=a["settingsFile"],
            manifest_files=list(a["manifestFiles"]),
            rendered_with=a.get("renderedWith"),
        )
        objects = [
            RenderedObject(
                o["path"],
                o["source"],
                o["body"],
                None,
                o["entry"].encode(),
                o["oid"],
                o["item"],
                o["generatedBy"],
            )
            for o in data["objects"]
        ]
        crds = {(str(g), str(k)): bool(n) for g, k, n in data["crds"]}
        scopes = str(data["scopes"])
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    return RenderedApp(app, objects, crds, scopes)
