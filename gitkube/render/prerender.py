"""A cold render's apps, rendered side by side in worker processes.

An app's output depends only on its own files, ``gitkube.yaml``, the code
and the scopes of the repo's CRDs (:mod:`gitkube.render.cache`), so apps
rendered apart make the same objects as apps rendered together. When most of
a tree misses the cache, its apps are cut into slices, each slice is rendered
by a forked worker (:func:`gitkube.primitives.forkmap.fork_map`) into cache
entries with their summaries, and the render goes on as a warm one: every app
"found" in the cache, the repo-wide checks run over the summaries
(:func:`gitkube.render.summary.quick_repo_check`), the same bytes out.

It gives up (returns None, and the caller renders serially) whenever the
result could differ from one render of the whole tree: a slice that fails, a
slice in which the checks of one app at a time find anything, an object JSON
would not carry. So every error and warning a user sees is the serial
render's own, in its order and words.

CRDs are the one way apps depend on each other: a slice knows only its own.
When the slices' CRD scopes differ, they are rendered once more, each told
every CRD the first round found, as the serial render knows them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gitkube.domain.config import CONFIG_FILE, DEFAULT_MAX_FILE_BYTES, RepoConfig
from gitkube.domain.context import RenderContext
from gitkube.domain.ownership import applyset_for
from gitkube.domain.plugin_manager import PluginHooks
from gitkube.domain.resources import rendered_path
from gitkube.domain.scopes import scopes_digest
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import FileTree, MemoryTree
from gitkube.primitives.forkmap import available_workers, fork_map, workers_configured
from gitkube.render.entries import (
    DATA_SUFFIX,
    SUMMARY_SUFFIX,
    app_lines,
    render_apps,
    resources_in_path_order,
    split_by_app,
    summary_of,
)
from gitkube.render.pipeline import (
    YAML_SUFFIXES,
    RenderResult,
    check_repo,
    read_config,
    read_within_limit,
    render_tree,
)
from gitkube.render.sources import (
    APP_FILE,
    CHART_FILE,
    KUSTOMIZATION_FILES,
    may_declare_source,
)
from gitkube.render.summary import AppSummary, apps_clean_alone, summary_line, validators_of

# Below this many apps to render, workers cost more than they save (unless
# $GITKUBE_WORKERS asks for them).
MIN_APPS = 400
SLICES_PER_WORKER = 2  # more, smaller slices: a slow one holds the others up less


@dataclass
class Prerendered:
    """Apps rendered by workers, as the cache would give them back."""

    bundle: dict[str, bytes] = field(default_factory=dict)  # cache lines by key (render/cache.py)
    summaries: dict[str, AppSummary] = field(default_factory=dict)  # by app directory
    data: dict[str, bytes] = field(default_factory=dict)  # rendered files by path


@dataclass
class _Slice:
    sources: dict[str, bytes]  # the slice's apps' files (and their inputs), and gitkube.yaml
    known_crds: dict[tuple[str, str], bool]


@dataclass
class _SliceResult:
    prerendered: Prerendered
    crds: dict[tuple[str, str], bool]  # every CRD scope the slice was rendered with


def worth_workers(apps_to_render: int) -> int:
    """How many workers a render of ``apps_to_render`` apps should start (0: none)."""
    workers = available_workers()
    if workers < 2 or apps_to_render < 2:
        return 0
    return workers if workers_configured() or apps_to_render >= MIN_APPS else 0


def prerender(
    app_sources: Mapping[str, Mapping[str, bytes]],
    shared: Mapping[str, bytes],
    app_keys: Mapping[str, str],
    hooks: PluginHooks,
    blob_id: Callable[[bytes], str],
    workers: int,
) -> Prerendered | None:
    """Render the apps of ``app_sources`` (directory -> the files it reads) in
    ``workers`` processes; ``shared`` are files every app reads (gitkube.yaml).

    The apps' cache entries are under ``app_keys`` (directory -> key). None when
    the serial render must do it (see the module's docstring).
    """
    sources = _slices(app_sources, shared, workers)

    def render_slice(job: _Slice) -> _SliceResult | None:
        return _render_slice(job, hooks, app_keys, blob_id)

    found = _in_rounds(sources, render_slice, lambda result: result.crds, workers)
    if found is None:
        return None
    whole = Prerendered()
    for result in found:
        whole.bundle.update(result.prerendered.bundle)
        whole.summaries.update(result.prerendered.summaries)
        whole.data.update(result.prerendered.data)
    return whole


def render_in_workers(
    tree: FileTree, plugins: Callable[[RepoConfig], PluginHooks]
) -> RenderResult | None:
    """:func:`render_tree` of ``tree`` (``gitkube render --out``), its apps
    rendered by workers a slice each and the checks across apps run here over
    every object, as the serial render runs them: the same result. None when
    there are too few apps, a tool-built app (kustomize, helm) or anything a
    slice cannot settle alone: the serial render makes it."""
    try:
        paths = tree.files()
        shared = (
            {CONFIG_FILE: read_within_limit(tree, CONFIG_FILE, DEFAULT_MAX_FILE_BYTES)}
            if CONFIG_FILE in paths
            else {}
        )
        config = read_config(shared.get(CONFIG_FILE))
        by_directory: dict[str, dict[str, bytes]] = {}
        for path in paths:
            if path.endswith(YAML_SUFFIXES):
                by_directory.setdefault(posixpath.dirname(path), {})[path] = b""
        at_root = by_directory.pop("", {})
        workers = worth_workers(len(by_directory))
        if not workers or set(at_root) - {CONFIG_FILE}:
            return None  # too few apps, or a manifest at the root: an error to report
        if any(posixpath.basename(p) in (*KUSTOMIZATION_FILES, CHART_FILE) for p in paths):
            return None  # kustomize and helm apps read beyond their directory
        for files in by_directory.values():
            for path in files:
                files[path] = read_within_limit(tree, path, config.max_file_bytes)
        if any(_may_be_tool_built(files) for files in by_directory.values()):
            return None
        hooks = plugins(config)
    except (GitkubeError, OSError):
        return None

    def render_slice(job: _Slice) -> RenderResult | None:
        try:
            return render_tree(
                MemoryTree(job.sources),
                plugins=lambda _config: hooks,
                known_crds=job.known_crds,
                repo_checks=False,
            )
        except Exception:  # whatever it was, the serial render says it, in its words
            return None

    slices = _in_rounds(_slices(by_directory, shared, workers), render_slice, _crds, workers)
    if slices is None:
        return None
    resources = [resource for part in slices for resource in part.resources]
    resources.sort(key=lambda r: rendered_path(r, config.namespace))
    ctx = RenderContext(config=config, applyset_id=applyset_for(config).id, hooks=hooks)
    _owner, warnings = check_repo(resources, config, ctx)
    return RenderResult(
        config=config,
        apps=[app for part in slices for app in part.apps],
        resources=resources,
        files=dict(sorted((path, data) for part in slices for path, data in part.files.items())),
        warnings=warnings,
        plugin_versions=hooks.versions(),
        crds=slices[0].crds,
    )


def _crds(result: RenderResult) -> Mapping[tuple[str, str], bool]:
    return result.crds


def _may_be_tool_built(files: Mapping[str, bytes]) -> bool:
    """Whether an app's app.yaml may set ``source:`` (a tool-built app)."""
    return any(
        posixpath.basename(path) == APP_FILE and may_declare_source(data)
        for path, data in files.items()
    )


def _slices(
    app_sources: Mapping[str, Mapping[str, bytes]], shared: Mapping[str, bytes], workers: int
) -> list[dict[str, bytes]]:
    """The files of each slice: apps in path order, cut into a few runs per worker."""
    directories = sorted(app_sources)
    count = min(len(directories), workers * SLICES_PER_WORKER)
    groups = [
        directories[i * len(directories) // count : (i + 1) * len(directories) // count]
        for i in range(count)
    ]
    return [
        {path: data for d in group for path, data in app_sources[d].items()} | dict(shared)
        for group in groups
    ]


Done = TypeVar("Done")


def _in_rounds(
    sources: list[dict[str, bytes]],
    render: Callable[[_Slice], Done | None],
    crds_of: Callable[[Done], Mapping[tuple[str, str], bool]],
    workers: int,
) -> list[Done] | None:
    """``render`` each slice of ``sources`` in the workers; a second round, each
    slice told every CRD of the first, when their CRD scopes differ."""
    known: dict[tuple[str, str], bool] = {}
    for _round in range(2):
        results = fork_map(render, [_Slice(s, known) for s in sources], workers)
        if results is None or any(result is None for result in results):
            return None
        found = [result for result in results if result is not None]
        if len({scopes_digest(crds_of(result)) for result in found}) == 1:
            return found
        known = {crd: scope for result in found for crd, scope in crds_of(result).items()}
    return None


def _render_slice(
    job: _Slice,
    hooks: PluginHooks,
    app_keys: Mapping[str, str],
    blob_id: Callable[[bytes], str],
) -> _SliceResult | None:
    """One worker's part: its apps rendered into cache lines and summaries."""
    try:
        partial = render_apps(job.sources, hooks, job.known_crds)
        apps = split_by_app(partial, None)
        oids = {o.path: blob_id(o.data or b"") for app in apps for o in app.objects}
        resources = resources_in_path_order(apps)
        config = partial.config
        ctx = RenderContext(config=config, applyset_id=applyset_for(config).id, hooks=hooks)
        if apps_clean_alone(resources, config.namespace, ctx, validators_of(hooks)) is None:
            return None  # the serial render reports it, in its words
        done = Prerendered()
        for app in apps:
            key = app_keys.get(app.app.path)
            lines = app_lines(app, oids)
            if key is None or lines is None:
                return None
            summary = summary_of(app, oids, clean=True)
            done.summaries[app.app.path] = summary
            done.bundle[key], done.bundle[key + DATA_SUFFIX] = lines
            done.bundle[key + SUMMARY_SUFFIX] = summary_line(summary)
            done.data.update((o.path, o.data) for o in app.objects if o.data is not None)
        return _SliceResult(done, dict(partial.crds))
    except Exception:  # whatever it was, the serial render says it, in its words
        return None
