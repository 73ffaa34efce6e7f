"""Incremental rendering: each app's output cached by the content of its inputs.

Parsing and emitting YAML is most of a render's cost, and an app's output
depends only on its own files, ``gitkube.yaml``, gitkube and the plugins. So
each app's rendered objects (bodies after every transform, their canonical
bytes and inventory lines) are kept under a key made of exactly those inputs:

- the app directory and the blob id of each of its YAML files,
- the blob id of ``gitkube.yaml``,
- a *fingerprint*: gitkube's version, the plugins' names and versions, and
  the size and mtime of the code that renders (gitkube's domain modules and
  every registered plugin's module), so editing a plugin in place is noticed.

A render with some apps cached renders only the others (through
:func:`render_tree`, repo-wide validation switched off), then runs the
repo-wide checks over the *whole* set, so caching never skips one: from the
cached apps' summaries when they prove the set clean
(:mod:`gitkube.render.summary`; the objects of unchanged apps are not even
parsed), else every plugin's ``gitkube_validate`` over every object, as a
full render does. A tree entry (source tree id + fingerprint -> the app keys
and warnings) lets a tree rendered before skip even that; a tree with an
index (below) has none: the index answers for it.

Beside them, a tree rendered here whose render can be patched app by app
(plain apps, no warnings, app-local validators, no symbolic links) leaves a *tree index*
(:mod:`gitkube.render.index`): a later commit is first rendered as a patch of
it (:mod:`gitkube.render.incremental`: ``git diff-tree``, only the changed
apps read and rendered, the cross-app checks from the index), and only when
that cannot be proved the same does it come here.

The cache lives in a directory (``.git/gitkube/cache``): one file per entry,
written atomically, each carrying a checksum of its content. A missing,
unreadable, corrupt or foreign entry is a miss, never an error; deleting the
directory is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube import __version__
from gitkube.domain.config import (
    CONFIG_FILE,
    DEFAULT_MAX_FILE_BYTES,
    RepoConfig,
)
from gitkube.domain.context import Problem, RenderContext
from gitkube.domain.ownership import applyset_for
from gitkube.domain.plugin_manager import ExtraPlugins, PluginHooks, build_plugin_manager
from gitkube.domain.resources import App, Resource, rendered_path
from gitkube.domain.scopes import crd_scopes, scopes_digest
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import MemoryTree, file_stamps, is_hidden
from gitkube.primitives.kubeyaml import room_for_nesting
from gitkube.primitives.yamlio import dump_document, load_documents
from gitkube.render.index import INDEX_KIND, AppPart, TreeIndex
from gitkube.render.ordering import dependencies_of
from gitkube.render.pipeline import (
    INVENTORY_FILE,
    YAML_SUFFIXES,
    RenderResult,
    check_repo,
    read_config,
    render_tree,
)
from gitkube.render.sources import (
    APP_FILE,
    LAYOUT_FILES,
    SourceLayout,
    may_declare_source,
    source_layout,
    tool_stamp,
)
from gitkube.render.summary import (
    APP_LOCAL_VALIDATORS,
    AppSummary,
    clean_apps,
    parse_summary,
    quick_repo_check,
    summary_line,
    validators_of,
)

CACHE_FORMAT = "gitkube-render-cache/5"
KEEP_TREES = 8  # rendered trees whose entries are kept
KEEP_DELTAS = 64  # tree index deltas kept (render/index.py)
DATA_SUFFIX = "+data"  # an app's line of file contents, next to its line of objects
SUMMARY_SUFFIX = "+summary"  # an app's summary for the repo-wide checks (render/summary.py)

# gitkube's own modules whose code decides what a render produces.
RENDER_MODULES = (
    "domain/config.py",
    "domain/context.py",
    "domain/inventory.py",
    "domain/keys.py",
    "render/manifests.py",
    "domain/names.py",
    "domain/ownership.py",
    "domain/plugin_manager.py",
    "render/pipeline.py",
    "render/cache.py",
    "render/ordering.py",
    "render/summary.py",
    "domain/resources.py",
    "primitives/kubeyaml.py",
    "domain/schema.py",
    "domain/scopes.py",
    "primitives/yamlio.py",
    "domain/sources.py",
    "render/sources.py",
)

# Fetches the content of blobs by id.
BlobReader = Callable[[Iterable[str]], Mapping[str, bytes]]
# Tells the size of blobs by id without reading them.
BlobSizer = Callable[[Iterable[str]], Mapping[str, int]]


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


@dataclass
class IndexBase:
    """What an incremental render changed: the objects that differ from the index ``key``
    (path -> blob id, None: removed). A rendered commit of that index becomes this
    render's by these changes and a new inventory alone (branch.commit_rendered)."""

    key: str
    changes: dict[str, str | None]


@dataclass
class RenderedSource:
    """A rendered source tree: every object's blob id, contents on demand, the inventory.

    Contents come from memory when this render made them, else from the
    cached app entries (``loader``), so a tree rendered before is known by
    its ids alone and only the files someone asks for are loaded.
    """

    config: RepoConfig
    object_ids: dict[str, str]  # rendered path -> blob id, sorted by path
    items: bytes  # the inventory's ``objects`` items, in path order, as emitted
    app_count: int
    gce_objects: int
    warnings: list[Problem] = field(default_factory=list)
    plugin_versions: dict[str, str] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    loader: Callable[[str], Mapping[str, bytes] | None] | None = None
    result: RenderResult | None = None  # the full render, when this was one
    cache_hits: int = 0
    code_stamp: list[Any] = field(default_factory=list)  # see _code_stamp
    index_key: str | None = None  # its tree index in the cache (render/index.py), if any
    base: IndexBase | None = None  # how it differs from another index (incremental renders)

    @property
    def objects(self) -> int:
        return len(self.object_ids)

    def read(self, paths: Iterable[str]) -> dict[str, bytes]:
        """The content of rendered object files (not the inventory)."""
        found: dict[str, bytes] = {}
        for path in paths:
            if path not in self.data and self.loader is not None:
                loaded = self.loader(posixpath.dirname(path))
                if loaded is not None:
                    self.data.update(loaded)
            if path not in self.data:
                raise GitkubeError(
                    f"render cache lost {path}; run again with --no-cache", file=path
                )
            found[path] = self.data[path]
        return found

    @property
    def files(self) -> dict[str, bytes]:
        return self.read(self.object_ids)

    def inventory_bytes(self, source_commit: str | None) -> bytes:
        """The inventory file, byte for byte what :meth:`RenderResult.all_files` writes."""
        if self.result is not None:
            return self.result.all_files(source_commit)[INVENTORY_FILE]
        empty = RenderResult(self.config, [], [], {}, plugin_versions=self.plugin_versions)
        header = dump_document(empty.inventory(source_commit)).encode()
        tail = b"objects: []\n"
        if not self.object_ids:
            return header
        if not header.endswith(tail):
            raise GitkubeError(
                "the render cache does not know this inventory layout; run with --no-cache"
            )
        return header[: -len(tail)] + b"objects:\n" + self.items

    def all_files(self, source_commit: str | None) -> dict[str, bytes]:
        files = self.files
        files[INVENTORY_FILE] = self.inventory_bytes(source_commit)
        return dict(sorted(files.items()))


def _is_gce(body: Mapping[str, Any]) -> bool:
    return str(body.get("apiVersion", "")).startswith("compute.cnrm.cloud.google.com/")


# -- the cache directory ----------------------------------------------------------


class RenderCache:
    """Entries on disk, each ``<sha256 of payload>\\n<payload>``; bad ones are misses."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key[2:]

    def load(self, kind: str, key: str) -> Any | None:
        try:
            raw = self._path(kind, key).read_bytes()
            digest, _, payload = raw.partition(b"\n")
            if hashlib.sha256(payload).hexdigest().encode() != digest:
                return None
            data = json.loads(payload)
            if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
                return None
            return data
        except (OSError, ValueError):
            return None

    def store(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Write one entry atomically; a cache that cannot be written is skipped."""
        self._write(kind, key, json.dumps({"format": CACHE_FORMAT, **data}).encode())

    def _write(self, kind: str, key: str, payload: bytes) -> None:
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
            os.replace(tmp, path)
        except OSError:
            return

    def has(self, kind: str, key: str) -> bool:
        return self._path(kind, key).is_file()

    def has_kind(self, kind: str) -> bool:
        return (self.root / kind).is_dir()

    def load_lines(self, kind: str, key: str) -> dict[str, bytes] | None:
        """A bundle: ``<key> <json>`` lines after the checksum line, each parsed on demand."""
        try:
            raw = self._path(kind, key).read_bytes()
        except OSError:
            return None
        digest, _, payload = raw.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            return None
        header, _, body = payload.partition(b"\n")
        if header != CACHE_FORMAT.encode():
            return None
        found: dict[str, bytes] = {}
        for line in body.split(b"\n"):
            name, sep, value = line.partition(b" ")
            if sep:
                found[name.decode(errors="replace")] = value
        return found

    def store_lines(self, kind: str, key: str, lines: Mapping[str, bytes]) -> None:
        body = b"\n".join(k.encode() + b" " + v for k, v in lines.items())
        self._write(kind, key, CACHE_FORMAT.encode() + b"\n" + body)

    def recent(self, name: str = "recent") -> list[str]:
        """Tree keys used lately, newest first: where to look for unchanged apps."""
        data = self.load("recent", name * 4)
        keys = data.get("trees") if data else None
        return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []

    def touch(self, key: str) -> None:
        """Put ``key`` first among the recent trees; forget trees beyond :data:`KEEP_TREES`."""
        self._remember("recent", key, ("trees", "apps", INDEX_KIND), KEEP_TREES)

    def touch_delta(self, key: str) -> None:
        """Put ``key`` first among the recent index deltas; forget those beyond
        :data:`KEEP_DELTAS` (render/index.py)."""
        self._remember("deltas", key, (INDEX_KIND,), KEEP_DELTAS)

    def _remember(self, name: str, key: str, kinds: Iterable[str], keep: int) -> None:
        keys = [key] + [k for k in self.recent(name) if k != key]
        for old in keys[keep:]:
            for kind in kinds:
                with contextlib.suppress(OSError):
                    self._path(kind, old).unlink()
        self.store("recent", name * 4, {"trees": keys[:keep]})


class AppEntries:
    """App entries by key, read from the bundles of recently rendered trees."""

    def __init__(self, cache: RenderCache | None, first: str | None = None) -> None:
        self.cache = cache
        self.pending = ([first] if first else []) + (cache.recent() if cache else [])
        self.loaded: set[str] = set()
        self.entries: dict[str, bytes] = {}  # app key -> its JSON, parsed when asked

    def _load_next(self) -> bool:
        while self.pending and self.cache is not None:
            key = self.pending.pop(0)
            if key in self.loaded:
                continue
            self.loaded.add(key)
            bundle = self.cache.load_lines("apps", key)
            if bundle is not None:
                for app_key, entry in bundle.items():
                    self.entries.setdefault(app_key, entry)
                return True
        return False

    def raw(self, key: str) -> bytes | None:
        while key not in self.entries:
            if not self._load_next():
                return None
        return self.entries[key]

    def get(self, key: str) -> RenderedApp | None:
        raw = self.raw(key)
        return None if raw is None else _app_from_json(raw)

    def lines(self, key: str) -> tuple[bytes, bytes] | None:
        meta, data = self.raw(key), self.raw(key + DATA_SUFFIX)
        return None if meta is None or data is None else (meta, data)

    def contents(self, key: str) -> dict[str, bytes] | None:
        """The rendered files of one app (path -> bytes), from its data line."""
        app, raw = self.get(key), self.raw(key + DATA_SUFFIX)
        if app is None or raw is None:
            return None
        try:
            texts = json.loads(raw)
            if not isinstance(texts, list) or len(texts) != len(app.objects):
                return None
            return {o.path: t.encode() for o, t in zip(app.objects, texts, strict=True)}
        except (ValueError, AttributeError):
            return None

    def find_summaries(self, keys: Iterable[str], limit: int = 2) -> dict[str, AppSummary]:
        """Summaries of as many of ``keys`` as the newest ``limit`` bundles hold whole
        (objects, contents and summary); the objects are parsed only when asked for."""
        wanted = set(keys)
        while len(self.loaded) < limit and not wanted <= self.entries.keys():
            if not self._load_next():
                break
        found = {}
        for key in wanted & self.entries.keys():
            if key + DATA_SUFFIX not in self.entries:
                continue  # its contents must be there too, or it is no use
            raw = self.entries.get(key + SUMMARY_SUFFIX)
            summary = parse_summary(raw) if raw is not None else None
            if summary is not None:
                found[key] = summary
        return found


# -- keys -------------------------------------------------------------------------


def _code_stamp(hooks: PluginHooks) -> list[Any]:
    """Size and mtime of the modules that render: in-place edits change the key."""
    files: set[str] = set()
    package = Path(__file__).parent.parent
    files.update(str(package / module) for module in RENDER_MODULES)
    for name, plugin in sorted(hooks.pm.list_name_plugin(), key=lambda np: str(np[0])):
        module = plugin if hasattr(plugin, "__file__") else sys.modules.get(type(plugin).__module__)
        module_file = getattr(module, "__file__", None)
        if module_file:
            files.add(module_file)
        files.add(f"plugin:{name}:{type(plugin).__qualname__}")
    return file_stamps(sorted(files))


def fingerprint(hooks: PluginHooks, stamp: list[Any] | None = None) -> str:
    """What, besides the source, decides the output: gitkube, plugins, their code."""
    stamp = _code_stamp(hooks) if stamp is None else stamp
    data = [CACHE_FORMAT, __version__, sorted(hooks.versions().items()), stamp]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def code_fingerprint(hooks: PluginHooks) -> tuple[list[Any], str]:
    """The code stamp (:func:`_code_stamp`) and the :func:`fingerprint` made of it."""
    stamp = _code_stamp(hooks)
    return stamp, fingerprint(hooks, stamp)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def tree_key(fp: str, id_kind: str, tree_id: str) -> str:
    """The key of a source tree's entries: its tree id, under this fingerprint."""
    return _key("tree", fp, id_kind, tree_id)


# -- rendering --------------------------------------------------------------------


@room_for_nesting()
def render_listing(
    listing: Mapping[str, str],
    read: BlobReader,
    blob_id: Callable[[bytes], str],
    cache: RenderCache | None,
    *,
    tree_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    sizes: BlobSizer | None = None,
    plugins: ExtraPlugins = (),
    indexable: bool = False,
) -> RenderedSource:
    """Render the source tree given as ``listing`` (path -> blob id).

    ``read`` fetches blob contents (only those of apps that miss the cache
    are read); ``blob_id`` names rendered contents as the repository would;
    ``sizes``, when given, lets files over the size limit be refused unread.
    ``progress`` hears about the work when there is some to do. Raises
    :class:`GitkubeError` exactly where a full render would. ``plugins`` are
    handed to :func:`build_plugin_manager` (the test kit's plugins).
    ``indexable``: the listing is the tree ``tree_id`` itself, no symbolic link
    resolved into it, so a tree index (render/index.py) may describe it.
    """
    visible = {p: oid for p, oid in listing.items() if not is_hidden(p)}
    config_oid = visible.get(CONFIG_FILE)
    if config_oid and sizes is not None:
        _check_sizes({CONFIG_FILE: config_oid}, sizes, DEFAULT_MAX_FILE_BYTES)
    config_bytes = read([config_oid])[config_oid] if config_oid else None
    config = read_config(config_bytes)

    def read_sources(paths: Iterable[str]) -> dict[str, bytes]:
        """The content of source files by path, any over the size limit refused unread."""
        oids = {p: visible[p] for p in paths}
        if sizes is not None:
            _check_sizes(oids, sizes, config.max_file_bytes)
        blobs = read(set(oids.values()))
        return {p: blobs[oid] for p, oid in oids.items()}

    hooks = build_plugin_manager(config.disabled_plugins, plugins=plugins)
    code_stamp, fp = code_fingerprint(hooks)

    # Kustomize and helm apps read more than their own YAML (bases, charts,
    # values): they are keyed by every file they may read and the tools on PATH.
    # The files the layout reads (app.yaml files and kustomizations), fetched at once.
    layout_files = read_sources(p for p in visible if posixpath.basename(p) in LAYOUT_FILES)

    def read_layout_file(path: str) -> list[Any]:
        data = layout_files[path]
        if posixpath.basename(path) == APP_FILE and not may_declare_source(data):
            return []  # no source key: a plain app (the pipeline checks the file when rendering it)
        return load_documents(data, path)

    layout = source_layout(visible, read_layout_file)
    tools = tool_stamp() if layout.apps else []
    dirs: dict[str, list[str]] = {}
    for path in sorted(visible):
        if path.endswith(YAML_SUFFIXES) and posixpath.dirname(path) not in layout.not_apps:
            dirs.setdefault(posixpath.dirname(path), []).append(path)
    id_kind = blob_id(b"")  # the empty blob's id tells sha1 from sha256
    app_keys = {
        d: _key(
            "app",
            fp,
            id_kind,
            config_oid,
            d,
            [(p, visible[p]) for p in files],
            *(
                [[(p, visible[p]) for p in layout.apps[d].inputs], tools]
                if d in layout.apps
                else []
            ),
        )
        for d, files in dirs.items()
        if d
    }
    ordered_keys = [app_keys[d] for d in sorted(app_keys)]

    this_key = tree_key(fp, id_kind, tree_id) if tree_id else None
    entries = AppEntries(cache, this_key)

    def load_app_files(directory: str) -> dict[str, bytes] | None:
        return entries.contents(app_keys[directory]) if directory in app_keys else None

    if cache and this_key:
        known = cache.load("trees", this_key)
        if known is not None and known.get("appKeys") == ordered_keys:
            try:
                rendered = RenderedSource(
                    config=config,
                    object_ids=dict(known["objectIds"]),
                    items=known["items"].encode(),
                    app_count=int(known["apps"]),
                    gce_objects=int(known["gceObjects"]),
                    warnings=[Problem(**w) for w in known["warnings"]],
                    plugin_versions=hooks.versions(),
                    loader=load_app_files,
                    cache_hits=len(ordered_keys),
                    code_stamp=code_stamp,
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                pass
            else:
                if cache.has(INDEX_KIND, this_key):
                    rendered.index_key = this_key
                cache.touch(this_key)
                return rendered

    summaries = entries.find_summaries(ordered_keys) if cache else {}
    reused = {d: summaries[k] for d, k in app_keys.items() if k in summaries}
    if progress is not None and len(app_keys) > len(reused):
        progress(f"rendering {len(app_keys) - len(reused)} of {len(app_keys)} apps")

    if not reused:
        rendered, fresh = _render_all(visible, read_sources, config, hooks, blob_id, layout)
    else:
        rendered, fresh, reused = _render_rest(
            visible, read_sources, config, hooks, dirs, reused, entries, app_keys, blob_id, layout
        )
    rendered.cache_hits = len(reused)
    rendered.code_stamp = code_stamp
    rendered.loader = load_app_files  # contents of cached apps are read when asked for

    if cache and this_key:
        # A tree index (render/index.py) for the incremental renders that follow,
        # when this tree's render can be patched app by app.
        plain = not layout.apps and not layout.not_apps
        local = validators_of(hooks) <= APP_LOCAL_VALIDATORS
        parts: dict[str, tuple[str, AppPart]] | None = (
            {} if indexable and plain and local and not rendered.warnings else None
        )
        bundle: dict[str, bytes] = {}
        for directory, summary in reused.items():  # their lines as they were: nothing re-made
            app_key = app_keys[directory]
            lines = entries.lines(app_key)
            raw_summary = entries.raw(app_key + SUMMARY_SUFFIX)
            if lines is not None and raw_summary is not None:
                bundle[app_key], bundle[app_key + DATA_SUFFIX] = lines
                bundle[app_key + SUMMARY_SUFFIX] = raw_summary
                if parts is not None:
                    parts[directory] = (app_key, AppPart.of_summary(summary))
            else:
                parts = None
        clean = clean_apps(rendered.warnings)
        for app in fresh:
            fresh_key = app_keys.get(app.app.path)
            if fresh_key is None:
                continue
            lines = _app_to_json(app, rendered.object_ids)
            if lines is not None:
                summary = summary_of(app, rendered.object_ids, clean(app.app.path))
                bundle[fresh_key], bundle[fresh_key + DATA_SUFFIX] = lines
                bundle[fresh_key + SUMMARY_SUFFIX] = summary_line(summary)
                if parts is not None:
                    parts[app.app.path] = (fresh_key, AppPart.of_summary(summary))
            else:
                parts = None
        cache.store_lines("apps", this_key, bundle)
        digests = {app.scopes for app in fresh} | {summary.scopes for summary in reused.values()}
        if tree_id and parts is not None and len(digests) <= 1:
            scopes = next(iter(digests), scopes_digest({}))
            index = TreeIndex.snapshot_of(tree_id, this_key, scopes, parts)
            cache.store(INDEX_KIND, this_key, index.snapshot_json())
            rendered.index_key = this_key
        else:  # an indexed tree is answered by render/incremental.py, this entry is for the rest
            cache.store(
                "trees",
                this_key,
                {
                    "appKeys": ordered_keys,
                    "objectIds": rendered.object_ids,
                    "items": rendered.items.decode(),
                    "apps": rendered.app_count,
                    "gceObjects": rendered.gce_objects,
                    "warnings": [_problem_dict(w) for w in rendered.warnings],
                },
            )
        cache.touch(this_key)
    return rendered


def _check_sizes(files: Mapping[str, str], sizes: BlobSizer, limit: int) -> None:
    """Refuse, unread, a file over the limit (render_tree checks again what it reads)."""
    known = sizes(files.values())
    for path in sorted(files):
        size = known.get(files[path], 0)
        if size > limit:
            raise GitkubeError(
                f"file is {size:,} bytes, over the limit of {limit:,} (render.maxFileBytes in "
                f"{CONFIG_FILE}); manifests this big are not hand-written config",
                file=path,
            )


def _problem_dict(problem: Problem) -> dict[str, Any]:
    return {
        "message": problem.message,
        "file": problem.file,
        "app": problem.app,
        "obj": problem.obj,
        "severity": problem.severity,
    }


def _render_all(
    visible: Mapping[str, str],
    read: Callable[[Iterable[str]], dict[str, bytes]],
    config: RepoConfig,
    hooks: PluginHooks,
    blob_id: Callable[[bytes], str],
    layout: SourceLayout,
) -> tuple[RenderedSource, list[RenderedApp]]:
    # Only what the renderer reads: YAML files (other files may be large and are
    # not read), and every input of a tool-built app (chart templates, .tgz files).
    wanted = sorted(
        {p for p in visible if p.endswith(YAML_SUFFIXES)}
        | {p for found in layout.apps.values() for p in found.inputs}
    )
    result = render_tree(MemoryTree(read(wanted)), plugins=lambda _c: hooks)
    apps = split_by_app(result, result.all_files(None)[INVENTORY_FILE])
    rendered = _assemble(config, apps, list(result.warnings), hooks, blob_id)
    rendered.result = result
    return rendered, apps


def _assemble(
    config: RepoConfig,
    apps: list[RenderedApp],
    warnings: list[Problem],
    hooks: PluginHooks,
    blob_id: Callable[[bytes], str],
) -> RenderedSource:
    objects = sorted((o for a in apps for o in a.objects), key=lambda o: o.path)
    return RenderedSource(
        config=config,
        object_ids={o.path: o.oid or blob_id(o.data or b"") for o in objects},
        items=b"".join(o.entry for o in objects),
        app_count=len(apps),
        gce_objects=sum(1 for o in objects if _is_gce(o.body)),
        warnings=warnings,
        plugin_versions=hooks.versions(),
        data={o.path: o.data for o in objects if o.data is not None},
    )


def split_by_app(result: RenderResult, inventory: bytes | None) -> list[RenderedApp]:
    """Cut a full render into per-app, per-object pieces (inventory lines included)."""
    namespace = result.config.namespace
    paths = [rendered_path(r, namespace) for r in result.resources]
    entries = _inventory_items(inventory, len(paths)) if inventory is not None else None
    if entries is None:
        inv = result.inventory(None)["objects"]
        entries = [dump_document([item]).encode() for item in inv]
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


def _render_rest(
    visible: Mapping[str, str],
    read: Callable[[Iterable[str]], dict[str, bytes]],
    config: RepoConfig,
    hooks: PluginHooks,
    dirs: Mapping[str, list[str]],
    reused: Mapping[str, AppSummary],
    entries: AppEntries,
    app_keys: Mapping[str, str],
    blob_id: Callable[[bytes], str],
    layout: SourceLayout,
) -> tuple[RenderedSource, list[RenderedApp], dict[str, AppSummary]]:
    """Render the apps that missed the cache, then check the whole set.

    Returns the render, the apps rendered now and the cached apps it used
    (none when it had to render everything). The repo-wide check runs from
    the cached apps' summaries when that is certain to find nothing
    (:func:`quick_repo_check`); otherwise over every object, as a full render.
    """
    wanted = [p for d, files in dirs.items() if d not in reused for p in files]
    for d in dirs:
        if d not in reused and d in layout.apps:
            wanted.extend(sorted(set(layout.apps[d].inputs) - set(wanted)))
    if CONFIG_FILE in visible and CONFIG_FILE not in wanted:
        wanted.append(CONFIG_FILE)
    sources = read(wanted)
    known_crds: dict[tuple[str, str], bool] = {}
    for summary in reused.values():
        known_crds.update(summary.crds)
    partial = render_apps(sources, hooks, known_crds)
    digest = scopes_digest(partial.crds)
    if any(summary.scopes != digest for summary in reused.values()):
        # A CRD changed scope (or came or went) since those apps were
        # rendered: their namespaces may differ now, so render everything.
        return (*_render_all(visible, read, config, hooks, blob_id, layout), {})
    fresh = split_by_app(partial, None)
    ctx = RenderContext(config=config, applyset_id=applyset_for(config).id, hooks=hooks)
    changed = [
        resource
        for _path, resource in sorted(
            (
                (
                    obj.path,
                    Resource(
                        obj.body, app.app, obj.source, obj.item, generated_by=obj.generated_by
                    ),
                )
                for app in fresh
                for obj in app.objects
            ),
            key=lambda pair: pair[0],
        )
    ]
    deps = {app.app.path: dependencies_of(app.app) for app in fresh}
    validators = validators_of(hooks)
    if quick_repo_check(changed, deps, reused, config.namespace, ctx, validators):
        return _assemble_from_summaries(config, fresh, reused, hooks, blob_id), fresh, dict(reused)

    apps = {a.app.path: a for a in fresh}
    for directory in reused:
        cached_app = entries.get(app_keys[directory])
        if cached_app is None:  # a summary without its objects: render everything
            return (*_render_all(visible, read, config, hooks, blob_id, layout), {})
        apps[directory] = cached_app
    ordered = [apps[d] for d in sorted(apps)]
    resources = [
        Resource(obj.body, app.app, obj.source, obj.item, generated_by=obj.generated_by)
        for app in ordered
        for obj in app.objects
    ]
    resources.sort(key=lambda r: rendered_path(r, config.namespace))
    _paths, warnings = check_repo(resources, config, ctx)
    return _assemble(config, ordered, warnings, hooks, blob_id), fresh, dict(reused)


def _assemble_from_summaries(
    config: RepoConfig,
    fresh: list[RenderedApp],
    reused: Mapping[str, AppSummary],
    hooks: PluginHooks,
    blob_id: Callable[[bytes], str],
) -> RenderedSource:
    """:func:`_assemble` with the cached apps known by their summaries only."""
    parts: list[tuple[str, str, bytes]] = []  # path, blob id, inventory item
    data: dict[str, bytes] = {}
    gce = 0
    for app in fresh:
        for obj in app.objects:
            parts.append((obj.path, obj.oid or blob_id(obj.data or b""), obj.entry))
            gce += _is_gce(obj.body)
            if obj.data is not None:
                data[obj.path] = obj.data
    for summary in reused.values():
        parts.extend(zip(summary.paths, summary.oids, summary.entries, strict=True))
        gce += summary.gce
    parts.sort(key=lambda part: part[0])
    return RenderedSource(
        config=config,
        object_ids={path: oid for path, oid, _entry in parts},
        items=b"".join(entry for _path, _oid, entry in parts),
        app_count=len(fresh) + len(reused),
        gce_objects=gce,
        warnings=[],  # quick_repo_check found nothing to report
        plugin_versions=hooks.versions(),
        data=data,
    )


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
        gce=sum(1 for obj in app.objects if _is_gce(obj.body)),
        ids=[(i.group, i.kind, i.namespace, i.name) for i in ids],
        depends_on=dependencies_of(app.app),
        clean=clean,
        crds=dict(app.crds),
        scopes=app.scopes,
    )


def _app_to_json(rendered: RenderedApp, oids: Mapping[str, str]) -> tuple[bytes, bytes] | None:
    """An app entry as two JSON lines (objects, then their contents), or None when
    JSON would not give the bodies back exactly."""
    app = rendered.app
    objects = []
    texts = []
    for obj in rendered.objects:
        try:  # no dates, binary or non-string keys: JSON must round-trip exactly
            if json.loads(json.dumps(obj.body)) != obj.body:
                return None
        except (TypeError, ValueError):
            return None
        if obj.data is None:
            return None
        texts.append(obj.data.decode())
        objects.append(
            {
                "path": obj.path,
                "source": obj.source,
                "item": obj.item,
                "generatedBy": obj.generated_by,
                "body": obj.body,
                "oid": oids[obj.path],
                "entry": obj.entry.decode(),
            }
        )
    try:
        if json.loads(json.dumps(app.settings)) != app.settings:
            return None
    except (TypeError, ValueError):
        return None
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
    # ensure_ascii: one line each, no raw newlines
    return json.dumps(entry, ensure_ascii=True).encode(), json.dumps(texts).encode()


def _app_from_json(raw: bytes) -> RenderedApp | None:
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
