"""gitkube's table of built-in kinds agrees with a real API server's discovery.

The server runs with every alpha and beta API on, so kinds that a cluster
may enable are in the table too, with the scope the server gives them.
"""

from __future__ import annotations

import pytest

from gitkube.domain.scopes import BUILTIN_SCOPES
from gitkube.primitives.kubeapi import AGGREGATED_DISCOVERY, KubeApi
from gitkube.testing.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane

ALL_APIS = ["--runtime-config=api/all=true", "--feature-gates=AllAlpha=true,AllBeta=true"]


def served_kinds(api: KubeApi) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced for every resource the server lists (subresources aside)."""
    found: dict[tuple[str, str], bool] = {}
    for path in ("/api", "/apis"):
        discovery = api.request("GET", path, accept=AGGREGATED_DISCOVERY)
        for group in discovery["items"]:
            name = group.get("metadata", {}).get("name", "")
            for version in group["versions"]:
                for resource in version["resources"]:
                    kind = resource.get("responseKind", {}).get("kind")
                    if kind:
                        found[(name, kind)] = resource["scope"] == "Namespaced"
    return found


@pytest.fixture(scope="module")
def served() -> dict[tuple[str, str], bool]:
    with ControlPlane(apiserver_args=ALL_APIS) as cp:
        return served_kinds(KubeApi.connect(str(cp.kubeconfig)))


def test_every_served_kind_is_in_the_table_with_its_scope(served):
    assert ("apps", "Deployment") in served  # discovery was read
    assert sorted(key for key in served if key not in BUILTIN_SCOPES) == []
    wrong = sorted(key for key, namespaced in served.items() if BUILTIN_SCOPES[key] != namespaced)
    assert wrong == []


def test_the_table_holds_nothing_the_server_does_not_serve(served):
    assert sorted(key for key in BUILTIN_SCOPES if key not in served) == []
