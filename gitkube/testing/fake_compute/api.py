"""What each served Compute Engine method does to the state.

Generic verbs (get, list, aggregatedList, insert, delete, patch, setLabels)
work for every served collection from the discovery schema (``kind``,
``fingerprint``, ``labelFingerprint`` are filled in when the resource's schema
has them); per-collection hooks add the defaults and cross-resource rules the
real API has (addresses get an IP, a disk attached to an instance cannot be
deleted, ...).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .discovery import Discovery, Method
from .errors import ApiError
from .faults import Faults
from .operations import BASE_URL, Operation, fingerprint, new_id, timestamp
from .state import Loc, Store, full_url, parse_link

# Discovery resources the fake keeps state for. Networks, subnetworks, images
# and the regional load-balancing resources are served generically so that
# references to them (and the recorded traffic) resolve.
SERVED = frozenset(
    {
        "addresses",
        "firewalls",
        "targetPools",
        "forwardingRules",
        "disks",
        "instances",
        "networks",
        "subnetworks",
        "images",
        "regionBackendServices",
        "regionTargetTcpProxies",
    }
)
_OPERATION_RESOURCES = {
    "zoneOperations": "zones",
    "regionOperations": "regions",
    "globalOperations": "global",
}
# operationType values as the API reports them (see the recordings).
_OPERATION_TYPES = {"setTarget": "SetTarget"}
MAX_WAIT_SECONDS = 120.0
# Methods whose operation the API returns already DONE (see the recordings:
# label changes on these resources and a disk resize complete in the call).
_SYNCHRONOUS = frozenset(
    {
        "compute.addresses.setLabels",
        "compute.disks.setLabels",
        "compute.forwardingRules.setLabels",
        "compute.disks.resize",
    }
)


@dataclass
class Call:
    """One routed request."""

    method: Method
    params: dict[str, str]
    query: dict[str, str]
    body: Any

    @property
    def project(self) -> str:
        return self.params["project"]

    @property
    def scope(self) -> tuple[str, str | None]:
        if "zone" in self.params:
            return "zones", self.params["zone"]
        if "region" in self.params:
            return "regions", self.params["region"]
        return "global", None

    def loc(self, name: str | None = None) -> Loc:
        scope, scope_name = self.scope
        if name is None:
            param = self.method.name_param
            if param is None:
                raise errors.invalid("this method names no resource")
            name = self.params[param]
        return Loc(self.project, scope, scope_name, self.method.collection, name)


Handler = Callable[[Call], dict[str, Any]]


class ComputeApi:
    """The fake's behaviour: a handler per served method over a :class:`Store`."""

    def __init__(self, discovery: Discovery, store: Store, faults: Faults) -> None:
        self.discovery = discovery
        self.store = store
        self.faults = faults
        self._request_ids: dict[str, Operation] = {}
        self._handlers: dict[str, Handler] = {
            "compute.images.getFromFamily": self._image_from_family,
            "compute.addresses.delete": self._address_delete,
            "compute.disks.delete": self._disk_delete,
            "compute.disks.resize": self._disk_resize,
            "compute.targetPools.delete": self._target_pool_delete,
            "compute.targetPools.addInstance": self._target_pool_add,
            "compute.targetPools.removeInstance": self._target_pool_remove,
            "compute.forwardingRules.setTarget": self._forwarding_rule_set_target,
            "compute.instances.attachDisk": self._instance_attach_disk,
            "compute.instances.detachDisk": self._instance_detach_disk,
            "compute.instances.start": self._instance_set_status("RUNNING", "start"),
            "compute.instances.stop": self._instance_set_status("TERMINATED", "stop"),
            "compute.instances.setMachineType": self._instance_set_machine_type,
            "compute.instances.setMetadata": self._instance_set_metadata,
            "compute.instances.setScheduling": self._instance_set_field("scheduling"),
            "compute.instances.setServiceAccount": self._instance_set_service_account,
            "compute.instances.setTags": self._instance_set_tags,
            "compute.networks.delete": self._network_delete,
            "compute.instances.delete": lambda call: self._delete(
                call, before=self._instance_delete(call.loc())
            ),
            "compute.forwardingRules.delete": lambda call: self._delete(
                call, before=lambda: self._release_addresses(call.project, call.loc().self_link)
            ),
        }
        self._on_insert: dict[str, Callable[[Call, Loc, dict[str, Any]], Callable[[], None]]] = {
            "addresses": self._address_insert,
            "disks": self._disk_insert,
            "firewalls": self._firewall_insert,
            "forwardingRules": self._forwarding_rule_insert,
            "instances": self._instance_insert,
            "networks": self._network_insert,
            "subnetworks": self._subnetwork_insert,
            "targetPools": self._target_pool_insert,
            "regionBackendServices": self._backend_service_insert,
        }

    def reset(self) -> None:
        self._request_ids.clear()

    # -- dispatch -------------------------------------------------------------------

    def handle(self, call: Call) -> dict[str, Any]:
        method = call.method
        request_id = call.query.get("requestId")
        if request_id and request_id in self._request_ids:
            # A retry with the same requestId gets the first operation back
            # instead of a second change (or a 409 for an insert).
            return self._request_ids[request_id].to_json()
        if method.resource in _OPERATION_RESOURCES:
            return self._operation_method(call)
        if method.resource not in SERVED:
            raise ApiError(
                501,
                f"Method {method.id} is not implemented by gitkube's fake Compute Engine",
                "notImplemented",
            )
        handler = self._handlers.get(method.id)
        if handler is None:
            generic = {
                "get": self._get,
                "list": self._list,
                "aggregatedList": self._aggregated_list,
                "insert": self._insert,
                "delete": self._delete,
                "patch": self._patch,
                "setLabels": self._set_labels,
            }.get(method.verb)
            if generic is None:
                raise ApiError(
                    501,
                    f"Method {method.id} is not implemented by gitkube's fake Compute Engine",
                    "notImplemented",
                )
            handler = generic
        return handler(call)

    # -- helpers ---------------------------------------------------------------------

    def _existing(self, loc: Loc) -> dict[str, Any]:
        found = self.store.get(loc)
        if found is None and loc.name.isdigit():
            # The API takes a resource's numeric id wherever it takes its name.
            found = next(
                (
                    r
                    for r in self.store.collection(loc.collection_key).values()
                    if r.get("id") == loc.name
                ),
                None,
            )
        if found is None:
            raise errors.not_found(loc.path)
        return found

    def _operation(
        self, call: Call, loc: Loc, apply: Callable[[], None], target_id: str
    ) -> dict[str, Any]:
        """Start the operation of a mutating call; the change happens when it completes."""
        request_id = call.query.get("requestId")
        verb = call.method.verb
        operation_type = _OPERATION_TYPES.get(verb, verb)
        if verb == "patch":
            operation_type = call.method.id
        op = Operation(
            project=loc.project,
            scope=loc.scope,
            scope_name=loc.scope_name,
            operation_type=operation_type,
            target_link=loc.self_link,
            target_id=target_id,
            apply=apply,
        )
        fault = self.faults.take_operation_fault(call.method.id)
        if fault is not None:
            op.polls_left = fault.polls
            op.ready_at = time.time() + fault.seconds
            failure = fault.operation_error()
            if failure is not None:
                op.http_error_status, op.error = failure
        self.store.ops.add(op)
        if fault is None and call.method.id in _SYNCHRONOUS:
            op.finish(time.time())
        if request_id:
            self._request_ids[request_id] = op
        return op.to_json()

    def _pending_insert(self, loc: Loc) -> bool:
        return any(
            op.target_link == loc.self_link and op.operation_type == "insert" and op.error is None
            for op in self.store.ops.pending()
        )

    def _resolve(self, call: Call, link: str, collection: str) -> Loc:
        scope, scope_name = call.scope
        loc = parse_link(link, call.project, scope, scope_name)
        if loc is None or loc.collection != collection:
            raise errors.invalid(
                f"Invalid value for field 'resource': '{link}'. The URL is malformed."
            )
        return loc

    def _scope_url(self, loc: Loc) -> str:
        return f"{BASE_URL}projects/{loc.project}/{loc.scope_path}"

    # -- generic verbs ---------------------------------------------------------------

    def _get(self, call: Call) -> dict[str, Any]:
        return copy.deepcopy(self._existing(call.loc()))

    def _list(self, call: Call) -> dict[str, Any]:
        scope, scope_name = call.scope
        key = (call.project, scope, scope_name, call.method.collection)
        items = [r for _, r in sorted(self.store.collection(key).items())]
        items = _filtered(items, call.query.get("filter"))
        try:
            offset = int(
                base64.urlsafe_b64decode(call.query.get("pageToken", "") or "MA==").decode()
            )
        except ValueError as exc:
            raise errors.invalid("Invalid value for field 'pageToken'") from exc
        size = min(int(call.query.get("maxResults", "500")), 500)
        page = items[offset : offset + size]
        scope_path = f"{scope}/{scope_name}" if scope_name else "global"
        body: dict[str, Any] = {
            "kind": self.discovery.kind(call.method.response_ref or "") or "compute#list",
            "id": f"projects/{call.project}/{scope_path}/{call.method.collection}",
            "selfLink": f"{BASE_URL}projects/{call.project}/{scope_path}/{call.method.collection}",
        }
        if page:
            body["items"] = copy.deepcopy(page)
        if offset + size < len(items):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return body

    def _aggregated_list(self, call: Call) -> dict[str, Any]:
        collection = call.method.collection
        grouped: dict[str, list[dict[str, Any]]] = {}
        for loc, resource in sorted(
            self.store.scan(call.project, collection), key=lambda x: x[0].path
        ):
            grouped.setdefault(loc.scope_path, []).append(resource)
        items = {}
        for scope_path, resources in grouped.items():
            kept = _filtered(resources, call.query.get("filter"))
            if kept:
                items[scope_path] = {collection: copy.deepcopy(kept)}
        return {
            "kind": self.discovery.kind(call.method.response_ref or "") or "compute#aggregatedList",
            "id": f"projects/{call.project}/aggregated/{collection}",
            "selfLink": f"{BASE_URL}projects/{call.project}/aggregated/{collection}",
            "items": items,
        }

    def _insert(self, call: Call) -> dict[str, Any]:
        body = copy.deepcopy(call.body)
        loc = call.loc(body["name"])
        if self.store.get(loc) is not None or self._pending_insert(loc):
            raise errors.already_exists(loc.path)
        schema = call.method.request_ref or ""
        resource: dict[str, Any] = {
            "kind": self.discovery.kind(schema),
            "id": new_id(),
            "creationTimestamp": timestamp(),
            **body,
            "selfLink": loc.self_link,
        }
        if loc.scope == "zones":
            resource["zone"] = self._scope_url(loc)
        elif loc.scope == "regions":
            resource["region"] = self._scope_url(loc)
        if self.discovery.has_property(schema, "fingerprint"):
            resource["fingerprint"] = fingerprint()
        if self.discovery.has_property(schema, "labelFingerprint"):
            resource["labelFingerprint"] = fingerprint()
        _check_labels(resource.get("labels") or {})
        hook = self._on_insert.get(call.method.resource)
        after = hook(call, loc, resource) if hook else _nothing

        def apply() -> None:
            if self.store.get(loc) is not None:
                raise errors.already_exists(loc.path)
            # Hooks check before they change anything, so a refusal leaves no trace.
            after()
            self.store.put(loc, resource)

        return self._operation(call, loc, apply, resource["id"])

    def _delete(self, call: Call, before: Callable[[], None] = lambda: None) -> dict[str, Any]:
        loc = call.loc()
        resource = self._existing(loc)

        def apply() -> None:
            if self.store.get(loc) is None:
                raise errors.not_found(loc.path)
            before()
            self.store.remove(loc)

        return self._operation(call, loc, apply, resource["id"])

    def _patch(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        resource = self._existing(loc)
        body = copy.deepcopy(call.body)
        if body.get("name", loc.name) != loc.name:
            raise errors.invalid(
                f"Invalid value for field 'resource.name': '{body['name']}'. Resource name cannot be changed."
            )
        self._check_fingerprint(resource, body.get("fingerprint"), "fingerprint")
        for field in ("selfLink", "id", "creationTimestamp", "kind"):
            body.pop(field, None)

        def apply() -> None:
            current = self._existing(loc)
            current.update(body)
            if "fingerprint" in current:
                current["fingerprint"] = fingerprint()

        return self._operation(call, loc, apply, resource["id"])

    def _set_labels(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        resource = self._existing(loc)
        self._check_fingerprint(resource, call.body.get("labelFingerprint"), "labelFingerprint")
        labels = dict(call.body.get("labels") or {})
        _check_labels(labels)

        def apply() -> None:
            current = self._existing(loc)
            if labels:
                current["labels"] = labels
            else:
                current.pop("labels", None)
            current["labelFingerprint"] = fingerprint()

        return self._operation(call, loc, apply, resource["id"])

    def _check_fingerprint(self, resource: dict[str, Any], given: str | None, field: str) -> None:
        if given is not None and given != resource.get(field):
            raise ApiError(
                412,
                f"Supplied fingerprint does not match current {field}: the resource was "
                "changed since it was read",
                "conditionNotMet",
            )

    # -- operations ------------------------------------------------------------------

    def _operation_method(self, call: Call) -> dict[str, Any]:
        scope = _OPERATION_RESOURCES[call.method.resource]
        scope_name = call.params.get("zone") or call.params.get("region")
        verb = call.method.verb
        if verb == "list":
            ops = self.store.ops.listing(call.project, scope, scope_name)
            body: dict[str, Any] = {
                "kind": "compute#operationList",
                "id": f"projects/{call.project}/{scope}/operations",
            }
            if ops:
                body["items"] = [op.to_json() for op in sorted(ops, key=lambda o: o.sequence)]
            return body
        if verb not in ("get", "wait", "delete"):
            raise ApiError(501, f"Method {call.method.id} is not implemented", "notImplemented")
        name = call.params["operation"]
        op = self.store.ops.find(call.project, scope, scope_name, name)
        if op is None:
            where = f"{scope}/{scope_name}" if scope_name else "global"
            raise errors.not_found(f"projects/{call.project}/{where}/operations/{name}")
        if verb == "delete":
            self.store.ops.remove(op)
            return {}
        if verb == "wait":
            self._wait(op)
        elif op.status != "DONE":
            # Each poll brings a slow operation one step closer to done.
            op.polls_left -= 1
        return op.to_json()

    def _wait(self, op: Operation) -> None:
        """operations.wait: block until done (the real API returns after at most 2 minutes)."""
        op.polls_left -= 1
        deadline = time.time() + MAX_WAIT_SECONDS
        while op.status != "DONE" and time.time() < deadline:
            if op.due(time.time()):
                self.store.ops.advance()
                break
            if op.polls_left > 0:
                break  # waiting on polls, not on time
            self.store.lock.release()
            try:
                time.sleep(min(0.05, max(0.0, op.ready_at - time.time())))
            finally:
                self.store.lock.acquire()

    # -- images ----------------------------------------------------------------------

    def _image_from_family(self, call: Call) -> dict[str, Any]:
        image = self._latest_image(call.project, call.params["family"])
        if image is None:
            raise errors.not_found(
                f"projects/{call.project}/global/images/family/{call.params['family']}"
            )
        return copy.deepcopy(image)

    def _latest_image(self, project: str, family: str) -> dict[str, Any] | None:
        images = [r for _, r in self.store.scan(project, "images") if r.get("family") == family]
        return max(images, key=lambda r: str(r["name"])) if images else None

    # -- networks --------------------------------------------------------------------

    def _network_insert(self, call: Call, loc: Loc, resource: dict[str, Any]) -> Callable[[], None]:
        resource.setdefault("autoCreateSubnetworks", False)
        resource.setdefault("routingConfig", {"routingMode": "REGIONAL"})
        resource.setdefault("networkFirewallPolicyEnforcementOrder", "AFTER_CLASSIC_FIREWALL")
        resource["selfLinkWithId"] = (
            f"{BASE_URL}projects/{loc.project}/global/networks/{resource['id']}"
        )
        return _nothing

    def _network_delete(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        network = self._existing(loc)
        # An auto-mode network's own subnetworks go with it; anything else
        # attached to it (custom subnetworks, firewalls) blocks the delete.
        own = set(network.get("subnetworks", [])) if network.get("autoCreateSubnetworks") else set()
        for collection in ("subnetworks", "firewalls"):
            for user, resource in self.store.scan(loc.project, collection):
                on_network = (
                    full_url(str(resource.get("network", "")), loc.project) == loc.self_link
                )
                if on_network and user.self_link not in own:
                    raise errors.in_use("network", loc.path, user.path)

        def release() -> None:
            for link in own:
                subnet = parse_link(link, loc.project)
                if subnet is not None:
                    self.store.remove(subnet)

        return self._delete(call, before=release)

    def _subnetwork_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        try:
            cidr = ipaddress.ip_network(str(resource.get("ipCidrRange", "")))
        except ValueError as exc:
            raise errors.invalid(
                f"Invalid value for field 'resource.ipCidrRange': '{resource.get('ipCidrRange')}'. "
                "Invalid IPCidrRange."
            ) from exc
        resource["gatewayAddress"] = str(cidr.network_address + 1)
        if "network" in resource:
            resource["network"] = full_url(resource["network"], loc.project)
        resource.setdefault("privateIpGoogleAccess", False)
        resource.setdefault("privateIpv6GoogleAccess", "DISABLE_GOOGLE_ACCESS")
        resource.setdefault("purpose", "PRIVATE")
        resource.setdefault("stackType", "IPV4_ONLY")
        resource["state"] = "READY"
        return _nothing

    def _firewall_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        resource.setdefault("network", f"{BASE_URL}projects/{loc.project}/global/networks/default")
        resource.setdefault("direction", "INGRESS")
        resource.setdefault("priority", 1000)
        resource.setdefault("disabled", False)
        resource.setdefault("logConfig", {"enable": False})
        sources = ("sourceRanges", "sourceTags", "sourceServiceAccounts")
        if resource["direction"] == "INGRESS" and not any(k in resource for k in sources):
            resource["sourceRanges"] = ["0.0.0.0/0"]
        network = self.store.get(self._resolve(call, resource["network"], "networks"))
        if network is None:
            raise errors.not_found(self._resolve(call, resource["network"], "networks").path)
        return _nothing

    def _backend_service_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        resource.setdefault("description", "")
        resource.setdefault("affinityCookieTtlSec", 0)
        resource.setdefault("sessionAffinity", "NONE")
        resource.setdefault("timeoutSec", 30)
        resource.setdefault("loadBalancingScheme", "EXTERNAL")
        resource.setdefault("protocol", "HTTP")
        return _nothing

    # -- addresses -------------------------------------------------------------------

    def _address_insert(self, call: Call, loc: Loc, resource: dict[str, Any]) -> Callable[[], None]:
        resource.setdefault("addressType", "EXTERNAL")
        resource.setdefault("description", "")
        resource.setdefault("networkTier", "PREMIUM")
        if resource["addressType"] == "INTERNAL":
            resource.setdefault("purpose", "GCE_ENDPOINT")
        resource["status"] = "RESERVED"
        if not resource.get("address"):
            resource["address"] = self.store.allocate_ip(
                external=resource["addressType"] != "INTERNAL"
            )
        resource.pop("users", None)
        return _nothing

    def _address_delete(self, call: Call) -> dict[str, Any]:
        resource = self._existing(call.loc())
        if resource.get("users"):
            raise errors.in_use("address", call.loc().path, _path_of(resource["users"][0]))
        return self._delete(call)

    def _address_by_ip(self, project: str, region: str | None, ip: str) -> Loc | None:
        for loc, resource in self.store.scan(project, "addresses"):
            if resource.get("address") == ip and (region is None or loc.scope_name == region):
                return loc
        return None

    def _use_address(self, address: Loc | None, user: str) -> None:
        if address is None:
            return
        resource = self.store.get(address)
        if resource is not None:
            users = resource.setdefault("users", [])
            if user not in users:
                users.append(user)
            resource["status"] = "IN_USE"

    def _release_addresses(self, project: str, user: str) -> None:
        for _, resource in self.store.scan(project, "addresses"):
            if user in resource.get("users", []):
                resource["users"].remove(user)
                if not resource["users"]:
                    del resource["users"]
                    resource["status"] = "RESERVED"

    def _ip_of(self, call: Call, value: str) -> tuple[str, Loc | None]:
        """An IP given as a literal or as a link to an address: the IP and its address."""
        if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", value):
            scope, scope_name = call.scope
            return value, self._address_by_ip(
                call.project, scope_name if scope == "regions" else None, value
            )
        loc = self._resolve(call, value, "addresses")
        address = self.store.get(loc)
        if address is None:
            raise errors.not_found(loc.path)
        return str(address["address"]), loc

    # -- target pools ----------------------------------------------------------------

    def _target_pool_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        resource.setdefault("sessionAffinity", "NONE")
        resource["instances"] = [
            self._instance_link(call, i) for i in resource.get("instances", [])
        ]
        if not resource["instances"]:
            del resource["instances"]
        return _nothing

    def _instance_link(self, call: Call, link: str) -> str:
        loc = self._resolve(call, link, "instances")
        if loc.scope != "zones":
            raise errors.invalid(f"Invalid value for field 'resource.instances': '{link}'.")
        return loc.self_link

    def _target_pool_delete(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        self._existing(loc)
        for user, rule in self.store.scan(loc.project, "forwardingRules"):
            if rule.get("target") == loc.self_link:
                raise errors.in_use("target pool", loc.path, user.path)
        return self._delete(call)

    def _pool_members(self, call: Call) -> list[str]:
        refs = call.body.get("instances") or []
        return [self._instance_link(call, str(ref.get("instance", ""))) for ref in refs]

    def _target_pool_add(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        pool = self._existing(loc)
        members = self._pool_members(call)

        def apply() -> None:
            for link in members:
                instance = parse_link(link, loc.project)
                if instance is None or self.store.get(instance) is None:
                    raise errors.not_found(_path_of(link))
            current = self._existing(loc)
            listed = current.setdefault("instances", [])
            listed.extend(m for m in members if m not in listed)

        return self._operation(call, loc, apply, pool["id"])

    def _target_pool_remove(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        pool = self._existing(loc)
        members = set(self._pool_members(call))

        def apply() -> None:
            current = self._existing(loc)
            kept = [m for m in current.get("instances", []) if m not in members]
            if kept:
                current["instances"] = kept
            else:
                current.pop("instances", None)

        return self._operation(call, loc, apply, pool["id"])

    # -- forwarding rules ------------------------------------------------------------

    def _forwarding_rule_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        resource.setdefault("IPProtocol", "TCP")
        resource.setdefault("loadBalancingScheme", "EXTERNAL")
        resource.setdefault("networkTier", "PREMIUM")
        resource["selfLinkWithId"] = f"{loc.self_link.rsplit('/', 1)[0]}/{resource['id']}"
        external = resource["loadBalancingScheme"] == "EXTERNAL"
        address: Loc | None = None
        if resource.get("IPAddress"):
            resource["IPAddress"], address = self._ip_of(call, str(resource["IPAddress"]))
        else:
            resource["IPAddress"] = self.store.allocate_ip(external=external)
        port_range = resource.get("portRange")
        if port_range and "-" not in str(port_range):
            resource["portRange"] = f"{port_range}-{port_range}"
        for field, collection in (("network", "networks"), ("subnetwork", "subnetworks")):
            if field in resource:
                resource[field] = self._resolve(call, resource[field], collection).self_link
        if "target" in resource:
            resource["target"] = self._check_target(call, str(resource["target"]))

        def after() -> None:
            # Several rules may share an IP (TCP and UDP, or distinct ports);
            # the same protocol on overlapping ports is refused, inside the
            # operation, as IP_IN_USE_BY_ANOTHER_RESOURCE (HTTP 409).
            for other_loc, other in self.store.scan(loc.project, "forwardingRules"):
                if other_loc == loc or other_loc.scope_name != loc.scope_name:
                    continue
                if (
                    other.get("IPAddress") == resource["IPAddress"]
                    and other.get("IPProtocol") == resource["IPProtocol"]
                    and _ports_overlap(other, resource)
                ):
                    raise ApiError(
                        409,
                        f"IP '{resource['IPAddress']}' is already being used by another resource.",
                        "ipInUseByAnotherResource",
                    )
            self._use_address(address, loc.self_link)

        return after

    def _check_target(self, call: Call, target: str) -> str:
        scope, scope_name = call.scope
        loc = parse_link(target, call.project, scope, scope_name)
        if loc is None:
            raise errors.invalid(f"Invalid value for field 'resource.target': '{target}'.")
        if loc.collection == "targetPools" and self.store.get(loc) is None:
            raise errors.not_found(loc.path)
        return loc.self_link

    def _forwarding_rule_set_target(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        rule = self._existing(loc)
        target = self._check_target(call, str(call.body.get("target", "")))

        def apply() -> None:
            current = self._existing(loc)
            current["target"] = target
            current["fingerprint"] = fingerprint()

        return self._operation(call, loc, apply, rule["id"])

    # -- disks -----------------------------------------------------------------------

    def _disk_insert(self, call: Call, loc: Loc, resource: dict[str, Any]) -> Callable[[], None]:
        resource.update(self._disk_defaults(call, loc, resource))
        resource.pop("users", None)
        return _nothing

    def _disk_defaults(self, call: Call, loc: Loc, spec: dict[str, Any]) -> dict[str, Any]:
        zone_url = self._scope_url(loc)
        out: dict[str, Any] = {
            "type": f"{zone_url}/diskTypes/{str(spec.get('type') or 'pd-standard').rsplit('/', 1)[-1]}",
            "status": "READY",
            "physicalBlockSizeBytes": "4096",
            "zone": zone_url,
        }
        size = spec.get("sizeGb")
        source_image = spec.get("sourceImage")
        if source_image:
            image = self._image(call, str(source_image))
            out["sourceImage"] = image["selfLink"]
            out["sourceImageId"] = image["id"]
            size = size or image.get("diskSizeGb", "10")
        out["sizeGb"] = str(size or "10")
        return out

    def _image(self, call: Call, link: str) -> dict[str, Any]:
        family = re.search(r"(?:projects/([^/]+)/)?global/images/family/([^/]+)$", link)
        if family:
            project = family.group(1) or call.project
            image = self._latest_image(project, family.group(2))
            if image is None:
                raise errors.not_found(f"projects/{project}/global/images/family/{family.group(2)}")
            return image
        loc = parse_link(link, call.project, "global", None)
        if loc is None or loc.collection != "images":
            raise errors.invalid(f"Invalid value for field 'resource.sourceImage': '{link}'.")
        return self._existing(loc)

    def _disk_delete(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        disk = self._existing(loc)
        if disk.get("users"):
            raise errors.in_use("disk", loc.path, _path_of(disk["users"][0]))
        return self._delete(call)

    def _disk_resize(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        disk = self._existing(loc)
        size = int(call.body.get("sizeGb", 0))
        if size <= int(disk.get("sizeGb", 0)):
            raise errors.invalid(
                f"Invalid value for field 'sizeGb': '{size}'. New disk size '{size}' GiB must be "
                f"larger than existing size '{disk.get('sizeGb')}' GiB."
            )

        def apply() -> None:
            self._existing(loc)["sizeGb"] = str(size)

        return self._operation(call, loc, apply, disk["id"])

    # -- instances -------------------------------------------------------------------

    def _instance_insert(
        self, call: Call, loc: Loc, resource: dict[str, Any]
    ) -> Callable[[], None]:
        zone_url = self._scope_url(loc)
        region = (loc.scope_name or "").rsplit("-", 1)[0]
        machine = str(resource.get("machineType", "n1-standard-1")).rsplit("/", 1)[-1]
        resource["machineType"] = f"{zone_url}/machineTypes/{machine}"
        resource["status"] = "RUNNING"
        resource.setdefault("cpuPlatform", "Intel Broadwell")
        resource.setdefault("deletionProtection", False)
        resource.setdefault("startRestricted", False)
        resource["lastStartTimestamp"] = resource["creationTimestamp"]
        scheduling = {
            "automaticRestart": True,
            "onHostMaintenance": "MIGRATE",
            "preemptible": False,
        }
        resource["scheduling"] = {**scheduling, **resource.get("scheduling", {})}
        metadata = resource.get("metadata") or {}
        resource["metadata"] = {
            **metadata,
            "kind": "compute#metadata",
            "fingerprint": fingerprint(),
        }
        if "tags" in resource:
            resource["tags"] = {**resource["tags"], "fingerprint": fingerprint()}
        new_disks: list[tuple[Loc, dict[str, Any]]] = []
        used_disks: list[Loc] = []
        attached = []
        for index, spec in enumerate(resource.get("disks", [])):
            disk = self._attached_disk(spec, index)
            if "initializeParams" in spec:
                params = spec["initializeParams"]
                name = params.get("diskName") or (loc.name if index == 0 else f"{loc.name}-{index}")
                disk_loc = Loc(loc.project, "zones", loc.scope_name, "disks", name)
                if self.store.get(disk_loc) is not None:
                    raise errors.already_exists(disk_loc.path)
                new_disk = {
                    "kind": "compute#disk",
                    "id": new_id(),
                    "creationTimestamp": resource["creationTimestamp"],
                    "name": name,
                    "selfLink": disk_loc.self_link,
                    "labelFingerprint": fingerprint(),
                    **self._disk_defaults(
                        call,
                        disk_loc,
                        {
                            "type": params.get("diskType"),
                            "sizeGb": params.get("diskSizeGb"),
                            "sourceImage": params.get("sourceImage"),
                        },
                    ),
                    "users": [loc.self_link],
                }
                if params.get("labels"):
                    new_disk["labels"] = params["labels"]
                disk.pop("initializeParams", None)
                disk["autoDelete"] = spec.get("autoDelete", True)
                disk["source"] = disk_loc.self_link
                disk["diskSizeGb"] = new_disk["sizeGb"]
                new_disks.append((disk_loc, new_disk))
            else:
                disk_loc = self._resolve(call, str(spec.get("source", "")), "disks")
                disk["source"] = disk_loc.self_link
                used_disks.append(disk_loc)
            attached.append(disk)
        resource["disks"] = attached
        addresses: list[Loc] = []
        nics = []
        for index, spec in enumerate(resource.get("networkInterfaces", [])):
            nic = dict(spec)
            nic["kind"] = "compute#networkInterface"
            nic["name"] = f"nic{index}"
            nic["fingerprint"] = fingerprint()
            nic["stackType"] = nic.get("stackType", "IPV4_ONLY")
            nic["network"] = full_url(nic.get("network", "global/networks/default"), loc.project)
            nic["subnetwork"] = full_url(
                nic.get("subnetwork", f"regions/{region}/subnetworks/default"),
                loc.project,
                "regions",
                region,
            )
            # Addresses an instance uses live in its zone's region.
            params = {"project": call.project, "region": region}
            regional = Call(call.method, params, {}, None)
            if nic.get("networkIP"):
                nic["networkIP"], address = self._ip_of(regional, nic["networkIP"])
                addresses.extend([address] if address else [])
            else:
                nic["networkIP"] = self.store.allocate_ip(external=False)
            configs = []
            for given in nic.get("accessConfigs", []):
                config = {
                    "kind": "compute#accessConfig",
                    "type": "ONE_TO_ONE_NAT",
                    "name": "External NAT",
                    "networkTier": "PREMIUM",
                    **given,
                }
                if config.get("natIP"):
                    config["natIP"], address = self._ip_of(regional, config["natIP"])
                    addresses.extend([address] if address else [])
                else:
                    config["natIP"] = self.store.allocate_ip(external=True)
                configs.append(config)
            if configs:
                nic["accessConfigs"] = configs
            nics.append(nic)
        if nics:
            resource["networkInterfaces"] = nics

        def after() -> None:
            for disk_loc in used_disks:
                disk = self.store.get(disk_loc)
                if disk is None:
                    raise errors.not_found(disk_loc.path)
                if disk.get("users"):
                    raise errors.in_use("disk", disk_loc.path, _path_of(disk["users"][0]))
            for disk_loc, new_disk in new_disks:
                self.store.put(disk_loc, new_disk)
            for disk_loc in used_disks:
                self._attach(disk_loc, loc.self_link)
            for address in addresses:
                self._use_address(address, loc.self_link)

        return after

    def _attached_disk(self, spec: dict[str, Any], index: int) -> dict[str, Any]:
        disk = {
            "kind": "compute#attachedDisk",
            "type": "PERSISTENT",
            "mode": "READ_WRITE",
            "interface": "SCSI",
            "boot": index == 0 and spec.get("boot", False),
            "autoDelete": False,
            "deviceName": f"persistent-disk-{index}",
            **spec,
            "index": index,
        }
        return disk

    def _attach(self, disk_loc: Loc, instance: str) -> None:
        disk = self._existing(disk_loc)
        users = disk.setdefault("users", [])
        if instance not in users:
            users.append(instance)
        disk["lastAttachTimestamp"] = timestamp()

    def _detach(self, disk_link: str, instance: str, project: str, delete: bool) -> None:
        disk_loc = parse_link(disk_link, project)
        disk = self.store.get(disk_loc) if disk_loc else None
        if disk_loc is None or disk is None:
            return
        if delete:
            self.store.remove(disk_loc)
            return
        users = [u for u in disk.get("users", []) if u != instance]
        if users:
            disk["users"] = users
        else:
            disk.pop("users", None)
        disk["lastDetachTimestamp"] = timestamp()

    def _instance_attach_disk(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        instance = self._existing(loc)
        spec = dict(call.body)
        disk_loc = self._resolve(call, str(spec.get("source", "")), "disks")
        disk = self._existing(disk_loc)
        if disk.get("users") and spec.get("mode", "READ_WRITE") == "READ_WRITE":
            raise errors.in_use("disk", disk_loc.path, _path_of(disk["users"][0]))
        index = len(instance.get("disks", []))
        attached = self._attached_disk({**spec, "source": disk_loc.self_link}, index)
        attached["boot"] = bool(spec.get("boot", False))
        attached["deviceName"] = spec.get("deviceName") or disk_loc.name
        attached["diskSizeGb"] = disk.get("sizeGb")
        names = {d.get("deviceName") for d in instance.get("disks", [])}
        if attached["deviceName"] in names:
            raise errors.invalid(
                f"Invalid value for field 'resource.deviceName': '{attached['deviceName']}'. "
                "Device name is already in use."
            )

        def apply() -> None:
            current = self._existing(loc)
            self._attach(disk_loc, loc.self_link)
            attached["index"] = len(current.setdefault("disks", []))
            current["disks"].append(attached)
            current["fingerprint"] = fingerprint()

        return self._operation(call, loc, apply, instance["id"])

    def _instance_detach_disk(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        instance = self._existing(loc)
        device = call.query["deviceName"]
        if not any(d.get("deviceName") == device for d in instance.get("disks", [])):
            raise errors.invalid(
                f"Invalid value for field 'deviceName': '{device}'. No attached disk found with that device name."
            )

        def apply() -> None:
            current = self._existing(loc)
            kept = []
            for disk in current.get("disks", []):
                if disk.get("deviceName") == device:
                    self._detach(
                        str(disk.get("source", "")), loc.self_link, loc.project, delete=False
                    )
                else:
                    kept.append(disk)
            for index, disk in enumerate(kept):
                disk["index"] = index
            current["disks"] = kept
            current["fingerprint"] = fingerprint()

        return self._operation(call, loc, apply, instance["id"])

    def _instance_delete(self, loc: Loc) -> Callable[[], None]:
        def before() -> None:
            instance = self._existing(loc)
            for disk in instance.get("disks", []):
                self._detach(
                    str(disk.get("source", "")),
                    loc.self_link,
                    loc.project,
                    bool(disk.get("autoDelete")),
                )
            self._release_addresses(loc.project, loc.self_link)

        return before

    def _instance_update(
        self, call: Call, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        loc = call.loc()
        instance = self._existing(loc)

        def apply() -> None:
            change(self._existing(loc))

        return self._operation(call, loc, apply, instance["id"])

    def _instance_set_status(self, status: str, verb: str) -> Handler:
        def handler(call: Call) -> dict[str, Any]:
            def change(instance: dict[str, Any]) -> None:
                instance["status"] = status
                if status == "RUNNING":
                    instance["lastStartTimestamp"] = timestamp()
                else:
                    instance["lastStopTimestamp"] = timestamp()

            return self._instance_update(call, change)

        return handler

    def _instance_set_field(self, field: str) -> Handler:
        def handler(call: Call) -> dict[str, Any]:
            value = copy.deepcopy(call.body)
            return self._instance_update(call, lambda instance: instance.__setitem__(field, value))

        return handler

    def _instance_set_machine_type(self, call: Call) -> dict[str, Any]:
        loc = call.loc()
        machine = str(call.body.get("machineType", "")).rsplit("/", 1)[-1]
        url = f"{self._scope_url(loc)}/machineTypes/{machine}"
        instance = self._existing(loc)
        if instance.get("status") != "TERMINATED":
            raise ApiError(
                400,
                f"The resource '{loc.path}' is not ready: the instance must be stopped to change its machine type",
                "resourceNotReady",
            )
        return self._instance_update(call, lambda i: i.__setitem__("machineType", url))

    def _instance_set_metadata(self, call: Call) -> dict[str, Any]:
        instance = self._existing(call.loc())
        current = instance.get("metadata", {})
        self._check_fingerprint(current, call.body.get("fingerprint"), "fingerprint")
        value = {
            **copy.deepcopy(call.body),
            "kind": "compute#metadata",
            "fingerprint": fingerprint(),
        }
        return self._instance_update(call, lambda i: i.__setitem__("metadata", value))

    def _instance_set_tags(self, call: Call) -> dict[str, Any]:
        instance = self._existing(call.loc())
        self._check_fingerprint(
            instance.get("tags", {}), call.body.get("fingerprint"), "fingerprint"
        )
        value = {**copy.deepcopy(call.body), "fingerprint": fingerprint()}
        return self._instance_update(call, lambda i: i.__setitem__("tags", value))

    def _instance_set_service_account(self, call: Call) -> dict[str, Any]:
        value = [copy.deepcopy(call.body)] if call.body.get("email") else []
        return self._instance_update(call, lambda i: i.__setitem__("serviceAccounts", value))


def _port_set(rule: dict[str, Any]) -> set[int]:
    """The ports a forwarding rule takes: ``portRange``, ``ports``, or all of them."""
    if rule.get("portRange"):
        low, _, high = str(rule["portRange"]).partition("-")
        return set(range(int(low), int(high or low) + 1))
    if rule.get("ports"):
        return {int(p) for p in rule["ports"]}
    return set(range(1, 65536))


def _ports_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(_port_set(a) & _port_set(b))


def _label_ok(text: str, key: bool) -> bool:
    # Lowercase letters (international ones too), digits, "_" and "-"; keys
    # start with a letter. Both at most 63 characters.
    if len(text) > 63 or (key and not (text and text[0].isalpha() and not text[0].isupper())):
        return False
    return all(ch.isdigit() or ch in "_-" or (ch.isalpha() and not ch.isupper()) for ch in text)


def _check_labels(labels: dict[str, Any]) -> None:
    """Label keys and values the API accepts (it refuses uppercase, for one)."""
    if len(labels) > 64:
        raise errors.invalid(
            "Invalid value for field 'labels': a resource can have at most 64 labels."
        )
    for name, value in labels.items():
        if not _label_ok(name, key=True):
            raise errors.invalid(
                f"Invalid value for field 'labels': '{name}'. Label key '{name}' violates format "
                "constraints. The key must start with a lowercase character, can only contain "
                "lowercase letters, numeric characters, underscores and dashes. The key can be "
                "at most 63 characters long. International characters are allowed."
            )
        if not _label_ok(str(value), key=False):
            raise errors.invalid(
                f"Invalid value for field 'labels.value': '{value}'. Label value '{value}' "
                "violates format constraints. The value can only contain lowercase letters, "
                "numeric characters, underscores and dashes. The value can be at most 63 "
                "characters long. International characters are allowed."
            )


def _nothing() -> None:
    return None


def _path_of(link: str) -> str:
    return link.split("/compute/v1/", 1)[-1]


_TERM = re.compile(
    r'\(?\s*(?P<field>[\w.\-]+)\s*(?P<op>!=|=|\beq\b|\bne\b)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s)]+)\s*\)?',
    re.IGNORECASE,
)


def _filtered(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """Apply a list ``filter``: ``field = "v"``, ``!=``, ``eq``/``ne`` (regex), AND-ed.

    ``=`` takes ``*`` wildcards, as the API does; OR is not supported and is
    refused rather than silently ignored.
    """
    if not expression or not expression.strip():
        return items
    if re.search(r"\bOR\b", expression):
        raise errors.invalid("Invalid value for field 'filter': OR is not supported by the fake")
    terms = list(_TERM.finditer(expression))
    leftover = _TERM.sub("", expression)
    if not terms or re.sub(r"\bAND\b", "", leftover, flags=re.IGNORECASE).strip():
        raise errors.invalid(
            f"Invalid value for field 'filter': '{expression}'. Invalid list filter expression."
        )

    def value_of(item: dict[str, Any], path: str) -> str | None:
        current: Any = item
        for part in path.split("."):
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        if isinstance(current, bool):
            return str(current).lower()
        return str(current)

    def matches(item: dict[str, Any]) -> bool:
        for term in terms:
            raw = term.group("value")
            wanted = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
            actual = value_of(item, term.group("field"))
            op = term.group("op").lower()
            if op in ("=", "!="):
                # Only "*" is a wildcard; brackets and "?" are literal, as in the API.
                glob = re.escape(wanted).replace(r"\*", ".*")
                hit = actual is not None and re.fullmatch(glob, actual, re.DOTALL) is not None
            else:
                hit = actual is not None and re.fullmatch(wanted, actual) is not None
            if hit != (op in ("=", "eq")):
                return False
        return True

    return [item for item in items if matches(item)]
