"""What a change to the rendered objects risks, told before anyone merges it.

A reviewer sees YAML; sync sees consequences. This module reads both sides of
a diff (offline: two sets of rendered objects) and names the consequences a
reviewer must not miss, each a :class:`Risk`:

* ``replacement``: a field the API cannot change in place changes (sync needs
  ``--allow-replace``, and the object is deleted and created again);
* ``data-loss``: an object that holds data or an identity is removed
  (volumes, disks, static IPs, namespaces, CRDs and their custom resources);
* ``sync-would-refuse``: more of the owned objects are removed than
  ``sync.maxPruneFraction`` allows;
* ``exposure``: more of the cluster reachable from outside (new firewall
  ports or source ranges, traffic forwarded to ports nobody listed);
* ``render-warning``: what the render of the new side warned about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.domain.context import Problem
from gitkube.domain.resources import GCE_GROUP

HIGH = "high"
WARNING = "warning"

# Fields the API server refuses to change in place, by kind (dotted paths under
# the object). A change to one of them needs the object deleted and created.
IMMUTABLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec.selector",),
    "ReplicaSet": ("spec.selector",),
    "DaemonSet": ("spec.selector",),
    "StatefulSet": (
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
        "spec.podManagementPolicy",
    ),
    "Job": ("spec.selector", "spec.template"),
    "Service": ("spec.clusterIP", "spec.clusterIPs"),
    "PersistentVolumeClaim": (
        "spec.accessModes",
        "spec.storageClassName",
        "spec.volumeName",
        "spec.selector",
        "spec.volumeMode",
        "spec.dataSource",
    ),
    "PersistentVolume": (
        "spec.csi",
        "spec.gcePersistentDisk",
        "spec.hostPath",
        "spec.local",
        "spec.nfs",
        "spec.volumeMode",
    ),
    # Compute Engine resources the API cannot update in place.
    "ComputeAddress": ("spec.address", "spec.addressType", "spec.location", "spec.networkTier"),
    "ComputeDisk": ("spec.type", "spec.location", "spec.image", "spec.snapshot"),
    "ComputeForwardingRule": (
        "spec.ipAddress",
        "spec.ipProtocol",
        "spec.portRange",
        "spec.ports",
        "spec.location",
        "spec.loadBalancingScheme",
    ),
}

# Removing one of these loses data or an identity that cannot be had back.
DATA_KINDS: Mapping[str, str] = {
    "PersistentVolumeClaim": "the volume's data may be deleted with it",
    "PersistentVolume": "the volume and its data may be deleted with it",
    "ComputeDisk": "the disk leaves gitkube's care (sync releases it; delete it by hand)",
    "ComputeAddress": "the static IP is released and gone for good",
    "Namespace": "everything in the namespace is deleted with it",
    "CustomResourceDefinition": "every custom resource of this kind is deleted with it",
}


@dataclass(frozen=True)
class Risk:
    """One consequence of a change, worded for the pull request."""

    severity: str  # HIGH or WARNING
    reason: str  # replacement | data-loss | sync-would-refuse | exposure | render-warning
    target: str  # kubernetes | gce
    app: str | None
    object: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "reason": self.reason,
            "target": self.target,
            "app": self.app,
            "object": self.object,
            "message": self.message,
        }


@dataclass(frozen=True)
class ObjectPair:
    """One object on both sides of a diff (``None`` where it does not exist)."""

    app: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    @property
    def body(self) -> Mapping[str, Any]:
        body = self.new if self.new is not None else self.old
        assert body is not None
        return body

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def target(self) -> str:
        group = str(self.body.get("apiVersion", "")).split("/", 1)[0]
        return "gce" if group == GCE_GROUP else "kubernetes"

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


def risks_of(
    pairs: Iterable[ObjectPair],
    *,
    owned_before: int,
    max_prune_fraction: float,
    head_objects: Iterable[tuple[str, Mapping[str, Any]]] = (),
    warnings: Iterable[Problem] = (),
) -> list[Risk]:
    """Every risk of a change, most severe first.

    :param pairs: the objects that differ, old and new body each.
    :param owned_before: how many objects the base side has (what sync owns).
    :param max_prune_fraction: the head's ``sync.maxPruneFraction``.
    :param head_objects: ``(app, body)`` of the head side's objects that checks
        of a whole app need (forwarding rules and firewalls, for ports
        forwarded but not listed).
    :param warnings: the head render's warnings.
    """
    changed = list(pairs)
    found: list[Risk] = []
    for pair in changed:
        found.extend(_replacements(pair))
        found.extend(_data_loss(pair))
        found.extend(_widened_firewall(pair))
    found.extend(_prune_refusal(changed, owned_before, max_prune_fraction))
    found.extend(_unlisted_forwarded_ports(changed, head_objects))
    found.extend(
        Risk(WARNING, "render-warning", "kubernetes", w.app, w.obj, f"{w.message}" + _at(w.file))
        for w in warnings
    )
    order = {HIGH: 0, WARNING: 1}
    return sorted(found, key=lambda r: (order[r.severity], r.reason, r.app or "", r.object or ""))


def _at(file: str | None) -> str:
    return f" ({file})" if file else ""


def _get(body: Mapping[str, Any] | None, dotted: str) -> Any:
    node: Any = body
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _replacements(pair: ObjectPair) -> list[Risk]:
    if pair.old is None or pair.new is None:
        return []
    fields = [
        f for f in IMMUTABLE_FIELDS.get(pair.kind, ()) if _get(pair.old, f) != _get(pair.new, f)
    ]
    if pair.kind in ("ConfigMap", "Secret") and pair.old.get("immutable") is True:
        fields += [
            f for f in ("data", "binaryData", "stringData") if pair.old.get(f) != pair.new.get(f)
        ]
    if pair.kind == "ComputeDisk":
        before, after = _get(pair.old, "spec.size"), _get(pair.new, "spec.size")
        if isinstance(before, int) and isinstance(after, int) and after < before:
            fields.append("spec.size (disks only grow)")
    if not fields:
        return []
    return [
        Risk(
            HIGH,
            "replacement",
            pair.target,
            pair.app,
            pair.describe(),
            f"{pair.describe()} forces replacement: {', '.join(fields)} cannot change in place "
            "(sync needs --allow-replace; the object is deleted and created again)",
        )
    ]


def _data_loss(pair: ObjectPair) -> list[Risk]:
    if pair.new is not None or pair.kind not in DATA_KINDS:
        return []
    return [
        Risk(
            HIGH,
            "data-loss",
            pair.target,
            pair.app,
            pair.describe(),
            f"{pair.describe()} is removed: {DATA_KINDS[pair.kind]}",
        )
    ]


def _prune_refusal(
    pairs: list[ObjectPair], owned_before: int, max_prune_fraction: float
) -> list[Risk]:
    removed = sum(1 for p in pairs if p.new is None)
    if not removed or not owned_before or removed / owned_before <= max_prune_fraction:
        return []
    return [
        Risk(
            HIGH,
            "sync-would-refuse",
            "kubernetes",
            None,
            None,
            f"{removed} of {owned_before} objects are removed, more than sync.maxPruneFraction "
            f"({max_prune_fraction:g}) allows: sync would refuse without --allow-mass-prune",
        )
    ]


def _firewall_openings(body: Mapping[str, Any] | None) -> set[tuple[str, str, str]]:
    """(source range, protocol, port) triples a ComputeFirewall lets in."""
    if body is None:
        return set()
    ranges = _get(body, "spec.sourceRanges") or ["0.0.0.0/0"]
    openings: set[tuple[str, str, str]] = set()
    for rule in _get(body, "spec.allow") or ():
        if not isinstance(rule, Mapping):
            continue
        protocol = str(rule.get("protocol", ""))
        for port in rule.get("ports") or ["all"]:
            openings.update((str(r), protocol, str(port)) for r in ranges)
    return openings


def _widened_firewall(pair: ObjectPair) -> list[Risk]:
    if pair.kind != "ComputeFirewall" or pair.new is None:
        return []
    new = _firewall_openings(pair.new) - _firewall_openings(pair.old)
    if not new:
        return []
    shown = ", ".join(f"{proto}/{port} from {rng}" for rng, proto, port in sorted(new)[:8])
    more = f" and {len(new) - 8} more" if len(new) > 8 else ""
    world = any(rng in ("0.0.0.0/0", "::/0") for rng, _p, _port in new)
    return [
        Risk(
            HIGH if world else WARNING,
            "exposure",
            "gce",
            pair.app,
            pair.describe(),
            f"{pair.describe()} opens {shown}{more}" + (" (the whole internet)" if world else ""),
        )
    ]


def _forwarded_ports(body: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    port_range = _get(body, "spec.portRange")
    if isinstance(port_range, str) and port_range:
        low, _, high = port_range.partition("-")
        if low.isdigit() and (high or low).isdigit():
            ports.update(range(int(low), int(high or low) + 1))
    for port in _get(body, "spec.ports") or ():
        if str(port).isdigit():
            ports.add(int(port))
    return ports


def _unlisted_forwarded_ports(
    pairs: list[ObjectPair], head_objects: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[Risk]:
    """Forwarding rules of changed apps that forward ports their firewall does not list."""
    changed_apps = {p.app for p in pairs if p.new is not None}
    rules: dict[str, list[Mapping[str, Any]]] = {}
    listed: dict[str, set[int]] = {}
    for app, body in head_objects:
        if app not in changed_apps:
            continue
        if body.get("kind") == "ComputeForwardingRule":
            rules.setdefault(app, []).append(body)
        elif body.get("kind") == "ComputeFirewall":
            for _rng, _proto, port in _firewall_openings(body):
                if port.isdigit():
                    listed.setdefault(app, set()).add(int(port))
    found = []
    for app, app_rules in sorted(rules.items()):
        for rule in app_rules:
            extra = _forwarded_ports(rule) - listed.get(app, set())
            if not extra:
                continue
            pair = ObjectPair(app, None, rule)
            found.append(
                Risk(
                    WARNING,
                    "exposure",
                    "gce",
                    app,
                    pair.describe(),
                    f"{pair.describe()} forwards {len(extra)} port"
                    f"{'s' if len(extra) != 1 else ''} the app does not list "
                    f"({_ranges(sorted(extra))})",
                )
            )
    return found


def _ranges(ports: list[int]) -> str:
    runs: list[str] = []
    start = previous = ports[0]
    for port in [*ports[1:], None]:
        if port is not None and port == previous + 1:
            previous = port
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if port is not None:
            start = previous = port
    return ", ".join(runs[:5]) + (" ..." if len(runs) > 5 else "")
