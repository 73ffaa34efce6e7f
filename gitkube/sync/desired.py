"""The desired state: what a rendered commit says the cluster and GCE should hold.

Only data is read: object files and the inventory. The inventory is checked
against the files before anything is used, and a commit whose files and
inventory disagree is refused whole, so a hand-edited or truncated rendered
branch never reaches the cluster half-applied. What a blob parses to is kept
between runs (:mod:`gitkube.sync.parsed_cache`): the same commit is parsed once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gitkube.domain.config import RepoConfig, parse_config
from gitkube.domain.inventory import INVENTORY_FILE, is_inventory
from gitkube.domain.ownership import ApplySet, applyset_for
from gitkube.domain.targets import DesiredObject, object_id
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gcpause import collector_paused
from gitkube.primitives.gitstore import GitStore
from gitkube.primitives.yamlio import dump_document, load_one
from gitkube.sync.parsed_cache import ParsedBlobs


@dataclass(frozen=True)
class DesiredState:
    commit: str
    source_commit: str | None
    config: RepoConfig
    applyset: ApplySet
    objects: list[DesiredObject]


def load_desired(store: GitStore, ref: str) -> DesiredState:
    """Read and check the rendered commit ``ref`` of ``store``."""
    with collector_paused():  # tens of thousands of objects at once (gcpause.py)
        return _load_desired(store, ref)


def _load_desired(store: GitStore, ref: str) -> DesiredState:
    try:
        commit, tree = store.resolve_commit(ref)
    except GitkubeError as exc:
        raise _with_cluster_branches(store, ref, exc) from None
    entries = {e.path: e for e in store.ls_tree(tree)}
    where = f"{ref} ({commit[:12]})"
    if INVENTORY_FILE not in entries:
        raise GitkubeError(
            f"{where} is not a gitkube rendered commit (no {INVENTORY_FILE}); "
            "point --ref at the rendered branch"
        )
    parsed = ParsedBlobs.for_store(store)
    blobs = store.read_blobs(e.oid for e in entries.values() if parsed.get(e.oid) is None)

    def parse(oid: str, path: str) -> tuple[str, Any]:
        """The blob's sha256 and what it parses to (``path`` names it in errors)."""
        known = parsed.get(oid)
        if known is not None:
            return known
        data = blobs[oid]
        body = load_one(data, f"{where}:{path}")
        digest = hashlib.sha256(data).hexdigest()
        parsed.put(oid, digest, body)
        return digest, body

    _, inventory = parse(entries[INVENTORY_FILE].oid, INVENTORY_FILE)
    if not is_inventory(inventory):
        raise GitkubeError(f"{where}: {INVENTORY_FILE} is not a gitkube inventory")
    config = parse_config(
        dump_document(inventory.get("settings") or {}).encode(), f"{where}:{INVENTORY_FILE}"
    )
    listed = {o["path"]: o for o in inventory.get("objects") or ()}
    problems = []
    for path in sorted(set(entries) - set(listed) - {INVENTORY_FILE}):
        problems.append(f"{path} is not in the inventory")
    objects = []
    for path, item in sorted(listed.items()):
        entry = entries.get(path)
        if entry is None:
            problems.append(f"{path} is in the inventory but missing")
            continue
        known = parsed.get(entry.oid)
        if known is None and hashlib.sha256(blobs[entry.oid]).hexdigest() != item.get("sha256"):
            problems.append(f"{path} does not match its inventory hash")
            continue
        digest, body = parse(entry.oid, path)
        if digest != item.get("sha256"):
            problems.append(f"{path} does not match its inventory hash")
            continue
        if not isinstance(body, dict) or object_id(body).name != item.get("name"):
            problems.append(f"{path} does not hold the object the inventory names")
            continue
        objects.append(DesiredObject(body=body, path=path, app=str(item.get("app", ""))))
    if problems:
        raise GitkubeError(
            f"{where}: files and inventory disagree, refusing the whole commit: "
            + "; ".join(problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        )
    parsed.save({e.oid for e in entries.values()})
    applyset = applyset_for(config)
    if inventory.get("applysetId") not in (None, applyset.id):
        raise GitkubeError(f"{where}: inventory applysetId does not match its cluster name")
    return DesiredState(
        commit=commit,
        source_commit=inventory.get("sourceCommit"),
        config=config,
        applyset=applyset,
        objects=objects,
    )


def _with_cluster_branches(store: GitStore, ref: str, error: GitkubeError) -> GitkubeError:
    """A missing ``rendered`` of a repo with ``clusters:`` names the per-cluster branches."""
    prefix = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
    proc = store.run("for-each-ref", "--format=%(refname)", f"{prefix}/", check=False)
    branches = proc.stdout.decode(errors="replace").split() if proc.returncode == 0 else []
    if not branches:
        return error
    return error.noting(
        "the repo renders one branch per cluster (docs/clusters.md): --ref " + " or ".join(branches)
    )
