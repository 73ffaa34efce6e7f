"""Which API resource serves a group and kind, from the API server's aggregated discovery."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from gitkube.plugin_api import AGGREGATED_DISCOVERY, KubeApi

from .preflight import ServedKind


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    listable: bool = True

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
        # Path-segment names (RBAC, most custom resources) may hold ':', ' ', '?', '#'...
        return f"{self.collection_path(namespace, version)}/{quote(name, safe=_PCHAR)}"


# What a URL path segment may hold unescaped (RFC 3986 pchar, less '%').
_PCHAR = "-._~!$&'()*+,;=:@"


class Discovery:
    """Group-kind → API resource, from aggregated discovery (two requests)."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.resources: dict[tuple[str, str], ApiResource] = {}
        # Every version served for each group-kind (an object may name any of them).
        self.versions: dict[tuple[str, str], set[str]] = {}
        self.refresh()

    def refresh(self) -> None:
        self.resources.clear()
        self.versions.clear()
        for root in ("/api", "/apis"):
            doc = self.api.request("GET", root, accept=AGGREGATED_DISCOVERY)
            for group in doc.get("items", ()):
                group_name = group.get("metadata", {}).get("name", "")
                # versions are listed most preferred first
                for version in reversed(group.get("versions", ())):
                    for res in version.get("resources", ()):
                        kind = res.get("responseKind", {}).get("kind")
                        if kind and "/" not in res["resource"]:
                            self.versions.setdefault((group_name, kind), set()).add(
                                version["version"]
                            )
                            self.resources[(group_name, kind)] = ApiResource(
                                group_name,
                                version["version"],
                                kind,
                                res["resource"],
                                res.get("scope") == "Namespaced",
                                "list" in (res.get("verbs") or ()),
                            )

    def find(self, group: str, kind: str) -> ApiResource | None:
        return self.resources.get((group, kind))

    def served(self, group: str, kind: str) -> ServedKind | None:
        res = self.resources.get((group, kind))
        if res is None:
            return None
        versions = frozenset(self.versions.get((group, kind), ()))
        return ServedKind(res.namespaced, versions, "the cluster")
