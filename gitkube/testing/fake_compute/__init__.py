"""A local Compute Engine v1 REST server for tests and demos.

Routes, parameters and payload checks come from Google's discovery document
for compute v1; mutating calls return operations that finish asynchronously;
faults (429, 500, quota, slow or failing operations) can be armed per method.

    from gitkube.testing.fake_compute import FakeCompute
    with FakeCompute(project="my-proj") as gce:
        addresses = gce.client(compute_v1.AddressesClient)

In pytest, use the ``fake_compute`` fixture instead.
"""

from .errors import ApiError
from .faults import Fault, Faults
from .server import FakeCompute, RequestRecord, client_for

__all__ = ["ApiError", "FakeCompute", "Fault", "Faults", "RequestRecord", "client_for"]
