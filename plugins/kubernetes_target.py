"""kubernetes_target: sync rendered Kubernetes objects into a cluster.

Ownership follows ApplySet (KEP-3659): a parent ConfigMap
``gitkube-<cluster>`` in ``gitkube-system`` lists the group-kinds gitkube
manages, and every member carries ``applyset.kubernetes.io/part-of``. Objects
without that label are never changed or deleted.

Observing is cheap: one aggregated-discovery request per API root, one GET
of the parent, and one LIST per group-kind. Whether an owned object changed
is decided without writes: the parent keeps each member's rendered content
hash, live drift is found by comparing what gitkube sends with what the
server holds (server defaults and other managers' fields are ignored), and a
suspected difference is confirmed with a server-side-apply dry-run before it
is called drift.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitkube.plugin_api import (
    ADDITIONAL_NAMESPACES_ANNOTATION,
    AGGREGATED_DISCOVERY,
    APPLYSET_ID_LABEL,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    GCE_GROUP,
    PART_OF_LABEL,
    STATUS_PREFIX,
    TARGETS_ANNOTATION,
    TOOLING_ANNOTATION,
    Action,
    Change,
    DesiredObject,
    GitkubeError,
    KubeApi,
    KubeApiError,
    ObjectId,
    SyncResult,
    SyncSettings,
    SyncState,
    __version__,
    hookimpl,
)

FIELD_MANAGER = "gitkube"
# Late-bound fields (DESIGN §4) are applied by a manager of their own, so a
# `kubectl diff --server-side --field-manager=gitkube` of the rendered files,
# which lack them, does not plan to remove them.
LATE_BINDING_MANAGER = "gitkube-late-binding"
REPLACE_ANNOTATION = "gitkube.dev/replace"
EXTERNAL_ADDRESS_ANNOTATION = "gitkube.dev/external-address"

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
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


def kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    def collection_path(self, namespace: str | None = None, version: str | None = None) -> str:
        root = (
            f"/apis/{self.group}/{version or self.version}"
            if self.group
            else f"/api/{version or self.version}"
        )
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def object_path(self, namespace: str | None, name: str, version: str | None = None) -> str:
        return f"{self.collection_path(namespace, version)}/{name}"


class Discovery:
    """Group-kind → API resource, from aggregated discovery (two requests)."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.resources: dict[tuple[str, str], ApiResource] = {}
        self.refresh()

    def refresh(self) -> None:
        self.resources.clear()
        for root in ("/api", "/apis"):
            doc = self.api.request("GET", root, accept=AGGREGATED_DISCOVERY)
            for group in doc.get("items", ()):
                group_name = group.get("metadata", {}).get("name", "")
                # versions are listed most preferred first
                for version in reversed(group.get("versions", ())):
                    for res in version.get("resources", ()):
                        kind = res.get("responseKind", {}).get("kind")
                        if kind and "/" not in res["resource"]:
                            self.resources[(group_name, kind)] = ApiResource(
                                group_name,
                                version["version"],
                                kind,
                                res["resource"],
                                res.get("scope") == "Namespaced",
                            )

    def find(self, group: str, kind: str) -> ApiResource | None:
        return self.resources.get((group, kind))


def _key(oid: ObjectId) -> str:
    """A ConfigMap data key for an object (``[-._a-zA-Z0-9]`` only)."""
    return f"{oid.kind}.{oid.group or 'core'}.{oid.namespace or '_'}.{oid.name}"


def _group_kind(group: str, kind: str) -> str:
    return f"{kind}.{group}" if group else kind


def _normalized(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object without the fields every write changes."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in _VOLATILE_METADATA:
        meta.pop(key, None)
    out["metadata"] = meta
    return out


def is_subset(desired: Any, live: Any) -> bool:
    """Whether every field gitkube sends has the same value live (extra live fields are fine)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            k in live and is_subset(v, live[k]) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    return desired == live or (desired is not None and str(desired) == str(live))


def differing_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Field paths where ``a`` and ``b`` differ (both directions)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        paths: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                paths.append(sub)
            else:
                paths.extend(differing_paths(a[key], b[key], sub))
        return paths
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        paths = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            paths.extend(differing_paths(x, y, f"{prefix}[{i}]"))
        return paths
    return [] if a == b else [prefix or "."]


class KubernetesTarget:
    """Plans and applies the rendered Kubernetes objects of one ApplySet."""

    name = "kubernetes"

    def __init__(self, settings: SyncSettings, api: KubeApi | None = None) -> None:
        self.settings = settings
        self.applyset = settings.applyset
        self._api = api
        self._discovery: Discovery | None = None
        self.parent: dict[str, Any] | None = None
        self.owned: dict[ObjectId, dict[str, Any]] = {}
        self.desired: list[DesiredObject] = []
        self.desired_by_id: dict[ObjectId, DesiredObject] = {}
        self._hashes_dirty = False
        self.state = SyncState()

    # -- wiring --------------------------------------------------------------
    @property
    def api(self) -> KubeApi:
        if self._api is None:
            self._api = KubeApi.connect(self.settings.kubeconfig, self.settings.context)
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

    # -- observe and plan ----------------------------------------------------
    def _parent_path(self) -> str:
        return f"/api/v1/namespaces/{self.applyset.namespace}/configmaps/{self.applyset.name}"

    def _read_parent(self, state: SyncState) -> dict[str, Any] | None:
        parent = state.applyset_parent(self.api, self.applyset)
        if parent is None:
            return None
        if parent.get("metadata", {}).get("labels", {}).get(APPLYSET_ID_LABEL) != self.applyset.id:
            raise GitkubeError(
                f"ConfigMap {self.applyset.namespace}/{self.applyset.name} exists but is not "
                f"gitkube's ApplySet parent (label {APPLYSET_ID_LABEL} differs); "
                "refusing to manage anything through it"
            )
        return parent

    def _resource_for(self, oid: ObjectId) -> ApiResource:
        res = self.discovery.find(oid.group, oid.kind)
        if res is None:
            raise GitkubeError(
                f"the cluster does not serve {_group_kind(oid.group, oid.kind)} "
                "(is its CRD installed, or in this commit?)",
                obj=str(oid),
            )
        return res

    def _list(self, res: ApiResource, selector: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        api_version = f"{res.group}/{res.version}" if res.group else res.version
        while True:
            page = self.api.request(
                "GET",
                res.collection_path(),
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

    def plan(self, desired: Sequence[DesiredObject], state: SyncState) -> list[Change]:
        self.desired = list(desired)
        self.desired_by_id = {d.id: d for d in self.desired}
        self.state = state  # read again in finish(): which other targets are in use
        self.parent = self._read_parent(state)
        parent_annotations = (self.parent or {}).get("metadata", {}).get("annotations", {})
        recorded_gks = {
            gk
            for gk in parent_annotations.get(CONTAINS_GROUP_KINDS_ANNOTATION, "").split(",")
            if gk
        }
        hashes: dict[str, str] = dict((self.parent or {}).get("data") or {})
        desired_gks = {(d.id.group, d.id.kind) for d in desired}
        selector = f"{PART_OF_LABEL}={self.applyset.id}"

        live: dict[ObjectId, dict[str, Any]] = {}
        creatable_crd_kinds = _kinds_defined_by_crds(desired)
        for group, kind in sorted(desired_gks):
            res = self.discovery.find(group, kind)
            if res is None:
                if (group, kind) in creatable_crd_kinds:
                    continue  # its CRD is created in this run: nothing can exist yet
                self._resource_for(ObjectId(group, kind, None, ""))
                continue
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

        self.owned = {
            oid: obj
            for oid, obj in live.items()
            if (obj.get("metadata", {}).get("labels") or {}).get(PART_OF_LABEL) == self.applyset.id
        }
        changes = [self._plan_one(d, live.get(d.id), hashes, state) for d in desired]
        desired_ids = {d.id for d in desired}
        for oid, obj in sorted(self.owned.items(), key=lambda kv: (kind_rank(kv[0].kind), kv[0])):
            if oid in desired_ids or (
                oid.kind == "Namespace" and oid.name == self.applyset.namespace
            ):
                continue  # the namespace holding the ApplySet parent is never pruned
            labels = obj.get("metadata", {}).get("labels") or {}
            changes.append(Change(self.name, Action.DELETE, oid, app=labels.get("app"), live=obj))
        self._hashes_dirty = any(hashes.get(_key(d.id)) != d.content_hash for d in desired)
        return changes

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
        self,
        obj: DesiredObject,
        live: dict[str, Any] | None,
        hashes: Mapping[str, str],
        state: SyncState,
    ) -> Change:
        oid = obj.id
        body, bound, pending = self._bound(obj, state)
        change = Change(
            self.name, Action.UNCHANGED, oid, app=obj.app, desired=body, live=live, late_bound=bound
        )
        if live is None:
            change.action = Action.CREATE
            return change
        labels = live.get("metadata", {}).get("labels") or {}
        if labels.get(PART_OF_LABEL) != self.applyset.id:
            change.action = Action.UPDATE
            change.adopt = True
            change.note = "adopt: take over an object gitkube did not create"
            if not self.settings.adopt:
                change.blocked = (
                    f"{oid} exists and is not gitkube's (no {PART_OF_LABEL}={self.applyset.id} "
                    "label); delete it, or take it over with --adopt"
                )
            return change
        same_intent = hashes.get(_key(oid)) == obj.content_hash
        if same_intent and is_subset(body, live) and not pending:
            return change
        # Something differs, or gitkube's own intent changed: let the server say
        # what an apply would do, without doing it.
        try:
            result = self.api.apply(
                self._resource_for(oid).object_path(oid.namespace, oid.name, _version(body)),
                body,
                manager=FIELD_MANAGER,
                force=self.settings.force_conflicts,
                dry_run=True,
            )
        except KubeApiError as exc:
            self._classify_refusal(change, exc, body)
            return change
        fields = differing_paths(_normalized(result), _normalized(live))
        if fields:
            change.action = Action.UPDATE
            change.fields = fields
        return change

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
    def _ensure_parent(
        self, group_kinds: Iterable[str], extra: Mapping[str, Any] | None = None
    ) -> None:
        namespaces = sorted(
            {
                d.id.namespace
                for d in self.desired
                if d.id.namespace and d.id.namespace != self.applyset.namespace
            }
        )
        if self.parent is None:
            self.api.ensure_namespace(self.applyset.namespace)
        parent: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.applyset.name,
                "namespace": self.applyset.namespace,
                "labels": {APPLYSET_ID_LABEL: self.applyset.id},
                "annotations": {
                    TOOLING_ANNOTATION: f"gitkube/{__version__}",
                    CONTAINS_GROUP_KINDS_ANNOTATION: ",".join(sorted(set(group_kinds))),
                    ADDITIONAL_NAMESPACES_ANNOTATION: ",".join(namespaces),
                    **(extra or {}).get("annotations", {}),
                },
            },
        }
        if extra and "data" in extra:
            parent["data"] = extra["data"]
        self.parent = self.api.apply(self._parent_path(), parent, manager=FIELD_MANAGER, force=True)

    def _current_group_kinds(self) -> set[str]:
        annotations = (self.parent or {}).get("metadata", {}).get("annotations", {})
        return {gk for gk in annotations.get(CONTAINS_GROUP_KINDS_ANNOTATION, "").split(",") if gk}

    def apply(self, changes: Sequence[Change], state: SyncState) -> None:
        writes = [c for c in changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
        if not writes:
            return
        # KEP-3659: the parent lists a superset of the members' group-kinds
        # before any member is written, so a crash never leaves strays.
        desired_gks = {_group_kind(d.id.group, d.id.kind) for d in self.desired}
        self._ensure_parent(self._current_group_kinds() | desired_gks)
        for change in sorted(writes, key=lambda c: (kind_rank(c.id.kind), c.id)):
            self._apply_one(change, state)
            if change.id.kind == "CustomResourceDefinition":
                self._wait_established(change.id.name)
                self.discovery.refresh()

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
        rendered = dict(desired.body)
        # Adopting means taking the object's fields from whoever set them.
        force = self.settings.force_conflicts or change.adopt
        self.api.apply(path, rendered, manager=FIELD_MANAGER, force=force)
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
        self._event(change, "Applied" if change.action is not Action.CREATE else "Created")

    def _wait_established(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        while time.monotonic() < deadline:
            crd = self.api.request("GET", path)
            conditions = crd.get("status", {}).get("conditions") or ()
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                return
            time.sleep(0.2)
        raise GitkubeError(
            f"CustomResourceDefinition {name} was not established within {timeout:.0f}s"
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
        deletes = [c for c in changes if c.action is Action.DELETE]
        for change in sorted(deletes, key=lambda c: (kind_rank(c.id.kind), c.id), reverse=True):
            res = self._resource_for(change.id)
            self._delete_path(
                res.object_path(change.id.namespace, change.id.name), change.live or {}
            )
            self._event(change, "Deleted")

    def _event(self, change: Change, reason: str) -> None:
        oid = change.id
        namespace = oid.namespace or self.applyset.namespace
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        api_version = (change.desired or change.live or {}).get("apiVersion", "v1")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{oid.name}.gitkube-", "namespace": namespace},
            "involvedObject": {
                "apiVersion": api_version,
                "kind": oid.kind,
                "name": oid.name,
                "namespace": oid.namespace,
            },
            "reason": reason,
            "message": f"gitkube {change.action.value} from {self.settings.rendered_commit or 'a rendered commit'}"
            + (f" ({', '.join(change.fields[:5])})" if change.fields else ""),
            "type": "Normal",
            "source": {"component": "gitkube"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with contextlib.suppress(KubeApiError):  # an event is a courtesy; never fail a sync over it
            self.api.request("POST", f"/api/v1/namespaces/{namespace}/events", body=event)

    def finish(self, result: SyncResult) -> None:
        if not result.applied:
            return
        previous = (self.parent or {}).get("metadata", {}).get("annotations", {})
        status = {
            TARGETS_ANNOTATION: ",".join(sorted(self.state.targets_in_use)),
            f"{STATUS_PREFIX}rendered-commit": result.commit or "",
            f"{STATUS_PREFIX}source-commit": result.source_commit or "",
            f"{STATUS_PREFIX}result": "error" if result.error else "synced",
            f"{STATUS_PREFIX}message": (result.error or "")[:1000],
        }
        changed = (
            not result.in_sync
            or self._hashes_dirty
            or any(previous.get(k) != v for k, v in status.items())
        )
        if not changed:
            return  # a no-op sync writes nothing
        status[f"{STATUS_PREFIX}synced-at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        hashes = {_key(d.id): d.content_hash for d in self.desired}
        group_kinds = {_group_kind(d.id.group, d.id.kind) for d in self.desired}
        if result.error:
            # Deletes may not have run: keep listing what may still exist.
            group_kinds |= self._current_group_kinds()
            hashes = {**dict((self.parent or {}).get("data") or {}), **hashes}
        self._ensure_parent(group_kinds, {"annotations": status, "data": hashes})


def _version(body: Mapping[str, Any]) -> str:
    api_version = str(body.get("apiVersion", "v1"))
    return api_version.split("/", 1)[1] if "/" in api_version else api_version


def _live_id(group: str, kind: str, item: Mapping[str, Any]) -> ObjectId:
    meta = item.get("metadata", {})
    return ObjectId(group, kind, meta.get("namespace") or None, str(meta.get("name", "")))


def _kinds_defined_by_crds(desired: Sequence[DesiredObject]) -> set[tuple[str, str]]:
    kinds = set()
    for d in desired:
        if d.id.kind == "CustomResourceDefinition":
            spec = d.body.get("spec", {})
            kinds.add((spec.get("group", ""), spec.get("names", {}).get("kind", "")))
    return kinds


@hookimpl
def gitkube_sync_targets(settings: SyncSettings) -> list[KubernetesTarget]:
    return [KubernetesTarget(settings)]
