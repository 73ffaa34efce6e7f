"""gce_target: sync rendered Config Connector objects into a Compute Engine project.

Handles group ``compute.cnrm.cloud.google.com`` (DESIGN §4, §6):

* **Observe**: one LIST per resource type (addresses, target pools and
  forwarding rules in ``cluster.region``, firewalls global, disks in
  ``cluster.zone``); the cluster's Nodes with one LIST when a target pool or a
  disk attachment needs them. A commit without GCE objects is observed only
  while the ApplySet parent says the last run owned something in GCE, so a
  Kubernetes-only repo never needs GCE credentials and removing the last GCE
  app still prunes it.
* **Own**: a resource is gitkube's when its ``description`` carries the
  ApplySet marker and, where the type has labels, its ``gitkube-applyset``
  label is this ApplySet's (or it was adopted: the label plus
  ``gitkube-adopted=true``). Anything else is never changed or deleted; a
  desired name held by a foreign resource is a blocked change unless
  ``--adopt``. An adopted address is never released: pruning it only removes
  gitkube's labels.
* **Plan**: each KCC spec is mapped to the API's own body (the discovery
  document's field names); only those fields are compared, after
  normalising links, so what GCE fills in is not drift. Fields GCE cannot
  change in place are a ``replace``, blocked unless the object is annotated
  ``gitkube.dev/replace: "true"`` or the run has ``--allow-replace``.
* **Apply**: address → disk → firewall → target pool → forwarding rule,
  deletes reversed; each call waits for its operation (see
  :mod:`.client` for retries). What differs between kinds (API mapping,
  immutable fields, update calls, prune) is in :mod:`.kinds`, one class per kind.
* **Late binding**: a target pool's instances are the cluster's Nodes now
  (``spec.providerID`` ``gce://PROJECT/ZONE/NAME``), re-bound every run with
  addInstance/removeInstance; each address's reserved IP goes into
  ``state.address_ips`` for the Kubernetes target's Services.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from gitkube.plugin_api import (
    GCE_ADOPTED_LABEL,
    GCE_GROUP,
    GCE_OWNER_LABEL,
    REPLACE_ANNOTATION,
    Action,
    Change,
    DesiredObject,
    GitkubeError,
    KubeApi,
    ObjectId,
    SyncResult,
    SyncSettings,
    SyncState,
    hookimpl,
)

from .client import GceApiError, GceClient, RetryPolicy, short_link
from .kinds import BY_KIND, KINDS, ORDER, ComputeKind, Desired, Update

# Seconds a call may keep being retried on 429/5xx (default 120).
RETRY_BUDGET_ENV = "GITKUBE_GCE_RETRY_SECONDS"


def _rank(change: Change) -> tuple[int, str]:
    return ORDER.get(change.id.kind, len(KINDS)), change.id.name


class GceTarget:
    """Plans and applies the rendered GCE objects of one ApplySet."""

    name = "gce"

    def __init__(
        self,
        settings: SyncSettings,
        client: GceClient | None = None,
        kube: KubeApi | None = None,
    ) -> None:
        self.settings = settings
        self.cluster = settings.config.cluster
        self.marker = settings.applyset.gce_description
        self.label = settings.applyset.gce_label_value
        self._client = client
        self._kube = kube
        self.desired: dict[tuple[str, str], Desired] = {}
        self.live: dict[str, dict[str, dict[str, Any]]] = {}
        self.owned: dict[tuple[str, str], dict[str, Any]] = {}
        self.nodes: list[str] | None = None  # instance paths: zones/Z/instances/N
        self.node_by_name: dict[str, str] = {}
        self.state = SyncState()  # the run's, from plan(): its Kubernetes client is shared

    # -- wiring --------------------------------------------------------------
    @property
    def client(self) -> GceClient:
        if self._client is None:
            policy = RetryPolicy()
            budget = os.environ.get(RETRY_BUDGET_ENV)
            if budget:
                policy.deadline = float(budget)
            self._client = GceClient(
                self.cluster.project, self.settings.gce_endpoint, policy=policy
            )
        return self._client

    @property
    def kube(self) -> KubeApi:
        if self._kube is None:
            # The run's one client (SyncState.kube_api), shared with the Kubernetes target.
            self._kube = self.state.kube_api(self.settings)
        return self._kube

    def handles(self, obj: DesiredObject) -> bool:
        return obj.id.group == GCE_GROUP

    def owned_count(self) -> int:
        return len(self.owned)

    def _scope_path(self, kind: ComputeKind) -> str | None:
        if kind.scope == "regions":
            return f"regions/{self.cluster.region}" if self.cluster.region else None
        if kind.scope == "zones":
            return f"zones/{self.cluster.zone}" if self.cluster.zone else None
        return "global"

    def _path(self, kind: ComputeKind, name: str | None = None) -> str:
        scope = self._scope_path(kind)
        if scope is None:
            raise GitkubeError(
                f"{kind.kind} needs cluster.{'zone' if kind.scope == 'zones' else 'region'} "
                "in gitkube.yaml"
            )
        return f"{scope}/{kind.collection}" + (f"/{name}" if name else "")

    # -- ownership -----------------------------------------------------------
    def is_owned(self, kind: ComputeKind, live: Mapping[str, Any]) -> bool:
        labels = live.get("labels") or {}
        labelled = labels.get(GCE_OWNER_LABEL) == self.label
        if kind.labels and labelled and labels.get(GCE_ADOPTED_LABEL) == "true":
            return True
        return self.marker in str(live.get("description", "")) and (not kind.labels or labelled)

    @staticmethod
    def adopted(live: Mapping[str, Any]) -> bool:
        return (live.get("labels") or {}).get(GCE_ADOPTED_LABEL) == "true"

    # -- mapping -------------------------------------------------------------
    def _to_api(self, obj: DesiredObject) -> Desired:
        kind = BY_KIND.get(obj.id.kind)
        if kind is None:
            raise GitkubeError(
                f"gitkube's GCE target does not handle {obj.id.kind} "
                f"(it handles {', '.join(BY_KIND)})",
                file=obj.path,
                obj=str(obj.id),
            )
        spec: Mapping[str, Any] = obj.body.get("spec") or {}
        unknown = sorted(set(spec) - kind.handled)
        if unknown:
            raise GitkubeError(
                f"spec.{unknown[0]} of {kind.kind} is not supported by gitkube's GCE target",
                file=obj.path,
                obj=str(obj.id),
            )
        meta = obj.body.get("metadata") or {}
        body: dict[str, Any] = {"name": obj.id.name}
        desired = Desired(obj, kind, body)
        location = spec.get(kind.location_key)
        expected = self.cluster.zone if kind.scope == "zones" else self.cluster.region
        if kind.scope != "global" and location != expected:
            where = "zone" if kind.scope == "zones" else "region"
            raise GitkubeError(
                f"{kind.kind} {obj.id.name} is in {location!r} but gitkube syncs GCE resources "
                f"in cluster.{where} {expected!r}",
                file=obj.path,
                obj=str(obj.id),
            )
        kind.to_api(desired, spec, self.cluster)
        if kind.labels and meta.get("labels"):
            body["labels"] = dict(meta["labels"])
        return desired

    # -- observe and plan ----------------------------------------------------
    def plan(self, desired: Sequence[DesiredObject], state: SyncState) -> list[Change]:
        self.state = state
        if not desired and not self._was_in_use(state):
            # Nothing GCE in the commit, and the last sync owned nothing there:
            # do not reach for credentials a Kubernetes-only repo never configured.
            return []
        if not self.cluster.project:
            raise GitkubeError("GCE objects need cluster.project in gitkube.yaml")
        self.desired = {}
        for obj in desired:
            d = self._to_api(obj)
            self.desired[(d.kind.kind, d.name)] = d
        self.live = {}
        for kind in KINDS:
            if self._scope_path(kind) is None:
                continue
            self.live[kind.kind] = {
                str(item["name"]): item for item in self.client.list(self._path(kind))
            }
        self.owned = {
            (kind.kind, name): item
            for kind in KINDS
            for name, item in self.live.get(kind.kind, {}).items()
            if self.is_owned(kind, item)
        }
        if self.desired or self.owned:
            # Recorded on the ApplySet parent: forgotten only after a run that
            # observed nothing left to own.
            state.targets_in_use.add(self.name)
        if any(d.kind.needs_nodes or d.attach_to for d in self.desired.values()):
            self._observe_nodes(state)
        for name, live in self.live.get("ComputeAddress", {}).items():
            key = ("ComputeAddress", name)
            usable = key in self.owned or (self.settings.adopt and key in self.desired)
            if usable and live.get("address"):
                state.address_ips[name] = str(live["address"])
        changes = [
            self._plan_one(d, state)
            for d in sorted(self.desired.values(), key=lambda d: (ORDER[d.kind.kind], d.name))
        ]
        self._cascade_address_replacements(changes)
        for (kind_name, name), live in sorted(
            self.owned.items(), key=lambda kv: (ORDER[kv[0][0]], kv[0][1])
        ):
            if (kind_name, name) in self.desired:
                continue
            change = Change(
                self.name,
                Action.DELETE,
                ObjectId(GCE_GROUP, kind_name, None, name),
                app=(live.get("labels") or {}).get("app"),
                live=live,
            )
            change.note = BY_KIND[kind_name].prune_note(live)
            changes.append(change)
        return changes

    def _cascade_address_replacements(self, changes: list[Change]) -> None:
        """A re-created address gets a new IP, and GCE refuses to delete one in use:
        the forwarding rules on it are re-created with it (deleted first, created after)."""
        replaced = {
            c.id.name
            for c in changes
            if c.id.kind == "ComputeAddress" and c.action is Action.REPLACE and not c.blocked
        }
        for change in changes:
            d = self.desired.get((change.id.kind, change.id.name))
            if (
                d is None
                or d.address not in replaced
                or change.action not in (Action.UNCHANGED, Action.UPDATE)
                or change.blocked
            ):
                continue
            change.action = Action.REPLACE
            if "IPAddress" not in change.fields:
                change.fields.append("IPAddress")
            change.note = f"re-created with address {d.address}"

    def _was_in_use(self, state: SyncState) -> bool:
        """Whether the ApplySet parent says the last sync left GCE objects behind."""
        return (
            self.name in state.applyset_parent(self.kube, self.settings.applyset).targets_in_use()
        )

    def _observe_nodes(self, state: SyncState) -> None:
        """The cluster's Nodes as instance paths (one LIST), for pools and attachments.

        Nodes without a ``gce://`` provider ID, or in another project (a target
        pool holds instances of its own project only), are left out.
        """
        nodes = self.kube.request("GET", "/api/v1/nodes").get("items") or ()
        instances: list[str] = []
        for node in nodes:
            provider = str((node.get("spec") or {}).get("providerID") or "")
            parts = provider.removeprefix("gce://").split("/")
            if not provider.startswith("gce://") or len(parts) != 3:
                continue
            project, zone, instance = parts
            if project != self.cluster.project:
                continue
            path = f"zones/{zone}/instances/{instance}"
            instances.append(path)
            self.node_by_name[str(node.get("metadata", {}).get("name", ""))] = path
        self.nodes = sorted(instances)

    def _differences(self, d: Desired, live: Mapping[str, Any], state: SyncState) -> list[str]:
        fields = []
        for key, want in d.body.items():
            if key == "name":
                continue
            have = live.get(key)
            if key == "labels":
                have_labels = have or {}
                if any(have_labels.get(k) != v for k, v in want.items()):
                    fields.append("labels")
                continue
            if key == "IPAddress" and d.address is not None:
                # Reading the IP of an address gitkube does not own touches nothing.
                named = self.live.get("ComputeAddress", {}).get(d.address) or {}
                ip = state.address_ips.get(d.address) or named.get("address")
                if ip != have:
                    fields.append(key)
                continue
            if _norm(key, want) != _norm(key, have):
                fields.append(key)
        return fields

    def _plan_one(self, d: Desired, state: SyncState) -> Change:
        oid = d.obj.id
        live = self.live.get(d.kind.kind, {}).get(d.name)
        change = Change(self.name, Action.UNCHANGED, oid, app=d.obj.app, desired=d.body, live=live)
        self._late_bind(change, d, state)
        if live is None:
            change.action = Action.CREATE
            if d.kind.kind == "ComputeForwardingRule" and d.pool:
                pool_key = ("ComputeTargetPool", d.pool)
                if pool_key not in self.desired and pool_key not in self.owned:
                    change.note = f"target pool {d.pool} is not in this commit"
            return change
        owned = (d.kind.kind, d.name) in self.owned
        adopting = not owned
        if adopting:
            change.action = Action.UPDATE
            change.adopt = True
            change.note = "adopt: take over a resource gitkube did not create"
            if not self.settings.adopt:
                change.blocked = (
                    f"{d.kind.kind} {d.name} exists and is not gitkube's (its description lacks "
                    f'"{self.marker}"); delete or rename it, or take it over with --adopt'
                )
                return change
            if not d.kind.labels and d.kind.kind != "ComputeFirewall":
                change.blocked = (
                    f"{d.kind.kind} {d.name} exists and is not gitkube's, and it has no labels "
                    "and an immutable description, so it cannot be marked as gitkube's in "
                    "place; delete it and sync again"
                )
                return change
        fields = self._differences(d, live, state)
        # An adopted resource keeps the description it was created with.
        if (
            (adopting or self.adopted(live))
            and d.kind.kind != "ComputeFirewall"
            and "description" in fields
        ):
            fields.remove("description")
        immutable = [f for f in fields if f in d.kind.immutable]
        if (
            d.kind.kind == "ComputeDisk"
            and "sizeGb" in fields
            and int(d.body["sizeGb"]) < int(live.get("sizeGb") or 0)
        ):
            immutable.append("sizeGb")
        pool_fields = self._pool_difference(d, live)
        attach = self._attach_difference(d, live, change)
        fields = fields + pool_fields + attach
        change.fields = fields
        if immutable:
            change.action = Action.REPLACE
            allowed = self.settings.allow_replace or d.annotations.get(REPLACE_ANNOTATION) == "true"
            if adopting or (d.kind.kind == "ComputeAddress" and self.adopted(live)):
                change.blocked = (
                    f"{', '.join(immutable)} of {d.kind.kind} {d.name} cannot change in place, and "
                    "gitkube does not re-create a resource it did not create (it would release "
                    "what is not its own); change the rendered value to match, or change it in GCE"
                )
            elif not allowed:
                how = {
                    "sizeGb": "a disk can only grow",
                }
                detail = "; ".join(how[f] for f in immutable if f in how)
                change.blocked = (
                    f"{', '.join(immutable)} of {d.kind.kind} {d.name} cannot change in place"
                    + (f" ({detail})" if detail else "")
                    + f'; annotate it {REPLACE_ANNOTATION}: "true" or rerun with --allow-replace '
                    "to delete and re-create it"
                    + (
                        " (a re-created address gets a new IP)"
                        if d.kind.kind == "ComputeAddress"
                        else " (its data is lost)"
                        if d.kind.kind == "ComputeDisk"
                        else ""
                    )
                )
        elif fields or adopting:
            change.action = Action.UPDATE
        return change

    def _late_bind(self, change: Change, d: Desired, state: SyncState) -> None:
        if d.kind.kind == "ComputeTargetPool":
            nodes = self.nodes or []
            change.late_bound["instances"] = ", ".join(nodes) if nodes else "(no GCE nodes)"
        elif d.kind.kind == "ComputeForwardingRule" and d.address:
            ip = state.address_ips.get(d.address)
            change.late_bound["IPAddress"] = ip or f"(IP of address {d.address}, known after apply)"

    def _pool_difference(self, d: Desired, live: Mapping[str, Any]) -> list[str]:
        if d.kind.kind != "ComputeTargetPool":
            return []
        have = sorted(short_link(str(i)) for i in live.get("instances") or ())
        return [] if have == (self.nodes or []) else ["instances"]

    def _instance_for(self, node: str) -> str:
        return self.node_by_name.get(node) or f"zones/{self.cluster.zone}/instances/{node}"

    def _attach_difference(self, d: Desired, live: Mapping[str, Any], change: Change) -> list[str]:
        if not d.attach_to:
            return []
        instance = self._instance_for(d.attach_to)
        users = [short_link(str(u)) for u in live.get("users") or ()]
        if instance in users:
            return []
        if users:
            change.blocked = (
                f"disk {d.name} is in use by {', '.join(users)}, not attached to {d.attach_to}; "
                f"detach it there first (gcloud compute instances detach-disk), then sync again"
            )
            return ["users"]
        return ["users"]

    # -- apply ---------------------------------------------------------------
    def apply(self, changes: Sequence[Change], state: SyncState) -> None:
        writes = [c for c in changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
        # What is re-created goes first, users before what they use (a rule before
        # its address), then everything is created or updated in dependency order.
        for change in sorted(writes, key=_rank, reverse=True):
            if change.action is Action.REPLACE:
                kind = BY_KIND[change.id.kind]
                what = f"{kind.kind} {change.id.name}"
                self.client.mutate("DELETE", self._path(kind, change.id.name), what=what)
        for change in sorted(writes, key=_rank):
            d = self.desired[(change.id.kind, change.id.name)]
            what = f"{d.kind.kind} {d.name}"
            if change.action in (Action.CREATE, Action.REPLACE):
                self._create(d, state, what)
            else:
                self._update(d, change, state, what)
            self._late_bind(change, d, state)

    def _send_body(self, d: Desired, state: SyncState) -> dict[str, Any]:
        return d.kind.send_body(d, self.nodes)

    def _create(self, d: Desired, state: SyncState, what: str) -> None:
        self.client.mutate("POST", self._path(d.kind), body=self._send_body(d, state), what=what)
        if d.kind.kind == "ComputeAddress":
            created = self.client.call("GET", self._path(d.kind, d.name), what=what)
            if created.get("address"):
                state.address_ips[d.name] = str(created["address"])
        if d.attach_to:
            self._attach(d, what)

    def _attach(self, d: Desired, what: str) -> None:
        instance = self._instance_for(d.attach_to or "")
        self.client.mutate(
            "POST",
            f"{instance}/attachDisk",
            body={"source": self._path(d.kind, d.name), "deviceName": d.name},
            what=what,
        )

    def _update(self, d: Desired, change: Change, state: SyncState, what: str) -> None:
        live = change.live or {}
        path = self._path(d.kind, d.name)
        fields = set(change.fields)
        adopting = change.adopt
        if d.kind.labels and ("labels" in fields or adopting):
            labels = {**(live.get("labels") or {}), **(d.body.get("labels") or {})}
            if adopting:
                labels[GCE_ADOPTED_LABEL] = "true"
            self.client.mutate(
                "POST",
                f"{path}/setLabels",
                body={"labels": labels, "labelFingerprint": live.get("labelFingerprint")},
                what=what,
            )
        d.kind.update(
            d,
            Update(
                client=self.client,
                path=path,
                fields=fields,
                live=live,
                adopting=adopting,
                marker=self.marker,
                nodes=self.nodes,
                what=what,
            ),
        )
        if d.attach_to and "users" in fields:
            self._attach(d, what)
        if d.kind.kind == "ComputeAddress" and live.get("address"):
            state.address_ips[d.name] = str(live["address"])

    def delete(self, changes: Sequence[Change], state: SyncState) -> None:
        deletes = [c for c in changes if c.action is Action.DELETE]
        for change in sorted(deletes, key=_rank, reverse=True):
            kind = BY_KIND[change.id.kind]
            live = change.live or {}
            path = self._path(kind, change.id.name)
            what = f"{kind.kind} {change.id.name}"
            # Let go without deleting: an IP gitkube did not reserve, or a disk's data.
            if kind.kept_when_pruned(live):
                labels = {
                    k: v
                    for k, v in (live.get("labels") or {}).items()
                    if k not in (GCE_OWNER_LABEL, GCE_ADOPTED_LABEL)
                }
                self.client.mutate(
                    "POST",
                    f"{path}/setLabels",
                    body={"labels": labels, "labelFingerprint": live.get("labelFingerprint")},
                    what=what,
                )
                continue
            try:
                self.client.mutate("DELETE", path, what=what)
            except GceApiError as exc:
                if exc.status != 404:
                    raise

    def finish(self, result: SyncResult) -> None:
        return None

    def observe(self, objects: Sequence[DesiredObject]) -> dict[ObjectId, Mapping[str, Any] | None]:
        """One GET per resource, in the Compute API's JSON (``sync --wait`` judges it)."""
        live: dict[ObjectId, Mapping[str, Any] | None] = {}
        for obj in objects:
            kind = BY_KIND[obj.id.kind]
            try:
                live[obj.id] = self.client.call("GET", self._path(kind, obj.id.name))
            except GceApiError as exc:
                if exc.status != 404:
                    raise
                live[obj.id] = None
        return live


def _norm(key: str, value: Any) -> Any:
    """A value as compared: links without base URL and project, numbers as text."""
    if isinstance(value, str) and (
        "/compute/v1/" in value or value.startswith(("projects/", "global/", "regions/", "zones/"))
    ):
        return short_link(value)
    if key == "portRange" and value is not None and "-" not in str(value):
        return f"{value}-{value}"
    if isinstance(value, list):
        return [_norm(key, v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(k, v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


@hookimpl
def gitkube_sync_targets(settings: SyncSettings) -> list[GceTarget]:
    return [GceTarget(settings)]
