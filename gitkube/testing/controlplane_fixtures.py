"""pytest fixtures for a real Kubernetes control plane: ``controlplane`` and ``kube_namespace``.

::

    def test_apply(controlplane, kube_namespace):
        core = kubernetes.client.CoreV1Api(controlplane.api_client())
        core.create_namespaced_config_map(kube_namespace, {...})

``controlplane`` is one :class:`~gitkube.testing.controlplane.ControlPlane`
(etcd + kube-apiserver on loopback) per test session — per worker under
pytest-xdist, each on its own ports. ``kube_namespace`` is a fresh, uniquely
named namespace per test, deleted when the test ends.

The binaries are built once with ``python -m gitkube.testing.controlplane build``.
If they are missing the fixture fails, it never skips: a suite that silently
skips its Kubernetes tests proves nothing.

What having no controller-manager (nor scheduler, nor kubelet) means
---------------------------------------------------------------------

Only the API server and etcd run. Everything the API server does itself is
real: validation, defaulting, admission, server-side apply and field
managers, dry-run, label and field selectors, resourceVersion conflicts,
RBAC, finalizers blocking deletion, watch. Everything a controller does never
happens, so design tests around it:

* No garbage collector: deleting an owner leaves its dependents
  (``ownerReferences`` are stored but never acted on), and
  ``propagationPolicy=Foreground`` deletes stay pending.
* Namespaces stay ``Terminating`` after deletion (the namespace controller
  empties and finalizes them), and their objects remain readable. Use a fresh
  namespace per test (``kube_namespace``) rather than reusing a name.
* No ``default`` ServiceAccount appears in new namespaces and no token Secrets
  are filled in (ServiceAccount and token controllers). The ServiceAccount
  admission plugin is disabled so Pods can still be created.
* Deployments never get ReplicaSets, ReplicaSets and Jobs never get Pods, Pods
  are never scheduled or run, and no ``status`` is ever written: wait on
  ``metadata.generation`` and object contents, never on readiness.
* Services get a ClusterIP (the API server allocates it) but no
  EndpointSlices; nothing routes traffic.
* CRDs work (the API server serves them) but no webhooks or aggregated APIs
  run unless a test starts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gitkube.testing.controlplane import ControlPlane


@pytest.fixture(scope="session")
def controlplane() -> Iterator[ControlPlane]:
    """A running etcd + kube-apiserver for the whole session (admin kubeconfig at ``.kubeconfig``)."""
    # Imported here, not at the top: this module is loaded by the pytest11
    # entry point into every pytest run of anyone who installed gitkube, and
    # `cryptography` only comes with the `testing` extra.
    try:
        from gitkube.testing.controlplane import (
            BUILD_COMMAND,
            ControlPlane,
            binaries_problem,
            default_bin_dir,
        )
    except ImportError as exc:
        pytest.fail(
            f"the control plane needs gitkube's test extras ({exc}): pip install 'gitkube[testing]'",
            pytrace=False,
        )
    bin_dir = default_bin_dir()
    problem = binaries_problem(bin_dir)
    if problem is not None:
        pytest.fail(
            f"the Kubernetes control-plane binaries are not usable ({problem}).\n"
            f"Build them once (many minutes the first time) with:\n    {BUILD_COMMAND}",
            pytrace=False,
        )
    with ControlPlane(bin_dir) as cp:
        yield cp


def _namespace_prefix(test_name: str) -> str:
    # Namespaces are DNS labels (63 chars, [a-z0-9-]); a readable prefix from
    # the test name tells whose leftovers a namespace holds when debugging.
    prefix = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return prefix or "test"


@pytest.fixture
def kube_namespace(controlplane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of a fresh namespace for this test; deleted afterwards (it then stays Terminating)."""
    name = controlplane.create_namespace(prefix=_namespace_prefix(request.node.name))
    yield name
    controlplane.delete_namespace(name)
