"""The ``fake_compute`` pytest fixture.

One server per test session (starting one costs a thread and a socket;
parsing the 5 MB discovery document is done once per process either way),
reset before every test: each test sees an empty project, no armed faults and
an empty request log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeCompute


@pytest.fixture(scope="session")
def _fake_compute_server() -> Iterator[FakeCompute]:
    with FakeCompute(project="fake-project") as server:
        yield server


@pytest.fixture
def fake_compute(_fake_compute_server: FakeCompute) -> FakeCompute:
    """A running local Compute Engine server with fresh state.

    Attributes: ``endpoint`` (``http://127.0.0.1:PORT``), ``project``,
    ``faults`` (``faults.add(method=..., kind=...)``), ``requests`` (the
    request log) and ``client(ClientClass)`` for a google-cloud-compute
    client pointed at it with anonymous credentials.
    """
    _fake_compute_server.reset()
    return _fake_compute_server
