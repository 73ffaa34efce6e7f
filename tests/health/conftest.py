"""The sync fixtures (real control plane, config repos) for health tests."""

from tests.sync.conftest import kube, sync_repo

__all__ = ["GHOST_DEPLOYMENT", "kube", "sync_repo"]

# A Deployment that never rolls out by itself: the test control plane runs no
# controllers, so its status is what a test writes.
GHOST_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ghost}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - {name: ghost, image: "ghost:5.0-typo"}
"""
