"""In-memory resources of the fake, per project, and how links between them resolve.

Resources are kept as the JSON the API returns. A resource is addressed by a
:class:`Loc` (project, scope, collection, name); links in request bodies may be
full URLs, ``projects/...`` paths or scope-relative paths
(``zones/z/disks/d``, ``global/networks/n``), as the real API accepts.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .operations import BASE_URL, OperationBook, fingerprint, new_id, timestamp

# The regions the default network has a subnetwork in (Compute Engine creates
# one per region for an auto-mode network).
REGIONS = [
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
]

# Public images that exist in every fake, so boot disks can name them.
PUBLIC_IMAGES = {
    "debian-cloud": [
        ("debian-11-bullseye-v20231010", "debian-11"),
        ("debian-12-bookworm-v20240110", "debian-12"),
    ],
    "cos-cloud": [("cos-stable-109-17800-66-27", "cos-stable")],
}

# Documentation/test address blocks (RFC 5737) for external addresses, so a
# fake address can never be mistaken for a real one.
EXTERNAL_BLOCKS = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")

_LINK = re.compile(
    r"^(?:https?://[^/]+/compute/(?:v1|beta|alpha)/)?(?:projects/(?P<project>[^/]+)/)?"
    r"(?:(?P<scope>zones|regions)/(?P<scope_name>[^/]+)/|global/)?"
    r"(?P<collection>[A-Za-z]+)/(?P<name>[^/]+)$"
)


@dataclass(frozen=True)
class Loc:
    """Where a resource lives."""

    project: str
    scope: str  # "zones", "regions" or "global"
    scope_name: str | None
    collection: str
    name: str

    @property
    def scope_path(self) -> str:
        return f"{self.scope}/{self.scope_name}" if self.scope_name else "global"

    @property
    def path(self) -> str:
        return f"projects/{self.project}/{self.scope_path}/{self.collection}/{self.name}"

    @property
    def self_link(self) -> str:
        return BASE_URL + self.path

    @property
    def collection_key(self) -> tuple[str, str, str | None, str]:
        return (self.project, self.scope, self.scope_name, self.collection)


def full_url(link: str, project: str, scope: str = "global", scope_name: str | None = None) -> str:
    """A link as the API returns it: always a full URL."""
    loc = parse_link(link, project, scope, scope_name)
    return loc.self_link if loc else link


def parse_link(
    link: str, project: str, scope: str = "global", scope_name: str | None = None
) -> Loc | None:
    """The resource a link names; missing project/scope parts come from the caller."""
    match = _LINK.match(link)
    if not match:
        return None
    parts = match.groupdict()
    if parts["scope"]:
        scope, scope_name = parts["scope"], parts["scope_name"]
    elif re.search(r"(^|/)global/", link):
        scope, scope_name = "global", None
    return Loc(
        project=parts["project"] or project,
        scope=scope,
        scope_name=scope_name,
        collection=parts["collection"],
        name=parts["name"],
    )


class Store:
    """All resources and operations of one server. Guard with :attr:`lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ops = OperationBook()
        self._data: dict[tuple[str, str, str | None, str], dict[str, dict[str, Any]]] = {}
        self._seeded: set[str] = set()
        self._next_external = 0
        self._next_internal = 0

    def reset(self) -> None:
        with self.lock:
            self._data.clear()
            self._seeded.clear()
            self.ops.clear()
            self._next_external = 0
            self._next_internal = 0

    def collection(self, key: tuple[str, str, str | None, str]) -> dict[str, dict[str, Any]]:
        self._seed(key[0])
        return self._data.setdefault(key, {})

    def get(self, loc: Loc) -> dict[str, Any] | None:
        return self.collection(loc.collection_key).get(loc.name)

    def put(self, loc: Loc, resource: dict[str, Any]) -> None:
        self.collection(loc.collection_key)[loc.name] = resource

    def remove(self, loc: Loc) -> None:
        self.collection(loc.collection_key).pop(loc.name, None)

    def scan(self, project: str, collection: str) -> Iterator[tuple[Loc, dict[str, Any]]]:
        """Every resource of a collection in a project, over all scopes."""
        self._seed(project)
        for (p, scope, scope_name, coll), items in list(self._data.items()):
            if p == project and coll == collection:
                for name, resource in list(items.items()):
                    yield Loc(p, scope, scope_name, coll, name), resource

    def snapshot(self, loc: Loc) -> dict[str, Any] | None:
        with self.lock:
            found = self.get(loc)
            return copy.deepcopy(found) if found is not None else None

    def allocate_ip(self, external: bool) -> str:
        if external:
            index = self._next_external
            self._next_external += 1
            block = ipaddress.ip_network(EXTERNAL_BLOCKS[(index // 250) % len(EXTERNAL_BLOCKS)])
            return str(block.network_address + 2 + index % 250)
        index = self._next_internal
        self._next_internal += 1
        return str(ipaddress.ip_address("10.128.0.2") + index)

    def _seed(self, project: str) -> None:
        """Create what every project has before anyone touches it: the default network."""
        if project in self._seeded:
            return
        self._seeded.add(project)
        if project in PUBLIC_IMAGES:
            for name, family in PUBLIC_IMAGES[project]:
                loc = Loc(project, "global", None, "images", name)
                self.put(
                    loc,
                    {
                        "kind": "compute#image",
                        "id": new_id(),
                        "creationTimestamp": timestamp(),
                        "name": name,
                        "family": family,
                        "selfLink": loc.self_link,
                        "status": "READY",
                        "sourceType": "RAW",
                        "diskSizeGb": "10",
                        "archiveSizeBytes": "1000000000",
                    },
                )
            return
        network = Loc(project, "global", None, "networks", "default")
        subnet_links = []
        for i, region in enumerate(REGIONS):
            subnet = Loc(project, "regions", region, "subnetworks", "default")
            cidr = ipaddress.ip_network(f"10.{128 + i}.0.0/20")
            self.put(
                subnet,
                {
                    "kind": "compute#subnetwork",
                    "id": new_id(),
                    "creationTimestamp": timestamp(),
                    "name": "default",
                    "network": network.self_link,
                    "ipCidrRange": str(cidr),
                    "gatewayAddress": str(cidr.network_address + 1),
                    "region": f"{BASE_URL}projects/{project}/regions/{region}",
                    "selfLink": subnet.self_link,
                    "fingerprint": fingerprint(),
                    "privateIpGoogleAccess": False,
                    "privateIpv6GoogleAccess": "DISABLE_GOOGLE_ACCESS",
                    "purpose": "PRIVATE",
                    "stackType": "IPV4_ONLY",
                    "state": "READY",
                },
            )
            subnet_links.append(subnet.self_link)
        self.put(
            network,
            {
                "kind": "compute#network",
                "id": new_id(),
                "creationTimestamp": timestamp(),
                "name": "default",
                "description": "Default network for the project",
                "autoCreateSubnetworks": True,
                "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
                "routingConfig": {"routingMode": "REGIONAL"},
                "selfLink": network.self_link,
                "selfLinkWithId": network.self_link,
                "subnetworks": subnet_links,
            },
        )
