"""Sync targets: something that can observe, plan and apply a family of resources.

Kubernetes and GCE are both targets offered by built-in plugins through
``gitkube_sync_targets``; a package can add another the same way. A sync run
(:mod:`gitkube.sync.run`) gives each rendered object to the first target
that handles it, asks every target for a plan, checks the safety rules on the
whole plan, then applies creates and updates target by target and deletes in
reverse, after every apply of the run succeeded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from gitkube.domain.applyset_parent import ApplySetParent
from gitkube.domain.config import RepoConfig
from gitkube.domain.ownership import ApplySet
from gitkube.domain.resources import ObjectId
from gitkube.primitives.kubeapi import KubeApi


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # delete and create: a field the API cannot change in place
    DELETE = "delete"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DesiredObject:
    """One object of the rendered commit, as sync will send it."""

    body: Mapping[str, Any]
    path: str
    app: str

    @property
    def id(self) -> ObjectId:
        return object_id(self.body)

    @property
    def content_hash(self) -> str:
        return content_hash(self.body)


def object_id(body: Mapping[str, Any]) -> ObjectId:
    api_version = str(body.get("apiVersion", ""))
    meta = body.get("metadata") or {}
    return ObjectId(
        api_version.split("/", 1)[0] if "/" in api_version else "",
        str(body.get("kind", "")),
        meta.get("namespace") or None,
        str(meta.get("name", "")),
    )


def content_hash(body: Mapping[str, Any]) -> str:
    """A stable hash of an object's content, independent of key order."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Change:
    """One planned step for one object.

    ``fields`` lists the differing field paths of an update; ``blocked`` says
    why the step must not run (an unowned object in the way, an immutable
    field without permission to replace), and how to get past it.
    """

    target: str
    action: Action
    id: ObjectId
    app: str | None = None
    fields: list[str] = field(default_factory=list)
    desired: Mapping[str, Any] | None = None
    live: Mapping[str, Any] | None = None
    note: str = ""
    blocked: str | None = None
    late_bound: dict[str, str] = field(default_factory=dict)
    adopt: bool = False  # taking over an object gitkube did not create
    source: str | None = None  # the object's file on the rendered branch

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "action": self.action.value,
            "app": self.app,
            "file": self.source,
            "group": self.id.group,
            "kind": self.id.kind,
            "namespace": self.id.namespace,
            "name": self.id.name,
            "fields": self.fields,
            "note": self.note,
            "blocked": self.blocked,
            "lateBound": self.late_bound,
        }


class Handover(Protocol):
    """Between the shards of a sharded agent (:mod:`gitkube.sync.shard`): which
    live objects this run may adopt from a sibling shard, and which of its own
    members it releases to one (kept, never pruned: the sibling adopts them)."""

    def sibling(self, applyset_id: str) -> int | None:
        """The shard whose ApplySet id this is, ``None`` when it is no sibling's."""
        ...

    def waits_for(self, applyset_id: str) -> str | None:
        """Why an object of that sibling cannot be adopted yet (it still claims
        the app); ``None`` when it may be adopted now."""
        ...

    def moved_to(self, oid: ObjectId) -> int | None:
        """The shard that now owns the app of a member this run no longer wants,
        ``None`` when the object left the repo (prune it)."""
        ...


@dataclass(frozen=True)
class SyncSettings:
    """What a target needs to know about the run: config, credentials, permissions."""

    config: RepoConfig
    applyset: ApplySet
    kubeconfig: str | None = None
    context: str | None = None
    gce_endpoint: str | None = None
    adopt: bool = False
    force_conflicts: bool = False
    allow_replace: bool = False
    rendered_commit: str | None = None
    source_commit: str | None = None
    handover: Handover | None = None  # a sharded agent's shard (gitkube.sync.shard)


@dataclass
class SyncState:
    """Facts targets share during one run: the values bound late (DESIGN §4).

    ``address_ips``: reserved IP by GCE address name (the GCE target fills it,
    the Kubernetes target sets Services' ``externalIPs`` from it).
    ``targets_in_use``: targets other than Kubernetes that want or own
    something this run; the Kubernetes target records them on the ApplySet
    parent, so a target whose last object left the repo still observes (and
    prunes) on the next run instead of forgetting what it created.
    """

    address_ips: dict[str, str] = field(default_factory=dict)
    targets_in_use: set[str] = field(default_factory=set)
    kube: KubeApi | None = None  # the run's one Kubernetes API client (see kube_api)
    _parent: ApplySetParent | None = None

    def kube_api(self, settings: SyncSettings) -> KubeApi:
        """The run's Kubernetes API client, shared by every target: connected on
        first use (a GCE-only ``--only gce`` run may never need it), once."""
        return self.connect(settings.kubeconfig, settings.context)

    def connect(self, kubeconfig: str | None, context: str | None) -> KubeApi:
        """:meth:`kube_api` for callers that hold the kubeconfig and context only."""
        if self.kube is None:
            self.kube = KubeApi.connect(kubeconfig, context)
        return self.kube

    def applyset_parent(self, api: KubeApi, applyset: ApplySet) -> ApplySetParent:
        """The ApplySet parent as the run began, read and checked once
        (see :meth:`ApplySetParent.fetch`)."""
        if self._parent is None:
            self._parent = ApplySetParent.fetch(api, applyset)
        return self._parent


class Target(Protocol):
    """The sync side's view of one API (a cluster, a cloud project)."""

    name: str

    def handles(self, obj: DesiredObject) -> bool:
        """Whether this target applies the rendered object ``obj``."""
        ...

    def plan(self, desired: Sequence[DesiredObject], state: SyncState) -> list[Change]:
        """Observe what this target owns (cheaply: one LIST per kind) and plan.

        Returns one change per desired object (``unchanged`` included) and a
        ``delete`` for every owned object that is no longer desired. Never writes.
        """
        ...

    def owned_count(self) -> int:
        """How many live objects this target found it owns (after :meth:`plan`)."""
        ...

    def apply(self, changes: Sequence[Change], state: SyncState) -> None:
        """Carry out creates, updates and replaces, in dependency order."""
        ...

    def delete(self, changes: Sequence[Change], state: SyncState) -> None:
        """Carry out deletes, in reverse dependency order."""
        ...

    def finish(self, result: SyncResult) -> None:
        """Record the run's outcome (the Kubernetes target writes the ApplySet status)."""
        ...

    def observe(self, objects: Sequence[DesiredObject]) -> dict[ObjectId, Mapping[str, Any] | None]:
        """The live state of ``objects`` now (``None``: it does not exist), status included.

        Called by ``sync --wait`` after the apply, on every poll, for the objects
        the run changed only; the form is the API's own (Compute JSON for GCE).
        """
        ...


@dataclass
class SyncResult:
    """The outcome of a sync (or of a plan: ``applied`` false)."""

    commit: str | None
    source_commit: str | None
    changes: list[Change]
    applied: bool
    error: str | None = None
    refused: str | None = None  # a safety rule that would stop this plan from being applied
    health: dict[str, Any] | None = None  # what `sync --wait` found (see gitkube.sync.wait)
    app_health: dict[str, Any] | None = None  # every app judged after the run (recorded)
    phases: list[dict[str, Any]] | None = None  # the apply order, when there is one (order.py)
    hooks: list[dict[str, Any]] | None = None  # the hooks this run runs (gitkube.sync.hooks)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def in_sync(self) -> bool:
        return all(c.action is Action.UNCHANGED for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "sourceCommit": self.source_commit,
            "applied": self.applied,
            "created": self.count(Action.CREATE),
            "updated": self.count(Action.UPDATE) + self.count(Action.REPLACE),
            "deleted": self.count(Action.DELETE),
            "unchanged": self.count(Action.UNCHANGED),
            "error": self.error,
            "refused": self.refused,
            **({"health": self.health} if self.health is not None else {}),
            **({"phases": self.phases} if self.phases else {}),
            **({"hooks": self.hooks} if self.hooks else {}),
            # Unchanged objects are left out, but not one kept with a reason (a prune refused).
            "changes": [
                c.as_dict() for c in self.changes if c.action is not Action.UNCHANGED or c.note
            ],
        }
