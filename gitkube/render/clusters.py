"""``gitkube render`` of a repo with ``clusters:``: every cluster, one run, one branch each.

Each cluster's view (:mod:`gitkube.render.overlays`) goes through the same
cache-assisted single-cluster render as a ``cluster:`` repo, so every
cluster's output is what a single-cluster repo written for it would render.
Every cluster is rendered before any branch moves: an error in one cluster
leaves every branch as it was. A repo without ``clusters:`` is handed to the
single-cluster functions untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import DirectoryTree
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import (
    RenderSummary,
    cache_dir,
    check_index,
    commit_rendered,
    quick_unchanged,
    render_to_branch,
    render_to_directory,
    summarize,
    write_directory,
)

# The renderer (cache, overlays, pipeline, plugins) is imported where it is
# used: a render with nothing to do is answered from branch.quick_unchanged
# without it, as a single-cluster render is.
if TYPE_CHECKING:
    from gitkube.domain.plugin_manager import ExtraPlugins
    from gitkube.primitives.filetree import FileTree
    from gitkube.primitives.gitstore import Entry
    from gitkube.render.cache import RenderedSource
    from gitkube.render.overlays import ClusterView
    from gitkube.render.pipeline import RenderResult


@dataclass
class ClusterRender:
    """One cluster's rendered view."""

    view: ClusterView
    rendered: RenderedSource


def render_cluster_entries(
    store: GitStore,
    entries: list[Entry],
    *,
    tree_id: str | None = None,
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
    plugins: ExtraPlugins = (),
) -> list[ClusterRender] | None:
    """Every cluster's render of the files ``entries`` name; None without ``clusters:``."""
    from gitkube.render.cache import RenderCache, render_listing
    from gitkube.render.overlays import cluster_views

    listing = {e.path: e.oid for e in store.resolve_symlinks(entries)}

    def read_paths(paths: Iterable[str]) -> dict[str, bytes]:
        wanted = list(paths)
        blobs = store.read_blobs(listing[p] for p in wanted)
        return {p: blobs[listing[p]] for p in wanted}

    views = cluster_views(listing, read_paths)
    if views is None:
        return None
    cache = RenderCache(cache_dir(store)) if use_cache else None
    renders = []
    for view in views:
        made = {path: (store.blob_id(data), data) for path, data in view.made.items()}
        view_listing = {p: listing[p] for p in view.kept}
        view_listing.update({p: oid for p, (oid, _data) in made.items()})
        extra = {oid: data for oid, data in made.values()}

        def read(oids: Iterable[str], extra: Mapping[str, bytes] = extra) -> dict[str, bytes]:
            wanted = set(oids)
            found = {oid: extra[oid] for oid in wanted if oid in extra}
            found.update(store.read_blobs(wanted - set(found)))
            return found

        def sizes(oids: Iterable[str], extra: Mapping[str, bytes] = extra) -> dict[str, int]:
            wanted = set(oids)
            found = {oid: len(extra[oid]) for oid in wanted if oid in extra}
            found.update(store.blob_sizes(wanted - set(found)))
            return found

        say = None if progress is None else (lambda text, c=view.cluster: progress(f"{c}: {text}"))
        try:
            rendered = render_listing(
                view_listing,
                read,
                store.blob_id,
                cache,
                # the view is made from the tree and the cluster's name alone
                tree_id=f"{tree_id}:{view.cluster}" if tree_id else None,
                progress=say,
                sizes=sizes,
                plugins=plugins,
            )
        except GitkubeError as exc:
            raise exc.noting(view.where(exc.file)) from None
        renders.append(ClusterRender(view, rendered))
    return renders


def render_clusters_to_branch(
    repo: Path,
    *,
    ref: str = "HEAD",
    branch: str | None = None,
    push: str | None = None,
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
    plugins: ExtraPlugins = (),
    sign: bool = False,
) -> list[RenderSummary]:
    """``gitkube render`` onto the branch: one summary, or one per cluster.

    With ``clusters:`` every cluster is rendered first, then each cluster's
    branch (``<branch>/<cluster>``) moves; ``--branch`` replaces the prefix.
    """
    if use_cache and not plugins:
        # A no-op stamp is only saved for a single-cluster render of that very
        # commit, so it answers before gitkube.yaml is read (render_to_branch
        # would answer the same).
        quick = quick_unchanged(repo, ref, branch)
        if quick is not None:
            if push:
                GitStore(repo).push(push, quick.output)
            return [quick]
    store = GitStore(repo)
    commit, tree = store.resolve_commit(ref)
    if not declares_clusters(store, commit):
        return [
            render_to_branch(
                repo,
                ref=ref,
                branch=branch,
                push=push,
                use_cache=use_cache,
                progress=progress,
                plugins=plugins,
                sign=sign,
            )
        ]
    try:
        renders = render_cluster_entries(
            store,
            store.ls_tree(tree),
            tree_id=tree,
            use_cache=use_cache,
            progress=progress,
            plugins=plugins,
        )
    except GitkubeError as exc:
        raise exc.noting(f"in {ref} ({commit[:12]})") from None
    assert renders is not None
    summaries = []
    for render in renders:
        target = f"{branch}/{render.view.cluster}" if branch else render.view.branch
        summary = commit_rendered(
            store, commit, render.rendered, target, sign=sign or render.rendered.config.sign
        )
        summary.cluster = render.view.cluster
        summaries.append(summary)
    if push:
        for summary in summaries:
            store.push(push, summary.output)
    return summaries


def declares_clusters(store: GitStore, commit: str) -> bool:
    """Whether gitkube.yaml at ``commit`` declares ``clusters:``."""
    from gitkube.render.overlays import read_raw_settings

    name = f"{commit}:gitkube.yaml"
    data = store.read_blobs([name], missing_ok=True).get(name)
    return read_raw_settings(data) is not None


def check_index_clusters(
    repo: Path, *, use_cache: bool = True, plugins: ExtraPlugins = ()
) -> list[RenderSummary]:
    """The pre-commit check of every cluster (or of the one ``cluster:``)."""
    store = GitStore(repo)
    try:
        renders = render_cluster_entries(
            store, store.ls_index(), use_cache=use_cache, plugins=plugins
        )
    except GitkubeError as exc:
        raise exc.noting("in the staged files") from None
    if renders is None:
        return [check_index(repo, use_cache=use_cache, plugins=plugins)]
    summaries = []
    for render in renders:
        summary = RenderSummary(
            apps=render.rendered.app_count,
            objects=render.rendered.objects,
            gce_objects=render.rendered.gce_objects,
            output="index",
            warnings=render.rendered.warnings,
            changed=False,
        )
        summary.cluster = render.view.cluster
        summaries.append(summary)
    return summaries


def render_tree_clusters(
    tree: FileTree, *, plugins: ExtraPlugins = ()
) -> list[tuple[ClusterView, RenderResult]] | None:
    """Every cluster's full render of a file tree; None without ``clusters:``."""
    from gitkube.domain.plugin_manager import build_plugin_manager
    from gitkube.render.overlays import ViewTree, views_of_tree
    from gitkube.render.pipeline import render_tree

    views = views_of_tree(tree)
    if views is None:
        return None
    results = []
    for view in views:
        try:
            result = render_tree(
                ViewTree(tree, view),
                plugins=lambda config: build_plugin_manager(
                    config.disabled_plugins, plugins=plugins
                ),
            )
        except GitkubeError as exc:
            raise exc.noting(view.where(exc.file)) from None
        results.append((view, result))
    return results


def render_clusters_to_directory(
    repo: Path, out: Path, apps: list[str] | None = None, *, plugins: ExtraPlugins = ()
) -> list[RenderSummary]:
    """``render --out DIR``: with ``clusters:``, each cluster into ``DIR/<cluster>/``."""
    results = render_tree_clusters(DirectoryTree(repo), plugins=plugins)
    if results is None:
        return [render_to_directory(repo, out, apps, plugins=plugins)]
    if apps:
        raise GitkubeError(
            "naming apps with --out is for single-cluster repos; render every cluster",
            file=str(repo),
        )
    files: dict[str, bytes] = {}
    summaries = []
    for view, result in results:
        for path, data in result.all_files().items():
            files[f"{view.cluster}/{path}"] = data
        summary = summarize(result, str(out / view.cluster))
        summary.cluster = view.cluster
        summaries.append(summary)
    # A marker inventory at the top, so a later render may replace the directory.
    files[INVENTORY_FILE] = (
        b"kind: Inventory\nclusters: ["
        + b", ".join(v.cluster.encode() for v, _ in results)
        + b"]\n"
    )
    write_directory(out, files)
    return summaries
