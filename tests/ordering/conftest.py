"""The sync fixtures (real control plane, config repos) for ordered-sync tests."""

from tests.sync.conftest import kube, sync_repo

__all__ = ["kube", "sync_repo"]
