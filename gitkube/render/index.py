"""The tree index: a rendered source tree in columns, patched app by app.

An incremental render (:mod:`gitkube.render.incremental`) must know, for
every app it does not render, what the repo-wide checks and the output need:
each rendered path with its blob id, inventory item and object identity, and
each app's ``dependsOn`` and CRDs. Parsing a summary per app for that costs
as much as the rest of the render at 10,000 apps, so a rendered tree is kept
as one *snapshot* of columns (paths, blob ids, items, identities: a handful
of JSON arrays, decoded in C) and every tree rendered after it from a nearby
one as a *delta*: the snapshot's key plus the apps changed since, with their
rendered contents. Loading an index is one snapshot and at most one delta;
writing one is the changed apps alone. Past :data:`MAX_PENDING_APPS` changed
apps the incremental render steps aside and the full one writes a new
snapshot.

Only trees whose render is certain to stay reproducible app by app get a
snapshot (:meth:`TreeIndex.snapshot`'s caller decides): every app clean (no
warning), every app rendered with the same CRD scopes, a plain layout (no
kustomize, helm or other source builds) and no symbolic links.

The cross-app checks here answer only "certainly clean" or "not sure"
(then the caller renders the full way), as :mod:`gitkube.render.summary` does.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.render.ordering import find_cycle
from gitkube.render.summary import AppSummary

INDEX_KIND = "index"  # the render cache's directory of snapshots and deltas
# Apps changed since the snapshot that a delta may carry before a full render
# (which writes a new snapshot) is the quicker way.
MAX_PENDING_APPS = 256


def identity_key(identity: Sequence[str | None]) -> str:
    """An object identity as one string (repr keeps None apart from "")."""
    return repr(tuple(identity))


@dataclass
class AppPart:
    """One app's rows of the index (and, in a delta, its rendered contents)."""

    paths: list[str]
    oids: list[str]
    entries: list[str]  # inventory items, as emitted
    ids: list[str]  # identity_key of each object
    gce: int  # how many of them are GCE resources
    depends_on: list[str]
    crds: list[list[Any]]  # [group, kind, namespaced] of the CRDs it defines
    data: list[str] | None = None  # rendered contents (deltas only)

    @classmethod
    def of_summary(cls, summary: AppSummary, data: list[str] | None = None) -> AppPart:
        return cls(
            paths=list(summary.paths),
            oids=list(summary.oids),
            entries=[e.decode() for e in summary.entries],
            ids=[identity_key(i) for i in summary.ids],
            gce=summary.gce,
            depends_on=list(summary.depends_on),
            crds=[[g, k, n] for (g, k), n in summary.crds.items()],
            data=data,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "oids": self.oids,
            "entries": self.entries,
            "ids": self.ids,
            "gce": self.gce,
            "dependsOn": self.depends_on,
            "crds": self.crds,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AppPart:
        part = cls(
            paths=list(raw["paths"]),
            oids=list(raw["oids"]),
            entries=list(raw["entries"]),
            ids=list(raw["ids"]),
            gce=int(raw["gce"]),
            depends_on=list(raw["dependsOn"]),
            crds=[list(c) for c in raw["crds"]],
            data=None if raw["data"] is None else list(raw["data"]),
        )
        lengths = {len(part.paths), len(part.oids), len(part.entries), len(part.ids)}
        if len(lengths) != 1 or (part.data is not None and len(part.data) != len(part.paths)):
            raise ValueError("an app's columns differ in length")
        return part


@dataclass
class TreeIndex:
    """Every rendered object of a source tree, with what the cross-app checks need."""

    tree: str  # the source tree id
    snapshot: str  # the key of the snapshot this index is (or is patched from)
    scopes: str  # the CRD scopes digest every app was rendered with
    paths: list[str]  # every rendered path, sorted
    oids: dict[str, str]  # path -> blob id
    entries: dict[str, str]  # path -> inventory item
    ids: dict[str, str]  # path -> identity_key
    gce: dict[str, int]  # app directory -> its GCE objects (apps with some)
    app_keys: dict[str, str | None]  # app directory -> its render cache key (None: see pending)
    depends_on: dict[str, list[str]]  # only apps with dependencies
    crds: dict[str, list[list[Any]]]  # only apps defining CRDs
    pending: dict[str, AppPart | None] = field(default_factory=dict)  # changed since the snapshot
    snapshot_tree: str = ""  # the source tree the snapshot is of
    # Every gitkube.yaml and app.yaml in it passed its schema under the fingerprint
    # its key is made with: true of a snapshot (a full render); a delta says.
    checked: bool = True

    # -- building and storing --------------------------------------------------

    @classmethod
    def snapshot_of(
        cls, tree: str, key: str, scopes: str, apps: Mapping[str, tuple[str, AppPart]]
    ) -> TreeIndex:
        """The snapshot of a tree rendered whole: ``apps`` is dir -> (app key, its part)."""
        index = cls(tree, key, scopes, [], {}, {}, {}, {}, {}, {}, {}, snapshot_tree=tree)
        for directory in sorted(apps):
            app_key, part = apps[directory]
            index.app_keys[directory] = app_key
            index._add(directory, part)
        index.paths.sort()
        return index

    def snapshot_json(self) -> dict[str, Any]:
        assert not self.pending, "only an unpatched index is a snapshot"
        return {
            "tree": self.tree,
            "scopes": self.scopes,
            "paths": self.paths,
            "oids": [self.oids[p] for p in self.paths],
            "entries": [self.entries[p] for p in self.paths],
            "ids": [self.ids[p] for p in self.paths],
            "gce": self.gce,
            "apps": list(self.app_keys),
            "keys": list(self.app_keys.values()),
            "dependsOn": self.depends_on,
            "crds": self.crds,
        }

    def delta_json(self) -> dict[str, Any]:
        return {
            "tree": self.tree,
            "snapshot": self.snapshot,
            "apps": {d: None if p is None else p.as_json() for d, p in self.pending.items()},
            "checked": self.checked,
        }

    @classmethod
    def from_json(
        cls, key: str, raw: Mapping[str, Any], loader: Callable[[str], Mapping[str, Any] | None]
    ) -> TreeIndex | None:
        """An index from its cache entry; ``loader(key)`` gives a delta's snapshot entry."""
        try:
            if "snapshot" in raw:
                base_raw = loader(raw["snapshot"])
                if base_raw is None or "snapshot" in base_raw:
                    return None
                index = cls._from_snapshot(raw["snapshot"], base_raw)
                index.tree = str(raw["tree"])
                index.checked = raw.get("checked") is True  # a delta that does not say: not
                for directory, part in raw["apps"].items():
                    index.patch(directory, None if part is None else AppPart.from_json(part))
                return index
            return cls._from_snapshot(key, raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    @classmethod
    def _from_snapshot(cls, key: str, raw: Mapping[str, Any]) -> TreeIndex:
        paths = raw["paths"]
        columns = (raw["oids"], raw["entries"], raw["ids"])
        if any(len(column) != len(paths) for column in columns) or len(raw["apps"]) != len(
            raw["keys"]
        ):
            raise ValueError("the snapshot's columns differ in length")
        return cls(
            tree=str(raw["tree"]),
            snapshot=key,
            scopes=str(raw["scopes"]),
            paths=list(paths),
            oids=dict(zip(paths, raw["oids"], strict=True)),
            entries=dict(zip(paths, raw["entries"], strict=True)),
            ids=dict(zip(paths, raw["ids"], strict=True)),
            gce={d: int(n) for d, n in raw["gce"].items()},
            app_keys=dict(zip(raw["apps"], raw["keys"], strict=True)),
            depends_on={d: list(deps) for d, deps in raw["dependsOn"].items()},
            crds={d: [list(c) for c in crds] for d, crds in raw["crds"].items()},
            snapshot_tree=str(raw["tree"]),
        )

    # -- patching ---------------------------------------------------------------

    def app_paths(self, directory: str) -> list[str]:
        """The rendered paths of one app: the files right under its directory."""
        prefix = directory + "/"
        # '0' follows '/': every path under the directory sorts between the two.
        start = bisect.bisect_left(self.paths, prefix)
        end = bisect.bisect_left(self.paths, directory + "0", start)
        return [p for p in self.paths[start:end] if "/" not in p[len(prefix) :]]

    def patch(self, directory: str, part: AppPart | None) -> None:
        """Replace one app's rows (None: the app is gone)."""
        for path in self.app_paths(directory):
            del self.paths[bisect.bisect_left(self.paths, path)]
            del self.oids[path], self.entries[path], self.ids[path]
        self.gce.pop(directory, None)
        self.depends_on.pop(directory, None)
        self.crds.pop(directory, None)
        self.app_keys.pop(directory, None)
        self.pending[directory] = part
        if part is not None:
            self.app_keys[directory] = None
            self._add(directory, part, keep_sorted=True)

    def _add(self, directory: str, part: AppPart, *, keep_sorted: bool = False) -> None:
        for path, oid, entry, ident in zip(
            part.paths, part.oids, part.entries, part.ids, strict=True
        ):
            if keep_sorted:
                bisect.insort(self.paths, path)
            else:
                self.paths.append(path)
            self.oids[path], self.entries[path], self.ids[path] = oid, entry, ident
        if part.gce:
            self.gce[directory] = part.gce
        if part.depends_on:
            self.depends_on[directory] = list(part.depends_on)
        if part.crds:
            self.crds[directory] = [list(c) for c in part.crds]

    # -- what the render needs of it --------------------------------------------

    def known_crds(self, leaving_out: Iterable[str]) -> dict[tuple[str, str], bool]:
        """The CRD scopes the apps other than ``leaving_out`` define."""
        skip = set(leaving_out)
        return {
            (str(g), str(k)): bool(n)
            for directory, crds in self.crds.items()
            if directory not in skip
            for g, k, n in crds
        }

    def pending_contents(self) -> dict[str, bytes]:
        """The rendered files of the apps changed since the snapshot."""
        found: dict[str, bytes] = {}
        for part in self.pending.values():
            if part is not None and part.data is not None:
                found.update((p, t.encode()) for p, t in zip(part.paths, part.data, strict=True))
        return found

    def cross_app_clean(self, changed: Mapping[str, AppPart | None]) -> bool:
        """After :meth:`patch` with ``changed``: True when no check across apps can fail.

        Identities are unique, no rendered file is also a directory, and the
        ``dependsOn`` graph holds (every dependency renders objects, no cycle),
        looked at from the changed apps only: the rest was clean before.
        """
        if len(set(self.ids.values())) != len(self.ids):
            return False  # two objects of one identity (the rest had none before)
        new_paths = [p for part in changed.values() if part is not None for p in part.paths]
        if not self._paths_apart(new_paths):
            return False
        return self._graph_holds(changed)

    def _paths_apart(self, new_paths: list[str]) -> bool:
        """No new path is a directory of another path, nor under a path that is a file."""
        for path in new_paths:
            at = bisect.bisect_left(self.paths, path + "/")
            if at < len(self.paths) and self.paths[at].startswith(path + "/"):
                return False
            if path.startswith(INVENTORY_FILE + "/") or path == INVENTORY_FILE:
                return False
            parent = path.rpartition("/")[0]
            while parent:
                if parent in self.oids:
                    return False
                parent = parent.rpartition("/")[0]
        return True

    def _graph_holds(self, changed: Mapping[str, AppPart | None]) -> bool:
        with_objects = {d for d, part in changed.items() if part is not None and part.paths}

        def renders_objects(directory: str) -> bool:
            if directory in changed:
                return directory in with_objects
            return bool(self.app_paths(directory)) if directory in self.app_keys else False

        for directory, deps in self.depends_on.items():
            if directory in changed or any(dep in changed for dep in deps):
                if not renders_objects(directory):
                    continue  # an app without objects is not in the graph
                if any(dep == directory or not renders_objects(dep) for dep in deps):
                    return False
        graph = {d: deps for d, deps in self.depends_on.items() if renders_objects(d)}
        return not find_cycle(graph)
