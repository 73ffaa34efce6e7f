"""One small class per Compute kind: its API mapping, immutable fields, update and prune.

The GCE target (:mod:`.target`) keeps the generic observe/plan/apply loop and
asks the object's kind what differs from one kind to the next: how the KCC
``spec`` becomes the Compute API's body, which fields cannot change in place,
which calls change the others, and whether pruning deletes the resource or
only lets go of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from gitkube.plugin_api import (
    ATTACH_ANNOTATION,
    GCE_ADOPTED_LABEL,
    TARGET_POOL_ANNOTATION,
    ClusterConfig,
    DesiredObject,
)

from .client import GceClient, short_link


@dataclass
class Desired:
    """A rendered object as the API body gitkube sends (``IPAddress`` names an address)."""

    obj: DesiredObject
    kind: ComputeKind
    body: dict[str, Any]
    address: str | None = None  # forwarding rule: the address it uses
    pool: str | None = None  # forwarding rule: the target pool it sends to
    attach_to: str | None = None  # disk: the node/instance to attach to

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.obj.body.get("metadata", {}).get("annotations") or {}


@dataclass(frozen=True)
class Update:
    """What an in-place update of one resource needs besides the resource."""

    client: GceClient
    path: str  # the resource's own path (regions/R/addresses/N)
    fields: set[str]  # the differing fields
    live: Mapping[str, Any]
    adopting: bool
    marker: str  # the ApplySet's description marker
    nodes: list[str] | None  # the cluster's instances, when observed
    what: str  # "ComputeAddress web" for messages


class ComputeKind:
    """A Compute kind gitkube syncs. Subclasses fill in the class attributes."""

    kind: ClassVar[str]
    collection: ClassVar[str]
    scope: ClassVar[str]  # "regions", "zones" or "global"
    labels: ClassVar[bool]  # whether the API type has labels
    immutable: ClassVar[frozenset[str]]  # fields that cannot change in place
    # KCC spec key -> API field, copied as they are.
    fields: ClassVar[Mapping[str, str]]
    # Other spec keys the kind reads (where it lives, or mapped by hand).
    other_keys: ClassVar[frozenset[str]] = frozenset({"location"})
    location_key: ClassVar[str] = "location"
    needs_nodes: ClassVar[bool] = False  # its body names the cluster's instances

    @property
    def handled(self) -> set[str]:
        """Every spec key the kind understands; others are refused."""
        return set(self.fields) | set(self.other_keys)

    def to_api(self, desired: Desired, spec: Mapping[str, Any], cluster: ClusterConfig) -> None:
        """Fill ``desired.body`` (and its references) from the KCC ``spec``."""
        for kcc, api in self.fields.items():
            if kcc in spec:
                desired.body[api] = spec[kcc]

    def send_body(self, desired: Desired, nodes: list[str] | None) -> dict[str, Any]:
        """The body of a create."""
        return dict(desired.body)

    def update(self, desired: Desired, update: Update) -> None:
        """The calls of an in-place update, besides labels (done by the target)."""
        return None

    def kept_when_pruned(self, live: Mapping[str, Any]) -> bool:
        """Whether pruning only lets go (removes gitkube's labels) instead of deleting."""
        return False

    def prune_note(self, live: Mapping[str, Any]) -> str:
        """What the plan says about pruning this resource (why it is only let go)."""
        return ""

    def __repr__(self) -> str:
        return self.kind


class Address(ComputeKind):
    kind = "ComputeAddress"
    collection = "addresses"
    scope = "regions"
    labels = True
    immutable = frozenset(
        {"addressType", "address", "description", "networkTier", "purpose", "ipVersion"}
        | {"prefixLength"}
    )
    fields = MappingProxyType(
        {
            key: key
            for key in (
                "addressType",
                "address",
                "description",
                "networkTier",
                "purpose",
                "ipVersion",
                "prefixLength",
            )
        }
    )

    def kept_when_pruned(self, live: Mapping[str, Any]) -> bool:
        # An IP gitkube did not reserve is let go, never released.
        return (live.get("labels") or {}).get(GCE_ADOPTED_LABEL) == "true"

    def prune_note(self, live: Mapping[str, Any]) -> str:
        if not self.kept_when_pruned(live):
            return ""
        return (
            "adopted address: gitkube lets go of it (removes its labels) and never "
            "releases an IP it did not reserve"
        )


class Disk(ComputeKind):
    kind = "ComputeDisk"
    collection = "disks"
    scope = "zones"
    labels = True
    immutable = frozenset({"type", "description"})
    fields = MappingProxyType({"description": "description"})
    other_keys = frozenset({"location", "size", "type"})

    def to_api(self, desired: Desired, spec: Mapping[str, Any], cluster: ClusterConfig) -> None:
        super().to_api(desired, spec, cluster)
        if "size" in spec:
            desired.body["sizeGb"] = str(spec["size"])
        desired.body["type"] = f"zones/{cluster.zone}/diskTypes/{spec.get('type', 'pd-standard')}"
        attach = desired.annotations.get(ATTACH_ANNOTATION)
        desired.attach_to = str(attach) if attach else None

    def update(self, desired: Desired, update: Update) -> None:
        if "sizeGb" in update.fields:
            update.client.mutate(
                "POST",
                f"{update.path}/resize",
                body={"sizeGb": desired.body["sizeGb"]},
                what=update.what,
            )

    def kept_when_pruned(self, live: Mapping[str, Any]) -> bool:
        return True  # a disk's data is never deleted by a prune

    def prune_note(self, live: Mapping[str, Any]) -> str:
        return (
            "disk kept: gitkube lets go of it (removes its labels) and never deletes "
            "data; delete it by hand once you are sure"
        )


class Firewall(ComputeKind):
    kind = "ComputeFirewall"
    collection = "firewalls"
    scope = "global"
    labels = False
    immutable = frozenset({"network", "direction"})
    fields = MappingProxyType(
        {
            key: key
            for key in (
                "description",
                "sourceRanges",
                "destinationRanges",
                "sourceTags",
                "targetTags",
                "priority",
                "direction",
                "disabled",
            )
        }
    )
    other_keys = frozenset({"networkRef", "allow", "deny"})

    def to_api(self, desired: Desired, spec: Mapping[str, Any], cluster: ClusterConfig) -> None:
        super().to_api(desired, spec, cluster)
        ref = spec.get("networkRef") or {}
        network = ref.get("external") or (
            f"global/networks/{ref['name']}" if ref.get("name") else None
        )
        desired.body["network"] = network or f"global/networks/{cluster.network}"
        for kcc, api in (("allow", "allowed"), ("deny", "denied")):
            if kcc in spec:
                desired.body[api] = [
                    {
                        "IPProtocol": rule["protocol"],
                        **({"ports": rule["ports"]} if rule.get("ports") else {}),
                    }
                    for rule in spec[kcc]
                ]

    def update(self, desired: Desired, update: Update) -> None:
        body = desired.body
        patch = {f: body[f] for f in sorted(update.fields) if f in body and f != "name"}
        if update.adopting:
            patch["description"] = body.get("description", update.marker)
        if patch:
            update.client.mutate(
                "PATCH", update.path, body={"name": desired.name, **patch}, what=update.what
            )


class TargetPool(ComputeKind):
    kind = "ComputeTargetPool"
    collection = "targetPools"
    scope = "regions"
    labels = False
    immutable = frozenset({"description", "sessionAffinity", "failoverRatio"})
    fields = MappingProxyType(
        {key: key for key in ("description", "sessionAffinity", "failoverRatio")}
    )
    other_keys = frozenset({"region"})
    location_key = "region"
    needs_nodes = True

    def send_body(self, desired: Desired, nodes: list[str] | None) -> dict[str, Any]:
        body = dict(desired.body)
        if nodes:
            body["instances"] = list(nodes)
        return body

    def update(self, desired: Desired, update: Update) -> None:
        if "instances" not in update.fields:
            return
        have = {short_link(str(i)) for i in update.live.get("instances") or ()}
        want = set(update.nodes or [])
        for verb, instances in (
            ("addInstance", sorted(want - have)),
            ("removeInstance", sorted(have - want)),
        ):
            if instances:
                update.client.mutate(
                    "POST",
                    f"{update.path}/{verb}",
                    body={"instances": [{"instance": i} for i in instances]},
                    what=update.what,
                )


class ForwardingRule(ComputeKind):
    kind = "ComputeForwardingRule"
    collection = "forwardingRules"
    scope = "regions"
    labels = True
    immutable = frozenset(
        {"IPAddress", "IPProtocol", "portRange", "ports", "allPorts", "loadBalancingScheme"}
        | {"description", "networkTier"}
    )
    fields = MappingProxyType(
        {
            "description": "description",
            "ipProtocol": "IPProtocol",
            "portRange": "portRange",
            "ports": "ports",
            "allPorts": "allPorts",
            "loadBalancingScheme": "loadBalancingScheme",
            "networkTier": "networkTier",
        }
    )
    other_keys = frozenset({"location", "ipAddress"})

    def to_api(self, desired: Desired, spec: Mapping[str, Any], cluster: ClusterConfig) -> None:
        super().to_api(desired, spec, cluster)
        ip = spec.get("ipAddress") or {}
        ref = ip.get("addressRef") or {}
        if ref.get("name"):
            desired.address = str(ref["name"])
            desired.body["IPAddress"] = f"regions/{cluster.region}/addresses/{ref['name']}"
        elif ref.get("external") or ip.get("ip"):
            desired.body["IPAddress"] = str(ref.get("external") or ip.get("ip"))
        pool = desired.annotations.get(TARGET_POOL_ANNOTATION)
        if pool:
            desired.pool = str(pool)
            desired.body["target"] = f"regions/{cluster.region}/targetPools/{pool}"

    def update(self, desired: Desired, update: Update) -> None:
        if "target" in update.fields:
            update.client.mutate(
                "POST",
                f"{update.path}/setTarget",
                body={"target": desired.body["target"]},
                what=update.what,
            )


# Apply order (DESIGN §6); deletes run in reverse.
KINDS: tuple[ComputeKind, ...] = (Address(), Disk(), Firewall(), TargetPool(), ForwardingRule())
BY_KIND = {k.kind: k for k in KINDS}
ORDER = {k.kind: i for i, k in enumerate(KINDS)}
