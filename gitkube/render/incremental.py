"""Rendering a commit as a patch of a tree rendered before: work in proportion to the change.

The full cache-assisted render (:func:`gitkube.render.cache.render_listing`)
lists the whole source tree, works out its layout and keys every app before
it knows that one app changed. Here the change is asked of git instead:
``git diff-tree`` between the source tree of a cached tree index
(:mod:`gitkube.render.index`) and the commit's tree names the changed files,
only the app directories holding them are read and rendered, and the
repo-wide checks run from the index. The indexes tried, in order: the
commit's own tree, the tree the rendered branch's tip was made from, the
first parent's tree.

Anything this path cannot prove the same as the full render answers None,
and the caller renders the full way (which also reports errors, in its
words): gitkube.yaml changed, a root file, a kustomization, a chart, an
app.yaml that may declare a source, a symbolic link or submodule, files over
the size limit, a CRD changing scope, any render error, any check finding
something, a validator that looks across apps, or more than
:data:`~gitkube.render.index.MAX_PENDING_APPS` apps changed since the snapshot.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitkube.domain.config import CONFIG_FILE, RepoConfig
from gitkube.domain.context import RenderContext
from gitkube.domain.ownership import applyset_for
from gitkube.domain.plugin_manager import ExtraPlugins, PluginHooks, build_plugin_manager
from gitkube.domain.resources import Resource
from gitkube.domain.scopes import scopes_digest
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import is_hidden
from gitkube.primitives.gitstore import (
    EXECUTABLE_MODE,
    FILE_MODE,
    GITLINK_MODE,
    SYMLINK_MODE,
    GitStore,
    TreeChange,
    file_changes,
)
from gitkube.render.cache import (
    AppEntries,
    IndexBase,
    RenderCache,
    RenderedSource,
    code_fingerprint,
    tree_key,
)
from gitkube.render.entries import RenderedApp, render_apps, split_by_app, summary_of
from gitkube.render.index import INDEX_KIND, MAX_PENDING_APPS, AppPart, TreeIndex
from gitkube.render.pipeline import YAML_SUFFIXES, read_config
from gitkube.render.sources import (
    APP_FILE,
    CHART_FILE,
    KUSTOMIZATION_FILES,
    may_declare_source,
)
from gitkube.render.summary import apps_clean_alone, validators_of

# Files that make a directory something other than a plain app (render/sources.py).
_LAYOUT_NAMES = frozenset((*KUSTOMIZATION_FILES, CHART_FILE))
# The one cache entry mapping rendered trees to their index (see record_output);
# any fixed name does, as long as it is longer than the cache's two-letter fan-out.
OUTPUTS_KEY = "rendered-trees"
KEEP_OUTPUTS = 64


def render_changes(
    store: GitStore,
    commit: str,
    tree: str,
    cache: RenderCache,
    *,
    plugins: ExtraPlugins = (),
    progress: Callable[[str], None] | None = None,
) -> RenderedSource | None:
    """The render of ``commit`` (tree ``tree``) patched from a cached tree index, or None.

    A tree declined once in this process is declined again at once (a plain
    ``gitkube render`` tries before its command line loads, then the command).
    """
    if not cache.has_kind(INDEX_KIND):
        return None  # nothing indexed yet: a first render
    tried = (str(cache.root), tree)
    if not plugins and tried in _DECLINED:
        return None
    try:
        rendered = _render_changes(store, commit, tree, cache, plugins, progress)
    except GitkubeError:
        rendered = None  # the full render says it, in its words
    if rendered is None and not plugins:
        _DECLINED.add(tried)
    return rendered


_DECLINED: set[tuple[str, str]] = set()  # (cache, source tree) this process rendered in full


def load_index(cache: RenderCache, key: str) -> TreeIndex | None:
    raw = _load_raw(cache, key)
    if raw is None:
        return None
    return TreeIndex.from_json(key, raw, lambda snapshot: _load_raw(cache, snapshot))


# Index entries read in this process: a diff reads the index its head was patched
# from again for its base side. TreeIndex copies what it takes; these stay unchanged.
_LOADED: dict[tuple[str, str], Mapping[str, Any]] = {}
KEEP_LOADED = 2


def _load_raw(cache: RenderCache, key: str) -> Mapping[str, Any] | None:
    where = (str(cache.root), key)
    if where not in _LOADED:
        raw = cache.load(INDEX_KIND, key)
        if raw is None:
            return None
        while len(_LOADED) >= KEEP_LOADED:
            del _LOADED[next(iter(_LOADED))]
        _LOADED[where] = raw
    return _LOADED[where]


def rendered_objects(store: GitStore, cache: RenderCache, rendered: str) -> dict[str, str] | None:
    """The objects (path -> blob id, the inventory left out) of the rendered commit
    ``rendered``, from the index it was made of, when the cache knows it."""
    tree = store.resolve(f"{rendered}^{{tree}}")
    key = output_index(cache, tree) if tree else None
    index = load_index(cache, key) if key else None
    return None if index is None else {p: index.oids[p] for p in index.paths}


def record_output(cache: RenderCache, rendered_tree: str, index_key: str) -> None:
    """Remember that the rendered tree ``rendered_tree`` holds exactly the objects of
    index ``index_key`` (and an inventory): a later render patches that tree."""
    outputs = _outputs(cache)
    outputs.pop(rendered_tree, None)
    outputs[rendered_tree] = index_key
    cache.store("outputs", OUTPUTS_KEY, {"trees": list(outputs.items())[-KEEP_OUTPUTS:]})


def output_index(cache: RenderCache, rendered_tree: str) -> str | None:
    """The index whose objects the rendered tree ``rendered_tree`` holds, if known."""
    return _outputs(cache).get(rendered_tree)


def _outputs(cache: RenderCache) -> dict[str, str]:
    data = cache.load("outputs", OUTPUTS_KEY)
    try:
        return {str(t): str(k) for t, k in data["trees"]} if data else {}
    except (KeyError, TypeError, ValueError):
        return {}


def _render_changes(
    store: GitStore,
    commit: str,
    tree: str,
    cache: RenderCache,
    plugins: ExtraPlugins,
    progress: Callable[[str], None] | None,
) -> RenderedSource | None:
    config_name = f"{tree}:{CONFIG_FILE}"
    config_bytes = store.read_blobs([config_name], missing_ok=True).get(config_name)
    try:
        # Its schema is asked below unless the index shows this code checked it before.
        config = read_config(config_bytes, checked=True)
    except GitkubeError:
        raise
    except Exception:  # a gitkube.yaml that fails its schema may fail any way unchecked
        return None
    hooks = build_plugin_manager(config.disabled_plugins, plugins=plugins)
    stamp, fp = code_fingerprint(hooks)
    id_kind = store.blob_id(b"")
    new_key = tree_key(fp, id_kind, tree)

    def key_of(source_tree: str) -> str:
        return tree_key(fp, id_kind, source_tree)

    found = _base_index(store, commit, cache, config, new_key, key_of)
    if found is None:
        return None
    base_key, index = found
    changes = store.diff_trees(index.tree, tree) if index.tree != tree else []
    dirs = _changed_apps(changes)
    if dirs is None or len(index.pending.keys() | dirs) > MAX_PENDING_APPS:
        return None
    # gitkube.yaml is the indexed tree's (a change to it declined above), and so is the
    # app.yaml of a changed app that the change left alone: this code and these plugins
    # (the fingerprint) made the index and its snapshot (_base_index), so they checked
    # both, unless a delta on the way says it did not.
    checked: frozenset[str] = frozenset()
    if index.checked:
        changed = {change.path for change in changes}
        left_alone = [f"{d}/{APP_FILE}" for d in dirs if d in index.app_keys]
        checked = frozenset([CONFIG_FILE, *(p for p in left_alone if p not in changed)])
    else:
        config = read_config(config_bytes)
    sources = _read_apps(store, tree, dirs, config)
    if sources is None:
        return None
    if progress is not None and dirs:
        progress(f"rendering {len(dirs)} of {len(index.app_keys | dict.fromkeys(dirs))} apps")

    fresh: list[RenderedApp] = []
    if sources:
        if config_bytes is not None:
            sources[CONFIG_FILE] = config_bytes
        # the checks across apps run below, from the index
        partial = render_apps(sources, hooks, index.known_crds(dirs), checked)
        if scopes_digest(partial.crds) != index.scopes:
            return None  # a CRD came, went or changed scope: every app may render anew
        fresh = split_by_app(partial, None)
    if not _clean_alone(fresh, config, hooks):
        return None
    oids = {o.path: o.oid or store.blob_id(o.data or b"") for a in fresh for o in a.objects}
    parts: dict[str, AppPart | None] = dict.fromkeys(dirs)
    for app in fresh:
        texts = [(o.data or b"").decode() for o in app.objects]
        parts[app.app.path] = AppPart.of_summary(summary_of(app, oids, True), data=texts)
    before = {p: index.oids[p] for d in dirs for p in index.app_paths(d)}
    for directory, part in parts.items():
        index.patch(directory, part)
    if not index.cross_app_clean(parts):
        return None
    index.tree = tree
    if base_key != new_key:
        cache.store(INDEX_KIND, new_key, index.delta_json())
        cache.touch_delta(new_key)
    cache.touch(index.snapshot)  # keeps the snapshot's app entries (contents) in the cache

    object_ids = {p: index.oids[p] for p in index.paths}
    return RenderedSource(
        config=config,
        object_ids=object_ids,
        items="".join(index.entries[p] for p in index.paths).encode(),
        app_count=len(index.app_keys),
        gce_objects=sum(index.gce.values()),
        warnings=[],  # every app was clean, and the changed ones are
        plugin_versions=hooks.versions(),
        data=index.pending_contents(),
        loader=_snapshot_contents(store, cache, index),
        cache_hits=len(index.app_keys) - len(fresh),
        code_stamp=stamp,
        index_key=new_key,
        base=IndexBase(base_key, file_changes(before, {p: object_ids[p] for p in oids})),
    )


def _base_index(
    store: GitStore,
    commit: str,
    cache: RenderCache,
    config: RepoConfig,
    own_key: str,
    key_of_tree: Callable[[str], str],
) -> tuple[str, TreeIndex] | None:
    """The first cached index of: this tree, the rendered tip's source, the parent;
    made by this code and these plugins (the fingerprint in its key), it and its
    snapshot: another's objects would stand in for this code's output."""

    def tip_key() -> str | None:
        tip_tree = store.resolve(f"refs/heads/{config.rendered_branch}^{{tree}}")
        return output_index(cache, tip_tree) if tip_tree else None

    def parent_key() -> str | None:
        parent_tree = store.resolve(f"{commit}^1^{{tree}}")
        return key_of_tree(parent_tree) if parent_tree else None

    for candidate in (lambda: own_key, tip_key, parent_key):
        key = candidate()
        index = load_index(cache, key) if key else None
        if (
            key
            and index is not None
            and key == key_of_tree(index.tree)
            and index.snapshot == key_of_tree(index.snapshot_tree)
        ):
            return key, index
    return None


def _changed_apps(changes: Iterable[TreeChange]) -> set[str] | None:
    """The app directories a change reaches, or None when it may reach more than apps."""
    dirs: set[str] = set()
    for change in changes:
        if is_hidden(change.path):
            continue  # never read by a render
        modes = {change.old_mode, change.new_mode}
        if SYMLINK_MODE in modes or GITLINK_MODE in modes:
            return None
        directory, _, name = change.path.rpartition("/")
        if name in _LAYOUT_NAMES:
            return None
        if name.endswith(YAML_SUFFIXES):
            if not directory:
                return None  # gitkube.yaml, or a manifest outside any app
            dirs.add(directory)
    return dirs


def _read_apps(
    store: GitStore, tree: str, dirs: Iterable[str], config: RepoConfig
) -> dict[str, bytes] | None:
    """The YAML files of the app directories ``dirs`` (path -> content), or None when one
    of them is no plain app, is over the size limit or is a symbolic link."""
    specs = {directory: f"{tree}:{directory}" for directory in dirs}
    trees = store.read_trees(specs.values())
    files: dict[str, str] = {}
    for directory, spec in specs.items():
        for name, (mode, oid) in trees.get(spec, {}).items():
            if mode == SYMLINK_MODE:
                return None
            regular = mode in (FILE_MODE, EXECUTABLE_MODE)
            if regular and name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                files[f"{directory}/{name}"] = oid
    sizes = store.blob_sizes(files.values())
    if any(sizes.get(oid, 0) > config.max_file_bytes for oid in files.values()):
        return None
    blobs = store.read_blobs(files.values())
    sources = {path: blobs[oid] for path, oid in files.items()}
    if any(
        posixpath.basename(path) == APP_FILE and may_declare_source(data)
        for path, data in sources.items()
    ):
        return None  # maybe a kustomize, helm or plugin source: the full layout decides
    return sources


def _clean_alone(fresh: list[RenderedApp], config: RepoConfig, hooks: PluginHooks) -> bool:
    """Whether the changed apps' objects pass every check of one app at a time."""
    resources = sorted(
        (
            (
                obj.path,
                Resource(obj.body, a.app, obj.source, obj.item, generated_by=obj.generated_by),
            )
            for a in fresh
            for obj in a.objects
        ),
        key=lambda pair: pair[0],
    )
    ctx = RenderContext(config=config, applyset_id=applyset_for(config).id, hooks=hooks)
    validators = validators_of(hooks)
    changed = [resource for _path, resource in resources]
    return apps_clean_alone(changed, config.namespace, ctx, validators) is not None


def _snapshot_contents(
    store: GitStore, cache: RenderCache, index: TreeIndex
) -> Callable[[str], Mapping[str, bytes] | None]:
    """Reads the rendered files of an app the index took from its snapshot: from the
    snapshot's app entries, else from git (the blobs of a committed render)."""
    entries: list[AppEntries] = []  # made on the first read: most renders read none

    def load(directory: str) -> Mapping[str, bytes] | None:
        app_key = index.app_keys.get(directory)
        if app_key and not entries:
            entries.append(AppEntries(cache, index.snapshot))
        found = entries[0].contents(app_key) if app_key else None
        if found is not None:
            return found
        paths = index.app_paths(directory)
        blobs = store.read_blobs((index.oids[p] for p in paths), missing_ok=True)
        if any(index.oids[p] not in blobs for p in paths):
            return None
        return {p: blobs[index.oids[p]] for p in paths}

    return load
