"""``gitkube agent --shards N --shard I``: N agents, each owning the apps that hash to it.

Apps are spread by rendezvous (highest random weight) hashing of their path:
shard ``argmax_i sha256(i, app)``. It is stable across processes and
versions, and changing N moves only the apps that must move: going from N to
N+1 moves about 1/(N+1) of them (all to the new shard), going down moves only
the removed shards' apps.

Each shard has an ApplySet and a Lease of its own. Shard 0 keeps the names of
an unsharded agent (``gitkube-<cluster>``, the Lease given by ``--lease``), so
the rendered objects' ``part-of`` label is already right for it and an
unsharded agent is shard 0 of 1; shard I > 0 uses ``gitkube-<cluster>-shard-I``
and ``<lease>-shard-I`` and relabels its objects before applying them.

Resharding never deletes: an object whose app moves to another shard is
*released* by the shard that had it (kept, shown as released, never pruned)
and *adopted* in place by the shard it hashes to now (one server-side apply
that relabels it). The adopting shard waits while the old owner still claims
the app: it adopts only from a shard whose parent records the same shard count
(``gitkube.dev/shards``, written before a shard's first write), or whose
Lease nobody holds (a shard scaled away). So two shards never write the same
object: while the counts differ, the object stays with its old shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gitkube.domain.applyset_parent import ApplySetParent
from gitkube.domain.keys import APPLYSET_ID_LABEL, PART_OF_LABEL, SHARDS_ANNOTATION
from gitkube.domain.ownership import ApplySet
from gitkube.domain.resources import ObjectId
from gitkube.domain.scopes import GCE_GROUP
from gitkube.domain.targets import DesiredObject
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.sync.desired import DesiredState
from gitkube.sync.lease import Lease, _parse
from gitkube.sync.run import SyncOptions

# Sibling ApplySet ids are recognised for shards below this number.
MAX_SHARDS = 256
SHARD_MANAGER = "gitkube-shard"  # owns the parent's shard count, apart from sync's fields
_ORDINAL = re.compile(r"-(\d+)$")


def shard_of(app: str, shards: int) -> int:
    """The shard that owns ``app`` among ``shards`` (rendezvous hashing)."""
    if shards <= 1:
        return 0
    return max(
        range(shards),
        key=lambda i: hashlib.sha256(f"{i}\0{app}".encode()).digest(),
    )


def ordinal_from_hostname(hostname: str) -> int | None:
    """A StatefulSet pod's ordinal (``gitkube-agent-2`` -> 2)."""
    match = _ORDINAL.search(hostname)
    return int(match.group(1)) if match else None


def applyset_of(base: ApplySet, index: int) -> ApplySet:
    return (
        base
        if index == 0
        else ApplySet(name=f"{base.name}-shard-{index}", namespace=base.namespace)
    )


def lease_of(base: str, index: int) -> str:
    return base if index == 0 else f"{base}-shard-{index}"


@dataclass(frozen=True)
class Shard:
    """This agent's place among its siblings."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise GitkubeError(f"--shards {self.count}: between 1 and {MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise GitkubeError(
                f"--shard {self.index} is not one of the {self.count} shards (0 to {self.count - 1})"
            )

    def owns(self, app: str) -> bool:
        return shard_of(app, self.count) == self.index

    def select(self, desired: DesiredState) -> DesiredState:
        """This shard's part of the rendered commit, as its ApplySet's members."""
        applyset = applyset_of(desired.applyset, self.index)
        mine = []
        for obj in desired.objects:
            if obj.id.group == GCE_GROUP and self.count > 1:
                raise GitkubeError(
                    f"{obj.id}: a sharded agent syncs Kubernetes objects only; "
                    "run GCE resources through an unsharded agent",
                    file=obj.path,
                    app=obj.app,
                )
            if self.owns(obj.app):
                mine.append(_relabelled(obj, desired.applyset.id, applyset.id))
        return replace(desired, applyset=applyset, objects=mine)


def _relabelled(obj: DesiredObject, rendered_id: str, shard_id: str) -> DesiredObject:
    meta = dict(obj.body.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    if rendered_id == shard_id or labels.get(PART_OF_LABEL) != rendered_id:
        return obj
    labels[PART_OF_LABEL] = shard_id
    meta["labels"] = labels
    return DesiredObject(body={**obj.body, "metadata": meta}, path=obj.path, app=obj.app)


def record_count(api: KubeApi, shard: Shard, base: ApplySet) -> None:
    """Write this shard's count on its parent before its first write of a run (a
    manager of its own: sync's whole-parent applies leave it alone)."""
    applyset = applyset_of(base, shard.index)
    parent = ApplySetParent(applyset)
    api.ensure_namespace(applyset.namespace)
    api.apply(
        parent.path,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": applyset.name,
                "namespace": applyset.namespace,
                "labels": {APPLYSET_ID_LABEL: applyset.id},
                "annotations": {SHARDS_ANNOTATION: str(shard.count)},
            },
        },
        manager=SHARD_MANAGER,
        force=True,
    )


def sharded(
    options: SyncOptions, desired: DesiredState, api: KubeApi, shard: Shard, lease_base: str
) -> tuple[SyncOptions, DesiredState]:
    """What one shard's run syncs: its apps, under its ApplySet, with its handover."""
    handover = ShardHandover(api, shard, desired.applyset, lease_base, desired)
    return replace(options, handover=handover), shard.select(desired)


@dataclass
class ShardHandover:
    """The :class:`~gitkube.domain.targets.Handover` of one shard for one run: the
    siblings' parents and Leases are read when first needed, once per run."""

    api: KubeApi
    shard: Shard
    base: ApplySet
    lease_base: str
    desired: DesiredState  # the whole rendered commit, every shard's apps
    _ids: dict[str, int] = field(default_factory=dict)
    _claims: dict[int, str | None] = field(default_factory=dict)
    _owners: dict[ObjectId, int] | None = None

    def __post_init__(self) -> None:
        self._ids = {applyset_of(self.base, i).id: i for i in range(MAX_SHARDS)}

    def sibling(self, applyset_id: str) -> int | None:
        index = self._ids.get(applyset_id)
        return None if index == self.shard.index else index

    def waits_for(self, applyset_id: str) -> str | None:
        index = self._ids[applyset_id]
        if index not in self._claims:
            self._claims[index] = self._still_claims(index)
        return self._claims[index]

    def _still_claims(self, index: int) -> str | None:
        """Why shard ``index`` still owns its apps, or None once it let go."""
        try:
            body = self.api.request("GET", ApplySetParent(applyset_of(self.base, index)).path)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            body = {}
        counted = ((body.get("metadata") or {}).get("annotations") or {}).get(SHARDS_ANNOTATION)
        if counted == str(self.shard.count):
            return None  # it counts as we do: it wants none of our apps
        if not self._lease_held(index):
            return None  # scaled away: nobody writes for it any more
        return (
            f"it runs with {counted or 'an unknown number of'} shards, this one with "
            f"{self.shard.count}; adopted once it restarts with {self.shard.count} or stops"
        )

    def _lease_held(self, index: int) -> bool:
        path = Lease(self.api, lease_of(self.lease_base, index), "").path
        try:
            lease: dict[str, Any] = self.api.request("GET", path)
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        spec = lease.get("spec") or {}
        renewed = _parse(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return bool(spec.get("holderIdentity")) and (
            renewed is not None and datetime.now(UTC) <= renewed + timedelta(seconds=duration)
        )

    def moved_to(self, oid: ObjectId) -> int | None:
        if self._owners is None:
            self._owners = {o.id: shard_of(o.app, self.shard.count) for o in self.desired.objects}
        owner = self._owners.get(oid)
        return None if owner is None or owner == self.shard.index else owner
