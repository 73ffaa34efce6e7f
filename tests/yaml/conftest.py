"""The kubectl reader peer, built once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitkube.testing.yamlpeer import YamlPeer


@pytest.fixture(scope="session")
def kubectl_reader() -> Iterator[YamlPeer]:
    """kubectl's own YAML reader (built from the control plane's Go modules)."""
    with YamlPeer() as peer:
        yield peer
