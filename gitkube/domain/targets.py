"""Sync targets: something that can observe, plan and apply a family of resources.

Kubernetes and GCE are both targets offered by built-in plugins through
``gitkube_sync_targets``; a package can add another the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Target(Protocol):
    """The sync side's view of one API (a cluster, a cloud project)."""

    name: str

    def handles(self, obj: Mapping[str, Any]) -> bool:
        """Whether this target applies the rendered object ``obj``."""
        ...

    def plan(self, desired: Sequence[Mapping[str, Any]]) -> Any:
        """Observe what this target owns and plan the changes towards ``desired``."""
        ...
