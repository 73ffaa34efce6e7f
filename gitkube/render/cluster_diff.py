"""``gitkube diff`` of a repo with ``clusters:``: one report per cluster, a summary on top.

Each cluster's side is its rendered branch's commit made from the ref when
there is one (what was reviewed and applied), else a fresh render of the
cluster's view. A change to a shared file (gitkube.yaml, an app every
cluster runs) shows in every cluster it reaches; a cluster a change does
not reach says "unchanged". A side that still has one ``cluster:`` (a repo
moving to ``clusters:``) is compared with every cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitkube.domain.clusters import (
    ClusterSpec,
    cluster_settings,
    clusters_of,
    multi_cluster,
    rendered_branch,
)
from gitkube.domain.config import CONFIG_FILE, RepoConfig, parse_config
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import DirectoryTree
from gitkube.primitives.gitstore import GitStore
from gitkube.primitives.yamlio import dump_document, load_one
from gitkube.render.clusters import render_cluster_entries, render_tree_clusters
from gitkube.render.diff import (
    ACTIONS,
    WORK_TREE,
    DiffReport,
    Side,
    _side,
    _work_tree,
    compare,
    diff_refs,
    rendered_commit_of,
    rendered_side,
    source_side,
)
from gitkube.render.overlays import read_raw_settings


@dataclass
class ClusterDiffReport:
    """Every cluster's :class:`DiffReport`, in the order gitkube.yaml names the clusters."""

    reports: dict[str, DiffReport]

    @property
    def changes(self) -> list[Any]:
        return [c for report in self.reports.values() for c in report.changes]

    @property
    def risks(self) -> list[Any]:
        return [r for report in self.reports.values() for r in report.risks]

    def cluster_summary(self, cluster: str) -> str:
        counts = self.reports[cluster].counts()
        parts = [f"{counts[a]} {a}" for a in ACTIONS if counts[a]]
        return f"{cluster}: {', '.join(parts) if parts else 'unchanged'}"

    def summary(self) -> str:
        """``staging: 3 changed; prod: unchanged``."""
        return "; ".join(self.cluster_summary(c) for c in self.reports)

    def as_dict(self) -> dict[str, Any]:
        clusters = []
        for cluster, report in self.reports.items():
            clusters.append({"cluster": cluster, **report.as_dict()})
        return {
            "summary": {
                "text": self.summary(),
                "clusters": {c: r.counts() for c, r in self.reports.items()},
                "objects": len(self.changes),
            },
            "clusters": clusters,
            "risks": [
                {"cluster": c, **risk.as_dict()}
                for c, r in self.reports.items()
                for risk in r.risks
            ],
            "changes": [
                {"cluster": c, **change.as_dict()}
                for c, r in self.reports.items()
                for change in r.changes
            ],
        }


def diff_any(
    repo: Path,
    base: str | None,
    head: str | None,
    *,
    branch: str | None = None,
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DiffReport | ClusterDiffReport:
    """:func:`diff_refs` for a single-cluster repo; per cluster when either side has ``clusters:``."""
    store = GitStore(repo)
    head_raw = _raw_at(store, head) if head else _raw_of_work_tree(repo)
    base_ref = base or ((head_raw or {}).get("render") or {}).get("sourceBranch") or "main"
    if not multi_cluster(head_raw) and not multi_cluster(_raw_at(store, base_ref)):
        return diff_refs(
            repo, base, head, branch=branch, use_cache=use_cache, progress=progress, store=store
        )
    head_sides = (
        _ref_sides(store, head, branch, use_cache, progress)
        if head
        else _work_tree_sides(repo, store)
    )
    base_sides = _ref_sides(store, base_ref, branch, use_cache, progress)
    names = [*head_sides, *(c for c in base_sides if c not in head_sides)]
    reports: dict[str, DiffReport] = {}
    for cluster in names:
        head_side = head_sides.get(cluster) or head_sides.get("") or _empty(head or WORK_TREE)
        base_side = base_sides.get(cluster) or base_sides.get("") or _empty(base_ref)
        reports[cluster] = compare(base_side, head_side)
    return ClusterDiffReport({c: r for c, r in reports.items() if c})


def _raw_at(store: GitStore, ref: str) -> dict[str, Any] | None:
    commit, _tree = store.resolve_commit(ref)
    name = f"{commit}:{CONFIG_FILE}"
    return _raw(store.read_blobs([name], missing_ok=True).get(name))


def _raw_of_work_tree(repo: Path) -> dict[str, Any] | None:
    path = repo / CONFIG_FILE
    return _raw(path.read_bytes() if path.is_file() else None)


def _raw(data: bytes | None) -> dict[str, Any] | None:
    try:
        raw = load_one(data, CONFIG_FILE) if data is not None else None
    except GitkubeError:
        return None
    return raw if isinstance(raw, dict) else None


def _empty(ref: str) -> Side:
    return Side(ref, "", None, {}, lambda paths: {}, config=None)


def _ref_sides(
    store: GitStore,
    ref: str,
    branch: str | None,
    use_cache: bool,
    progress: Callable[[str], None] | None,
) -> dict[str, Side]:
    """Each cluster's side of ``ref`` (key "" for a single-cluster commit)."""
    commit, tree = store.resolve_commit(ref)
    name = f"{commit}:{CONFIG_FILE}"
    data = store.read_blobs([name], missing_ok=True).get(name)
    raw = read_raw_settings(data)
    if raw is None:
        return {"": _side(store, ref, branch, use_cache, progress)}
    specs = clusters_of(raw)
    sides: dict[str, Side] = {}
    for spec in specs:
        target = f"{branch}/{spec.name}" if branch else rendered_branch(raw, spec.name)
        rendered = rendered_commit_of(store, commit, target)
        if rendered is not None:
            sides[spec.name] = rendered_side(store, ref, commit, rendered, _config(raw, spec))
    if len(sides) < len(specs):
        try:
            renders = render_cluster_entries(
                store, store.ls_tree(tree), tree_id=tree, use_cache=use_cache, progress=progress
            )
        except GitkubeError as exc:
            raise exc.noting(f"in {ref} ({commit[:12]})") from None
        for render in renders or ():
            sides.setdefault(render.view.cluster, source_side(ref, commit, render.rendered))
    return {spec.name: sides[spec.name] for spec in specs}


def _config(raw: dict[str, Any], spec: ClusterSpec) -> RepoConfig:
    return parse_config(dump_document(cluster_settings(raw, spec)).encode())


def _work_tree_sides(repo: Path, store: GitStore) -> dict[str, Side]:
    try:
        results = render_tree_clusters(DirectoryTree(repo))
    except GitkubeError as exc:
        raise exc.noting("in the work tree") from None
    if results is None:
        return {"": _work_tree(store, repo)}
    sides = {}
    for view, result in results:
        files = result.files
        sides[view.cluster] = Side(
            WORK_TREE,
            "",
            None,
            {path: store.blob_id(data) for path, data in files.items()},
            _reader(files),
            config=result.config,
            warnings=list(result.warnings),
        )
    return sides


def _reader(files: dict[str, bytes]) -> Callable[[Iterable[str]], dict[str, bytes]]:
    return lambda paths: {p: files[p] for p in paths}
