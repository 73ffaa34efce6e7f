"""``gitkube diff BASE HEAD``: what a change does to the rendered objects (DESIGN §5).

Each side is the rendered commit whose ``Source-Commit`` trailer names the
ref's commit when the rendered branch has one (what was reviewed and
applied), else a fresh render of the commit (cached by source tree id).
Objects are compared by blob id, so only the files that differ are read
and parsed; each change gets a unified YAML diff.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.domain.config import CONFIG_FILE, RepoConfig, parse_config
from gitkube.domain.context import Problem
from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.domain.keys import HOOK_ANNOTATION
from gitkube.domain.resources import GCE_GROUP
from gitkube.domain.secrets import is_wrapper_text, key_changes, review_text
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.primitives.yamlio import load_documents
from gitkube.render.branch import SOURCE_TRAILER, cache_dir, render_commit
from gitkube.render.cache import RenderedSource
from gitkube.render.risks import ObjectPair, Risk, risks_of

# Rendered files of the kinds that risk checks of a whole app read.
APP_WIDE_PREFIXES = ("computeforwardingrule-", "computefirewall-")

ACTIONS = ("added", "removed", "changed")


@dataclass
class Side:
    """One end of the diff: the ref, its commit, and where its objects came from."""

    ref: str
    commit: str
    rendered_commit: str | None  # the rendered branch's commit, when read from there
    object_ids: dict[str, str]
    read: Callable[[Iterable[str]], dict[str, bytes]]
    config: RepoConfig | None = None  # None: the commit's gitkube.yaml is unreadable
    warnings: list[Problem] = field(default_factory=list)  # known for fresh renders only

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit": self.commit, "renderedCommit": self.rendered_commit}


@dataclass
class ObjectChange:
    app: str
    path: str
    action: str
    api_version: str
    kind: str
    name: str
    namespace: str | None
    gce: bool
    diff: str
    # For SOPS Secrets: which keys were added, removed or changed (never a value).
    secret_keys: dict[str, list[str]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **({"secretKeys": self.secret_keys} if self.secret_keys is not None else {}),
            "app": self.app,
            "path": self.path,
            "action": self.action,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "gce": self.gce,
            "diff": self.diff,
        }


@dataclass
class DiffReport:
    base: Side
    head: Side
    changes: list[ObjectChange] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    # The hooks a sync of head runs: those of the apps whose other objects change.
    hooks: list[dict[str, str]] = field(default_factory=list)

    @property
    def apps(self) -> list[str]:
        return sorted({c.app for c in self.changes})

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def summary(self) -> str:
        if not self.changes:
            return "no changes to the rendered objects"
        counts = self.counts()
        gce = sum(1 for c in self.changes if c.gce)
        apps = len(self.apps)
        parts = ", ".join(f"{counts[a]} {a}" for a in ACTIONS if counts[a])
        text = (
            f"{len(self.changes)} object{'s' if len(self.changes) != 1 else ''} differ "
            f"in {apps} app{'s' if apps != 1 else ''}: {parts}"
        )
        if gce:
            text += f"; {gce} GCE resource{'s' if gce != 1 else ''} change"
        return text

    def as_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "base": self.base.as_dict(),
            "head": self.head.as_dict(),
            "summary": {
                "text": self.summary(),
                "objects": len(self.changes),
                "apps": len(self.apps),
                "gce": sum(1 for c in self.changes if c.gce),
                **counts,
            },
            "risks": [r.as_dict() for r in self.risks],
            "hooks": self.hooks,
            "changes": [c.as_dict() for c in self.changes],
        }


WORK_TREE = "work tree"


def diff_refs(
    repo: Path,
    base: str | None,
    head: str | None,
    *,
    branch: str | None = None,
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
    store: GitStore | None = None,
) -> DiffReport:
    """Compare the rendered objects of two refs of the repository at ``repo``.

    ``head`` None is the work tree (uncommitted and untracked files included,
    as ``render --out`` sees them); ``base`` None is the source branch
    (``render.sourceBranch``), as ``git diff`` compares with what is committed.
    ``store``: the repository at ``repo`` when the caller has it open already.
    """
    store = store or GitStore(repo)
    head_side = _side(store, head, branch, use_cache, progress) if head else _work_tree(store, repo)
    if base is None:
        base = head_side.config.source_branch if head_side.config else "main"
    base_side = _side(store, base, branch, use_cache, progress)
    return compare(base_side, head_side)


def compare(base_side: Side, head_side: Side) -> DiffReport:
    """The report of what changes from one side's rendered objects to the other's."""
    a, b = base_side.object_ids, head_side.object_ids
    paths = sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))
    before = base_side.read([p for p in paths if p in a])
    after = head_side.read([p for p in paths if p in b])
    report = DiffReport(base_side, head_side)
    for path in paths:
        old, new = before.get(path), after.get(path)
        action = "added" if old is None else "removed" if new is None else "changed"
        report.changes.append(_change(path, action, old, new))
    report.changes.sort(key=lambda c: (c.app, ACTIONS.index(c.action), c.path))
    report.risks = _risks(base_side, head_side, paths, before, after)
    report.hooks = _hooks(head_side, paths)
    return report


def _hooks(head: Side, paths: list[str]) -> list[dict[str, str]]:
    """The hook Jobs and Pods of head that a sync of this change runs (it shows them;
    only sync runs them): those of each app with a changed object that is no hook."""
    apps = {posixpath.dirname(c) for c in paths}
    candidates = [
        path
        for path in head.object_ids
        if path.rpartition("/")[2].startswith(("job-", "pod-")) and path.rpartition("/")[0] in apps
    ]
    hooks: dict[str, dict[str, str]] = {}
    for path, data in head.read(candidates).items():
        body = _object(data, path) or {}
        point = ((body.get("metadata") or {}).get("annotations") or {}).get(HOOK_ANNOTATION)
        if point:
            hooks[path] = {
                "app": posixpath.dirname(path),
                "hook": str(point),
                "kind": str(body.get("kind", "")),
                "name": str((body.get("metadata") or {}).get("name", "")),
            }
    changing = {posixpath.dirname(p) for p in paths if p not in hooks}
    return [h for path, h in sorted(hooks.items()) if h["app"] in changing]


def _risks(
    base: Side,
    head: Side,
    paths: list[str],
    before: dict[str, bytes],
    after: dict[str, bytes],
) -> list[Risk]:
    """The risks of the change, from the parsed objects on both sides."""
    pairs = [
        ObjectPair(posixpath.dirname(p), _object(before.get(p), p), _object(after.get(p), p))
        for p in paths
    ]
    apps = {posixpath.dirname(p) for p in paths}
    app_wide = sorted(  # one order, whichever way the side listed its objects
        path
        for path in head.object_ids
        if path.rpartition("/")[2].startswith(APP_WIDE_PREFIXES) and path.rpartition("/")[0] in apps
    )
    head_objects = [
        (posixpath.dirname(path), body)
        for path, data in head.read(app_wide).items()
        if (body := _object(data, path)) is not None
    ]
    config = head.config or base.config
    return risks_of(
        [p for p in pairs if p.old is not None or p.new is not None],
        owned_before=len(base.object_ids),
        max_prune_fraction=config.max_prune_fraction if config else 1.0,
        head_objects=head_objects,
        warnings=head.warnings,
    )


def _object(data: bytes | None, path: str) -> dict[str, Any] | None:
    if data is None:
        return None
    body = _identity(data, path)
    return body or None


def _side(
    store: GitStore,
    ref: str,
    branch: str | None,
    use_cache: bool,
    progress: Callable[[str], None] | None,
) -> Side:
    commit, _tree = store.resolve_commit(ref)
    config = _config_at(store, commit)  # read once: the branch name and the risks need it
    if branch is None and config is not None:
        branch = config.rendered_branch
    rendered = rendered_commit_of(store, commit, branch)
    if rendered is not None:
        return rendered_side(store, ref, commit, rendered, config, use_cache=use_cache)
    _commit, _tree, source = render_commit(store, ref, use_cache=use_cache, progress=progress)
    return source_side(ref, commit, source)


def rendered_side(
    store: GitStore,
    ref: str,
    commit: str,
    rendered: str,
    config: RepoConfig | None,
    *,
    use_cache: bool = False,
) -> Side:
    """A side read from a commit of the rendered branch (its file list from the render
    cache's index of it when ``use_cache`` and the cache knows it)."""
    ids = None
    if use_cache:
        from gitkube.render.cache import RenderCache
        from gitkube.render.incremental import rendered_objects

        ids = rendered_objects(store, RenderCache(cache_dir(store)), rendered)
    if ids is None:
        ids = {e.path: e.oid for e in store.ls_tree(rendered) if e.path != INVENTORY_FILE}

    def read(paths: Iterable[str]) -> dict[str, bytes]:
        wanted = list(paths)
        blobs = store.read_blobs(ids[p] for p in wanted)
        return {p: blobs[ids[p]] for p in wanted}

    return Side(ref, commit, rendered, ids, read, config=config)


def source_side(ref: str, commit: str, source: RenderedSource) -> Side:
    """A side rendered now from the source commit."""
    return Side(
        ref,
        commit,
        None,
        dict(source.object_ids),
        source.read,
        config=source.config,
        warnings=list(source.warnings),
    )


def _work_tree(store: GitStore, repo: Path) -> Side:
    """The work tree as one side of a diff: rendered now, in memory."""
    from gitkube.primitives.filetree import DirectoryTree
    from gitkube.render.pipeline import render_tree

    try:
        result = render_tree(DirectoryTree(repo))
    except GitkubeError as exc:
        raise exc.noting("in the work tree") from None
    files = result.files
    return Side(
        WORK_TREE,
        "",
        None,
        {path: store.blob_id(data) for path, data in files.items()},
        lambda paths: {p: files[p] for p in paths},
        config=result.config,
        warnings=list(result.warnings),
    )


def _config_at(store: GitStore, commit: str) -> RepoConfig | None:
    name = f"{commit}:{CONFIG_FILE}"
    try:
        return parse_config(store.read_blobs([name], missing_ok=True).get(name))
    except GitkubeError:
        return None


def rendered_commit_of(store: GitStore, commit: str, branch: str | None) -> str | None:
    """The rendered branch's commit made from ``commit``, if there is one.

    ``branch`` None: the commit's gitkube.yaml is unreadable; the render reports it.
    """
    if branch is None:
        return None
    store.check_branch_name(branch)
    for rendered, source in store.commits_with_trailers(f"refs/heads/{branch}", SOURCE_TRAILER):
        if source == commit:
            return rendered
    return None


def _change(path: str, action: str, old: bytes | None, new: bytes | None) -> ObjectChange:
    meta = _identity(new if new is not None else old, path)
    secret_keys = None
    if is_wrapper_text(old) or is_wrapper_text(new):
        # A SOPS Secret: review its keys, never its values (domain/secrets.py).
        keys = key_changes(_object(old, path), _object(new, path))
        secret_keys = {"added": keys.added, "removed": keys.removed, "changed": keys.changed}
        old = review_text(old, path) if old is not None else None
        new = review_text(new, path) if new is not None else None
    text_old = old.decode() if old is not None else ""
    text_new = new.decode() if new is not None else ""
    diff = "".join(
        difflib.unified_diff(
            text_old.splitlines(keepends=True),
            text_new.splitlines(keepends=True),
            fromfile="/dev/null" if old is None else f"a/{path}",
            tofile="/dev/null" if new is None else f"b/{path}",
        )
    )
    api_version = str(meta.get("apiVersion", ""))
    gce = api_version.split("/", 1)[0] == GCE_GROUP
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    namespace = metadata.get("namespace")
    return ObjectChange(
        app=posixpath.dirname(path),
        path=path,
        action=action,
        api_version=api_version,
        kind=str(meta.get("kind", "")),
        name=str(metadata.get("name", "")),
        namespace=None if gce or not namespace else str(namespace),
        gce=gce,
        diff=diff,
        secret_keys=secret_keys,
    )


def _identity(data: bytes | None, path: str) -> dict[str, Any]:
    try:
        docs = load_documents(data or b"", path)
    except GitkubeError:
        return {}
    return docs[0] if docs and isinstance(docs[0], dict) else {}
