"""kubernetes_target: sync rendered Kubernetes objects into a cluster.

Ownership follows ApplySet (KEP-3659), as kubectl's ``applyset.go`` does: a
parent ConfigMap ``gitkube-<cluster>`` in ``gitkube-system`` lists the
group-kinds and namespaces of the members, and every member carries
``applyset.kubernetes.io/part-of``. Objects without that label are never
changed or deleted. The parent is extended *before* the first member of a new
group-kind or namespace is written, so whatever a run applies, even one that
dies halfway, is found (and pruned when it leaves the repo) by the next.

What gitkube applied is recorded on each member, in annotations sent in the
same server-side apply as the object (content hash, rendered path, app): no
record can name an object the API server refused, and none is missing for
an object it accepted. The parent stays the same size at any member count.

Observing is cheap: one aggregated-discovery request per API root, one GET
of the parent, and one LIST per group-kind. Whether an owned object changed
is decided without writes: the member's record says which rendered content
was last applied, live drift is found by comparing what gitkube sends with
what the server holds (server defaults and other managers' fields are
ignored), and a suspected difference is confirmed with a server-side-apply
dry-run before it is called drift.

Before anything is written, the whole plan is checked
(:mod:`gitkube_plugins.kubernetes.preflight`): every kind and apiVersion
served, scope as the cluster's discovery says, no object bound for a
Terminating namespace; every problem is listed at once. Creates are tried as
server-side dry-runs while planning, so an object the API server refuses
blocks the run before its first write. An object being deleted counts as
deleted. Values the server keeps in its own form are recognised once
(:mod:`gitkube_plugins.kubernetes.server_form`).

Before the first write, the namespaces the objects go in are checked: a
missing one is created (owned, labelled, in the plan) unless
``sync.createNamespaces`` is false, which refuses the sync instead.
Pruning passes the filters of :mod:`gitkube_plugins.kubernetes.filters`.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gitkube.plugin_api import (
    EXTERNAL_ADDRESS_ANNOTATION,
    GCE_GROUP,
    HEALTH_STATUS_ANNOTATION,
    HOOK_ANNOTATION,
    HOOKS_STATUS_ANNOTATION,
    LAST_SYNCED_COMMIT_ANNOTATION,
    MANAGED_BY_LABEL,
    MEMBER_KINDS_STATUS_ANNOTATION,
    OBJECTS_STATUS_ANNOTATION,
    PART_OF_LABEL,
    RECORD_APP_ANNOTATION,
    RECORD_HASH_ANNOTATION,
    RECORD_SOURCE_ANNOTATION,
    REPLACE_ANNOTATION,
    SERVER_FORM_ANNOTATION,
    STATUS_PREFIX,
    TARGETS_ANNOTATION,
    Action,
    ApplySetParent,
    Change,
    DesiredObject,
    GitkubeError,
    KubeApi,
    KubeApiError,
    ObjectId,
    SyncResult,
    SyncSettings,
    SyncState,
    collector_paused,
    health_summary,
    hookimpl,
    hooks_summary,
)

from .diff import differing_paths, is_subset, record_of, with_record, without_volatile_fields
from .discovery import ApiResource, Discovery
from .filters import (
    LocalNamespacesFilter,
    NamespaceInUseFilter,
    ParentNamespaceFilter,
    PruneFilter,
    first_refusal,
)
from .preflight import (
    PlanCheck,
    ScopeCheck,
    ServedKind,
    ServedKindCheck,
    ServedVersionCheck,
    TerminatingNamespaceCheck,
    crd_kinds,
    plan_problems,
    refuse_plan,
)
from .server_form import (
    remembered,
    remembered_form_matches,
    server_form_hash,
    with_server_form,
)
from .window import BatchFailed, Window, is_throttled

FIELD_MANAGER = "gitkube"
# Late-bound fields (DESIGN §4) are applied by a manager of their own, so a
# `kubectl diff --server-side --field-manager=gitkube` of the rendered files,
# which lack them, does not plan to remove them.
LATE_BINDING_MANAGER = "gitkube-late-binding"

# Apply order (DESIGN §6); unknown kinds go last, deletes run in reverse.
KIND_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
]


def kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def _legacy_key(oid: ObjectId) -> str:
    """The parent ConfigMap data key under which gitkube 0.x recorded an object's hash.

    Read only, to migrate: the record now lives on each member.
    """
    return f"{oid.kind}.{oid.group or 'core'}.{oid.namespace or '_'}.{oid.name}"


def _group_kind(group: str, kind: str) -> str:
    return f"{kind}.{group}" if group else kind


class KubernetesTarget:
    """Plans and applies the rendered Kubernetes objects of one ApplySet."""

    name = "kubernetes"

    def __init__(self, settings: SyncSettings, api: KubeApi | None = None) -> None:
        self.settings = settings
        self.applyset = settings.applyset
        self._api = api
        self._discovery: Discovery | None = None
        self.parent = ApplySetParent(settings.applyset)  # read in plan()
        # gitkube 0.x kept each member's content hash in the parent's data; read to migrate.
        self.legacy_record: dict[str, str] = {}
        self.owned: dict[ObjectId, dict[str, Any]] = {}
        self.desired: list[DesiredObject] = []
        self.desired_by_id: dict[ObjectId, DesiredObject] = {}
        # What this run wrote and deleted: the members are owned | applied - deleted.
        self.applied: set[ObjectId] = set()
        self.deleted: set[ObjectId] = set()
        self.live_namespaces: set[str] = set()
        # The server's form of each object's values, where it differs from what is sent.
        self.server_forms: dict[ObjectId, str | None] = {}
        self.state = SyncState()
        # Requests that need no answer of each other go out side by side (plugins/kubernetes/window.py).
        self.window = Window()
        # What this run did to each app, for its one summary Event.
        self.app_actions: dict[str, Counter[Action]] = {}

    # -- wiring --------------------------------------------------------------
    @property
    def api(self) -> KubeApi:
        if self._api is None:
            # The run's one client (SyncState.kube_api), shared with the GCE target.
            self._api = self.state.kube_api(self.settings)
        return self._api

    @property
    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = Discovery(self.api)
        return self._discovery

    def handles(self, obj: DesiredObject) -> bool:
        return obj.id.group != GCE_GROUP

    def owned_count(self) -> int:
        return len(self.owned)

    # -- the parent ----------------------------------------------------------
    def _write_parent(
        self,
        group_kinds: Iterable[str],
        namespaces: Iterable[str],
        status: Mapping[str, str],
        legacy_record: Mapping[str, str] | None = None,
    ) -> None:
        if self.settings.rendered_commit:
            # Written before the first write of a run too: no rewinds past it.
            status = {**status, LAST_SYNCED_COMMIT_ANNOTATION: self.settings.rendered_commit}
        self.parent = self.parent.write(self.api, group_kinds, namespaces, status, legacy_record)

    # -- observe and plan ----------------------------------------------------
    def _resource_for(self, oid: ObjectId) -> ApiResource:
        res = self.discovery.find(oid.group, oid.kind)
        if res is None:
            raise GitkubeError(
                f"the cluster does not serve {_group_kind(oid.group, oid.kind)} "
                "(is its CRD installed, or in this commit?)",
                obj=str(oid),
            )
        return res

    def _list(
        self, res: ApiResource, selector: str | None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        api_version = f"{res.group}/{res.version}" if res.group else res.version
        while True:
            page = self.api.request(
                "GET",
                res.collection_path(namespace),
                query={"labelSelector": selector, "continue": token},
            )
            # Items of a LIST carry no apiVersion/kind of their own.
            items.extend(
                {"apiVersion": api_version, "kind": res.kind, **item}
                for item in page.get("items", ())
            )
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items

    def _is_member(self, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return bool(labels.get(PART_OF_LABEL) == self.applyset.id)

    def plan(self, desired: Sequence[DesiredObject], state: SyncState) -> list[Change]:
        # Tens of thousands of live and planned objects at once (gitkube/primitives/gcpause.py).
        with collector_paused():
            return self._plan(desired, state)

    def _plan(self, desired: Sequence[DesiredObject], state: SyncState) -> list[Change]:
        self.state = state  # read again in finish(): which other targets are in use
        self.parent = state.applyset_parent(self.api, self.applyset)
        self.legacy_record = dict(self.parent.legacy_record)
        recorded_gks = set(self.parent.group_kinds)
        targeted = _targeted_namespaces(desired)
        desired_gks = {(d.id.group, d.id.kind) for d in desired}
        if targeted:
            desired_gks.add(("", "Namespace"))  # listed whole: which of them exist
        selector = f"{PART_OF_LABEL}={self.applyset.id}"

        run_crds = crd_kinds(desired)

        def served(group: str, kind: str) -> ServedKind | None:
            # The cluster's discovery wins; a CRD of this run serves what it defines.
            return self.discovery.served(group, kind) or run_crds.get((group, kind))

        problems = plan_problems(_kind_checks(served), desired)
        live: dict[ObjectId, dict[str, Any]] = {}
        for group, kind in sorted(desired_gks):
            res = self.discovery.find(group, kind)
            if res is None:
                continue  # not served: a problem above, or its CRD is created in this run
            # Desired kinds are listed whole: creates must see unowned objects in the way.
            for item in self._list(res, None):
                live[_live_id(group, kind, item)] = item
        for gk in sorted(recorded_gks):
            kind, _, group = gk.partition(".")
            if (group, kind) in desired_gks:
                continue
            res = self.discovery.find(group, kind)
            if res is not None:
                for item in self._list(res, selector):
                    live[_live_id(group, kind, item)] = item

        # An object being deleted counts as deleted: never pruned, counted or reported again.
        self.owned = {
            oid: obj
            for oid, obj in live.items()
            if self._is_member(obj) and not is_being_deleted(obj)
        }
        namespaces = {
            oid.name: obj
            for oid, obj in live.items()
            if oid.group == "" and oid.kind == "Namespace"
        }
        self.live_namespaces = {n for n, obj in namespaces.items() if not is_being_deleted(obj)}
        terminating = set(namespaces) - self.live_namespaces
        problems += plan_problems([TerminatingNamespaceCheck(terminating)], desired)
        implicit, missing = self._namespaces_to_keep(targeted, desired, live)
        if missing:
            problems.append(missing)
        if problems:
            raise refuse_plan(problems)
        self.desired = [*desired, *implicit]
        self.desired_by_id = {d.id: d for d in self.desired}
        planned = [self._plan_one(d, live.get(d.id), state) for d in self.desired]
        # What only the API server can answer (dry-runs), asked side by side.
        self._run_window([ask for _, ask in planned if ask is not None], lambda ask: ask())
        changes = [change for change, _ in planned]
        changes.extend(self._plan_prunes(targeted))
        return changes

    def _run_window(self, items: Sequence[Any], work: Callable[[Any], None]) -> None:
        """``work`` on each of ``items`` through the window; its first error raised as is."""
        try:
            self.window.run(items, work)
        except BatchFailed as failed:
            raise failed.error from None

    def _namespaces_to_keep(
        self,
        targeted: Mapping[str, Sequence[str]],
        desired: Sequence[DesiredObject],
        live: Mapping[ObjectId, Mapping[str, Any]],
    ) -> tuple[list[DesiredObject], str | None]:
        """The namespaces objects go in that the repo does not define, as desired
        objects, and the problem of the missing ones when they may not be created.

        One that is missing is created (unless ``sync.createNamespaces`` is
        false: then the sync is refused, before any write); one gitkube
        created before stays desired, so it is not pruned while in use; one
        that someone else created is left alone.
        """
        defined = {d.id.name for d in desired if d.id.group == "" and d.id.kind == "Namespace"}
        missing: dict[str, Sequence[str]] = {}
        implicit = []
        for namespace, apps in sorted(targeted.items()):
            if namespace in defined or namespace == self.applyset.namespace:
                continue  # the parent's namespace is made with the parent
            existing = live.get(ObjectId("", "Namespace", None, namespace))
            if existing is None and not self.settings.config.create_namespaces:
                missing[namespace] = apps
            elif existing is None or self._is_member(existing):
                implicit.append(self._implicit_namespace(namespace))
        if not missing:
            return implicit, None
        first_file: dict[str, str] = {}
        for d in sorted(desired, key=lambda d: d.path):
            if d.id.namespace in missing and d.path:
                first_file.setdefault(d.id.namespace, d.path)
        listing = "; ".join(
            f"{ns} (needed by {', '.join(apps)}"
            + (f", first in {first_file[ns]})" if ns in first_file else ")")
            for ns, apps in missing.items()
        )
        return implicit, (
            f"{len(missing)} namespace(s) the rendered objects go in do not exist and "
            f"sync.createNamespaces is false: {listing}. Create them, define them in the "
            "repo, or let gitkube create them"
        )

    def _implicit_namespace(self, name: str) -> DesiredObject:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {PART_OF_LABEL: self.applyset.id, MANAGED_BY_LABEL: "gitkube"},
            },
        }
        return DesiredObject(body=body, path="", app="")

    def _prune_filters(self, targeted: Mapping[str, Sequence[str]]) -> list[PruneFilter]:
        return [
            ParentNamespaceFilter(self.applyset.namespace),
            LocalNamespacesFilter(frozenset(targeted)),
            NamespaceInUseFilter(self._unowned_in),
        ]

    def _plan_prunes(self, targeted: Mapping[str, Sequence[str]]) -> list[Change]:
        filters = self._prune_filters(targeted)
        changes = []
        for oid, obj in sorted(self.owned.items(), key=lambda kv: (kind_rank(kv[0].kind), kv[0])):
            if oid in self.desired_by_id:
                continue
            if HOOK_ANNOTATION in (obj.get("metadata", {}).get("annotations") or {}):
                continue  # a hook's run: its hook-delete policy decides (gitkube.sync.hooks)
            app, source = _recorded_origin(obj)
            change = Change(self.name, Action.DELETE, oid, app=app, live=obj, source=source)
            handover = self.settings.handover
            shard = handover.moved_to(oid) if handover else None
            if shard is not None:
                # Released, not pruned: shard `shard` adopts it in place.
                change.action = Action.UNCHANGED
                change.note = f"released to shard {shard}: its app hashes there now"
                changes.append(change)
                continue
            reason = first_refusal(filters, oid, obj)
            if reason:
                change.action = Action.UNCHANGED
                change.note = f"kept, not pruned ({reason})"
            changes.append(change)
        return changes

    def _unowned_in(self, namespace: str) -> str | None:
        """One object in ``namespace`` that gitkube does not own and nothing owns, if any.

        Events, the objects Kubernetes puts in every namespace, and objects
        with an owner (Pods of a Deployment, a Service's endpoints) do not count.
        A kind gitkube may not list there counts as in use: unseen is not empty.
        """
        not_ours = f"{PART_OF_LABEL}!={self.applyset.id}"
        for res in sorted(self.discovery.resources.values(), key=lambda r: (r.group, r.kind)):
            if not (res.namespaced and res.listable) or res.kind == "Event":
                continue
            try:
                items = self._list(res, not_ours, namespace)
            except KubeApiError as exc:
                if exc.status == 403:  # what cannot be seen may be there: keep the namespace
                    return f"{_group_kind(res.group, res.kind)} objects gitkube may not list"
                if exc.status in (404, 405):
                    continue
                raise
            for item in items:
                meta = item.get("metadata", {})
                if meta.get("ownerReferences") or (res.kind, meta.get("name")) in _PER_NAMESPACE:
                    continue
                return f"{_group_kind(res.group, res.kind)} {meta.get('name')}"
        return None

    def _bound(
        self, obj: DesiredObject, state: SyncState
    ) -> tuple[dict[str, Any], dict[str, str], bool]:
        """The object with its late-bound fields filled in, what was bound, and
        whether a value is still unknown (an address GCE reserves in this run)."""
        body = dict(obj.body)
        address = (body.get("metadata", {}).get("annotations") or {}).get(
            EXTERNAL_ADDRESS_ANNOTATION
        )
        if obj.id.kind != "Service" or not address:
            return body, {}, False
        ip = state.address_ips.get(address)
        if ip is None:
            return body, {"spec.externalIPs": f"(IP of address {address}, known after apply)"}, True
        body["spec"] = {**body.get("spec", {}), "externalIPs": [ip]}
        return body, {"spec.externalIPs": ip}, False

    def _plan_one(
        self, obj: DesiredObject, live: dict[str, Any] | None, state: SyncState
    ) -> tuple[Change, Callable[[], None] | None]:
        """The change for ``obj``, and what is left to ask the API server (a dry-run)
        before the change is known, or ``None``: asked later, side by side with
        the other objects' questions."""
        oid = obj.id
        bound, late, pending = self._bound(obj, state)
        record = record_of(obj)
        body = with_record(bound, record)
        change = Change(
            self.name,
            Action.UNCHANGED,
            oid,
            app=obj.app,
            desired=body,
            live=live,
            late_bound=late,
            source=obj.path or None,
        )
        if live is None:
            change.action = Action.CREATE
            if not obj.path:
                change.note = "objects go in this namespace and the repo does not define it"

            def ask_create() -> None:
                change.blocked = self._refused_create(oid, body)

            return change, ask_create
        if is_being_deleted(live):
            change.action = Action.CREATE
            change.blocked = (
                f"{oid} is being deleted (finalizers: "
                f"{', '.join(live.get('metadata', {}).get('finalizers') or ()) or 'none'}); "
                "sync again once it is gone"
            )
            return change, None
        handover = self.settings.handover
        sibling_id = (live.get("metadata", {}).get("labels") or {}).get(PART_OF_LABEL)
        if not self._is_member(live) and handover and sibling_id:
            shard = handover.sibling(sibling_id)
            if shard is not None:
                # Another shard's: adopted in place once it let go, never re-created.
                waiting = handover.waits_for(sibling_id)
                if waiting:
                    change.note = f"not adopted yet from shard {shard}: {waiting}"
                    return change, None
                change.action = Action.UPDATE
                change.adopt = True
                change.note = f"adopt from shard {shard}: its app hashes to this shard now"
                return change, None
        if not self._is_member(live):
            change.action = Action.UPDATE
            change.adopt = True
            change.note = "adopt: take over an object gitkube did not create"
            if not self.settings.adopt:
                change.blocked = (
                    f"{oid} exists and is not gitkube's (no {PART_OF_LABEL}={self.applyset.id} "
                    "label); delete it, or take it over with --adopt"
                )
            return change, None
        # The record is part of the body: a match means gitkube's intent is unchanged too.
        if is_subset(body, live) and not pending:
            return change, None
        if not late and remembered_form_matches(body, live):
            return change, None  # values the server keeps in its own form, as recorded last time
        live_annotations = live.get("metadata", {}).get("annotations") or {}
        if (
            RECORD_HASH_ANNOTATION not in live_annotations
            and self.legacy_record.get(_legacy_key(oid)) == obj.content_hash
            and is_subset(bound, live)
            and not pending
        ):
            # Synced by gitkube 0.x, unchanged since: only the record moves onto the object.
            change.action = Action.UPDATE
            change.fields = [f"metadata.annotations.{key}" for key in record]
            change.note = "record moved from the ApplySet parent onto the object"
            return change, None
        # Something differs, or gitkube's own intent changed: let the server say
        # what an apply would do, without doing it.
        return change, lambda: self._ask_drift(change, body, live, late)

    def _ask_drift(
        self, change: Change, body: dict[str, Any], live: Mapping[str, Any], late: Mapping[str, str]
    ) -> None:
        """Settle ``change`` from a server-side-apply dry-run of ``body`` over ``live``."""
        oid = change.id
        try:
            result = self.api.apply(
                self._resource_for(oid).object_path(oid.namespace, oid.name, _version(body)),
                with_server_form(body, remembered(live)),
                manager=FIELD_MANAGER,
                force=self.settings.force_conflicts,
                dry_run=True,
            )
        except KubeApiError as exc:
            if is_throttled(exc):
                raise  # the window sends it again
            self._classify_refusal(change, exc, body)
            return
        form = None if late else server_form_hash(body, result)
        self.server_forms[oid] = form
        fields = differing_paths(without_volatile_fields(result), without_volatile_fields(live))
        if fields:
            change.action = Action.UPDATE
            change.fields = fields
        elif form != remembered(live):
            change.action = Action.UPDATE
            change.fields = [f"metadata.annotations.{SERVER_FORM_ANNOTATION}"]
            change.note = (
                "the server keeps some values in its own form (cpu: 0.5 as 500m); "
                "recording it once so later syncs need not ask"
            )

    def _refused_create(self, oid: ObjectId, body: Mapping[str, Any]) -> str | None:
        """Why the API server would refuse to create the object, from a
        server-side dry-run, so a create it refuses stops the run before any
        write (as Argo CD and Flux dry-run a whole sync first). Not asked when
        no answer can be had yet: a kind whose CRD, or a namespace, this run creates."""
        res = self.discovery.find(oid.group, oid.kind)
        if res is None or (res.namespaced and oid.namespace not in self.live_namespaces):
            return None
        try:
            result = self.api.apply(
                res.object_path(oid.namespace, oid.name, _version(body)),
                body,
                manager=FIELD_MANAGER,
                dry_run=True,
            )
            if not (body.get("spec") or {}).get("externalIPs"):
                self.server_forms[oid] = server_form_hash(body, result)
        except KubeApiError as exc:
            if is_throttled(exc):
                raise  # the window sends it again
            # 404, 409: its namespace went, or it was created meanwhile: the apply will tell.
            if exc.status in (404, 409):
                return None
            # Invalid (422), forbidden (403), and a patch it cannot type (500).
            return f"the API server refuses it: {_reason(exc)}"
        return None

    def _classify_refusal(self, change: Change, exc: KubeApiError, body: Mapping[str, Any]) -> None:
        message = str(exc.body.get("message", exc.message))
        if exc.status == 409:
            change.action = Action.UPDATE
            change.blocked = (
                f"fields are owned by another manager: {message}; "
                "hand them over in the other tool, or rerun with --force-conflicts"
            )
        elif exc.status == 422 and "immutable" in message:
            change.action = Action.REPLACE
            change.fields = [
                c.get("field", "") for c in exc.body.get("details", {}).get("causes", ())
            ]
            allowed = self.settings.allow_replace or (
                (body.get("metadata", {}).get("annotations") or {}).get(REPLACE_ANNOTATION)
                == "true"
            )
            if not allowed:
                change.blocked = (
                    f"{', '.join(change.fields) or 'a field'} cannot change in place ({message}); "
                    f'annotate the object {REPLACE_ANNOTATION}: "true" or rerun with --allow-replace '
                    "to delete and re-create it"
                )
        else:
            raise exc

    # -- apply ---------------------------------------------------------------
    def _members_scope(self, ids: Iterable[ObjectId]) -> tuple[set[str], set[str]]:
        """The group-kinds and namespaces of the objects ``ids``."""
        ids = list(ids)
        return (
            {_group_kind(oid.group, oid.kind) for oid in ids},
            {oid.namespace for oid in ids if oid.namespace},
        )

    def _record_intent(self) -> None:
        """Before any member is written, make the parent list every group-kind and
        namespace this run may write (KEP-3659; kubectl's applyset does the same),
        so a run that stops anywhere leaves nothing the next run cannot find."""
        group_kinds, namespaces = self._members_scope(self.desired_by_id)
        current_gks = set(self.parent.group_kinds)
        current_ns = set(self.parent.namespaces)
        namespaces -= {self.applyset.namespace}
        if self.parent.exists and group_kinds <= current_gks and namespaces <= current_ns:
            return
        self._write_parent(
            current_gks | group_kinds,
            current_ns | namespaces,
            self.parent.previous_status(),
            self.legacy_record,
        )

    def apply(self, changes: Sequence[Change], state: SyncState) -> None:
        """Apply the writes of ``changes`` kind by kind in :data:`KIND_ORDER`; the
        objects of one kind go side by side through the window (none of them
        needs another of its kind first), and a kind starts only once every
        object of the kinds before it was applied (CRDs: and served)."""
        writes = [c for c in changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
        if not writes:
            return
        self._record_intent()

        def applied(change: Change) -> None:
            self.applied.add(change.id)
            self._count(change)

        for batch in _by_kind_rank(writes):
            try:
                self.window.run(batch, lambda c: self._apply_one(c, state), done=applied)
            except BatchFailed as failed:
                change, exc = failed.item, failed.error
                if not isinstance(change, Change) or not isinstance(exc, GitkubeError):
                    raise failed.error from None
                raise GitkubeError(
                    f"could not apply {change.id}: {_reason(exc)} ({len(self.applied)} of "
                    f"{len(writes)} writes made, nothing pruned; the next sync carries on)",
                    file=change.source,
                    app=change.app,
                ) from None
            crds = [c.id.name for c in batch if c.id.kind == "CustomResourceDefinition"]
            if crds:
                self._crds_established(crds)

    def _crds_established(self, names: Sequence[str], timeout: float = 30.0) -> None:
        """Wait for the CRDs applied so far, all together, until the cluster's discovery
        serves every kind and version they define (two small requests a poll, instead
        of a GET of each large CRD), so their custom resources can follow."""
        wanted = crd_kinds(
            d
            for d in self.desired
            if d.id.kind == "CustomResourceDefinition" and d.id.name in names
        )
        deadline = time.monotonic() + timeout
        while True:
            self.discovery.refresh()
            waiting = [
                kind.source
                for (group, name), kind in sorted(wanted.items())
                if not kind.versions <= (self.discovery.versions.get((group, name)) or set())
            ]
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if waiting:
            raise GitkubeError(
                f"not served within {timeout:.0f}s of being applied (not Established?): "
                + ", ".join(w.removesuffix(" in this commit") for w in waiting)
            )

    def _apply_one(self, change: Change, state: SyncState) -> None:
        oid = change.id
        desired = self.desired_by_id[oid]
        body, bound, _ = self._bound(desired, state)
        change.late_bound = bound
        res = self._resource_for(oid)
        path = res.object_path(oid.namespace, oid.name, _version(body))
        if change.action is Action.REPLACE:
            live = change.live or {}
            self._delete_path(path, live)
            self._wait_gone(path)
        late = body.get("spec", {}).get("externalIPs") if bound else None
        # The record goes in the same apply as the object: never one without the other.
        rendered = with_record(desired.body, record_of(desired))
        # Adopting means taking the object's fields from whoever set them.
        force = self.settings.force_conflicts or change.adopt
        form = self.server_forms.get(oid)
        served = self.api.apply(
            path, with_server_form(rendered, form), manager=FIELD_MANAGER, force=force
        )
        if not bound:
            self._remember_server_form(path, rendered, form, served, force)
        if late:
            self.api.apply(
                path,
                {
                    "apiVersion": body["apiVersion"],
                    "kind": body["kind"],
                    "metadata": {"name": oid.name, "namespace": oid.namespace},
                    "spec": {"externalIPs": late},
                },
                manager=LATE_BINDING_MANAGER,
                force=True,
            )

    def _remember_server_form(
        self,
        path: str,
        rendered: Mapping[str, Any],
        sent_form: str | None,
        served: Mapping[str, Any],
        force: bool,
    ) -> None:
        """Record the server's form of values it normalised, when no dry-run told it
        beforehand (a create in a namespace, or of a kind, this run makes): one more
        apply, once, so later syncs compare without asking."""
        actual = server_form_hash(rendered, served)
        if actual != sent_form:
            self.api.apply(
                path, with_server_form(rendered, actual), manager=FIELD_MANAGER, force=force
            )

    def _wait_gone(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api.request("GET", path)
            except KubeApiError as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.2)
        raise GitkubeError(f"{path} was not deleted within {timeout:.0f}s (finalizers?)")

    def _delete_path(self, path: str, live: Mapping[str, Any]) -> None:
        meta = live.get("metadata", {})
        # Preconditions: if the object changed hands since it was observed, fail
        # rather than delete something gitkube no longer owns.
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            self.api.request("DELETE", path, body=body)
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    def delete(self, changes: Sequence[Change], state: SyncState) -> None:
        """Prune kind by kind in reverse :data:`KIND_ORDER`, each kind side by side."""
        deletes = [c for c in changes if c.action is Action.DELETE]

        def prune(change: Change) -> None:
            res = self._resource_for(change.id)
            self._delete_path(
                res.object_path(change.id.namespace, change.id.name), change.live or {}
            )

        def pruned(change: Change) -> None:
            self.deleted.add(change.id)
            self._count(change)

        for batch in reversed(_by_kind_rank(deletes)):
            try:
                self.window.run(batch, prune, done=pruned)
            except BatchFailed as failed:
                change, exc = failed.item, failed.error
                if not isinstance(change, Change) or not isinstance(exc, GitkubeError):
                    raise failed.error from None
                raise GitkubeError(
                    f"could not prune {change.id}: {_reason(exc)} ({len(self.deleted)} of "
                    f"{len(deletes)} deletes made; the next sync carries on)"
                ) from None

    def _count(self, change: Change) -> None:
        self.app_actions.setdefault(change.app or "", Counter())[change.action] += 1

    def _post_summaries(self) -> None:
        """One Event per app this run changed (not one per object: at scale those
        were a third of a first sync's requests), on the ApplySet parent, saying
        what was created, updated and deleted from which commit."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        commit = self.settings.rendered_commit or "a rendered commit"
        events = []
        for app, actions in sorted(self.app_actions.items()):
            counts = ", ".join(f"{actions[a]} {past}" for a, past in _PAST.items() if actions[a])
            events.append(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "generateName": f"{self.applyset.name}.",
                        "namespace": self.applyset.namespace,
                    },
                    "involvedObject": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": self.applyset.name,
                        "namespace": self.applyset.namespace,
                    },
                    "reason": "Synced",
                    "message": f"app {app or '(namespaces)'}: {counts} from {commit}"[:1000],
                    "type": "Normal",
                    "source": {"component": "gitkube"},
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                }
            )
        self.app_actions = {}

        def post(event: Mapping[str, Any]) -> None:
            try:
                self.api.request(
                    "POST", f"/api/v1/namespaces/{self.applyset.namespace}/events", body=event
                )
            except KubeApiError as exc:
                if is_throttled(exc):
                    raise  # the window sends it again
                # An event is a courtesy; never fail a sync over it.

        with contextlib.suppress(BatchFailed):
            self.window.run(events, post)

    def finish(self, result: SyncResult) -> None:
        """Record the run's outcome and the members' scope on the parent.

        A failed run keeps listing every group-kind and namespace it may have
        written; a run that changed nothing writes nothing.
        """
        if not result.applied:
            return
        self._post_summaries()
        members = (set(self.owned) | self.applied) - self.deleted
        group_kinds, namespaces = self._members_scope(members)
        # What exists, for `gitkube status`; the ApplySet annotation below may list
        # more after a failed run (what it meant to write, so nothing goes unfound).
        member_kinds = ",".join(sorted(group_kinds))
        legacy: Mapping[str, str] | None = None
        if result.error:
            desired_gks, desired_ns = self._members_scope(self.desired_by_id)
            group_kinds |= desired_gks | self.parent.group_kinds
            namespaces |= desired_ns | self.parent.namespaces
            legacy = self.legacy_record  # still the record of what was not migrated yet
        namespaces -= {self.applyset.namespace}
        previous = self.parent.annotations
        status = {
            TARGETS_ANNOTATION: ",".join(sorted(self.state.targets_in_use)),
            f"{STATUS_PREFIX}rendered-commit": result.commit or "",
            f"{STATUS_PREFIX}source-commit": result.source_commit or "",
            f"{STATUS_PREFIX}result": "error" if result.error else "synced",
            f"{STATUS_PREFIX}message": (result.error or "")[:1000],
            OBJECTS_STATUS_ANNOTATION: str(len(members)),
            MEMBER_KINDS_STATUS_ANNOTATION: member_kinds,
        }
        if result.app_health is not None:
            status[HEALTH_STATUS_ANNOTATION] = health_summary(result.app_health)
        hooks = hooks_summary(self.parent.annotations.get(HOOKS_STATUS_ANNOTATION), result.hooks)
        if hooks is not None:
            status[HOOKS_STATUS_ANNOTATION] = hooks
        changed = (
            not result.in_sync
            or not self.parent.exists
            or bool(self.legacy_record) != bool(legacy)
            or any(previous.get(k) != v for k, v in status.items())
            or self.parent.group_kinds != group_kinds
            or self.parent.namespaces != namespaces
        )
        if not changed:
            return  # a no-op sync writes nothing
        status[f"{STATUS_PREFIX}synced-at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._write_parent(group_kinds, namespaces, status, legacy)

    def observe(self, objects: Sequence[DesiredObject]) -> dict[ObjectId, Mapping[str, Any] | None]:
        """One GET per object: ``sync --wait`` asks only about what the run changed."""
        live: dict[ObjectId, Mapping[str, Any] | None] = {}
        for obj in objects:
            path = self._resource_for(obj.id).object_path(obj.id.namespace, obj.id.name)
            try:
                live[obj.id] = self.api.request("GET", path)
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
                live[obj.id] = None
        return live


# Objects Kubernetes itself puts in every namespace: not a reason to keep one.
_PER_NAMESPACE = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def _reason(exc: GitkubeError) -> str:
    """What the API server said, without the request line."""
    if isinstance(exc, KubeApiError):
        return str(exc.body.get("message") or exc.message)
    return exc.message


# How a summary Event counts each action.
_PAST = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
    Action.UNCHANGED: "unchanged",
}


def _by_kind_rank(changes: Sequence[Change]) -> list[list[Change]]:
    """``changes`` in batches of one :func:`kind_rank` each, in apply order."""
    batches: dict[int, list[Change]] = {}
    for change in sorted(changes, key=lambda c: (kind_rank(c.id.kind), c.id)):
        batches.setdefault(kind_rank(change.id.kind), []).append(change)
    return [batches[rank] for rank in sorted(batches)]


def _targeted_namespaces(desired: Sequence[DesiredObject]) -> dict[str, list[str]]:
    """Each namespace the objects go in, with the apps that put objects there."""
    apps: dict[str, set[str]] = {}
    for d in desired:
        if d.id.namespace:
            apps.setdefault(d.id.namespace, set()).add(d.app or "(no app)")
    return {ns: sorted(names) for ns, names in apps.items()}


def _version(body: Mapping[str, Any]) -> str:
    api_version = str(body.get("apiVersion", "v1"))
    return api_version.split("/", 1)[1] if "/" in api_version else api_version


def _live_id(group: str, kind: str, item: Mapping[str, Any]) -> ObjectId:
    meta = item.get("metadata", {})
    return ObjectId(group, kind, meta.get("namespace") or None, str(meta.get("name", "")))


def _kind_checks(served: Callable[[str, str], ServedKind | None]) -> list[PlanCheck]:
    """The checks of each object's kind, version and scope against what is served."""
    return [ServedKindCheck(served), ServedVersionCheck(served), ScopeCheck(served)]


def _recorded_origin(live: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The app (by path) and rendered file a member came from, as its record says.

    Members applied before the record existed fall back to their ``app`` label.
    """
    meta = live.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    app = annotations.get(RECORD_APP_ANNOTATION) or (meta.get("labels") or {}).get("app")
    return app, annotations.get(RECORD_SOURCE_ANNOTATION)


def is_being_deleted(obj: Mapping[str, Any]) -> bool:
    """Whether the API server is deleting the object (finalizers still pending)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


@hookimpl
def gitkube_sync_targets(settings: SyncSettings) -> list[KubernetesTarget]:
    return [KubernetesTarget(settings)]
