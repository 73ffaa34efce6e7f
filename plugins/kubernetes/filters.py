"""The Kubernetes target's pruning rules, one named filter each.

Modelled on cli-utils' ``pkg/apply/filter``: a filter looks at one object
gitkube owns and no longer wants, and either lets its deletion through
(``None``) or says why the object must stay. A kept object stays owned (its
label and record are left alone) and is shown in the plan with the reason;
the next sync asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from gitkube.plugin_api import ObjectId


class PruneFilter(Protocol):
    """One rule that can keep an owned object that is no longer desired."""

    @property
    def name(self) -> str: ...

    def filter(self, oid: ObjectId, live: Mapping[str, Any]) -> str | None:
        """Why ``oid`` must not be deleted, or ``None`` when it may."""
        ...


def _is_namespace(oid: ObjectId) -> bool:
    return oid.group == "" and oid.kind == "Namespace"


@dataclass(frozen=True)
class ParentNamespaceFilter:
    """The namespace that holds the ApplySet parent is never pruned: the record lives there."""

    parent_namespace: str
    name: ClassVar[str] = "ParentNamespaceFilter"

    def filter(self, oid: ObjectId, live: Mapping[str, Any]) -> str | None:
        if _is_namespace(oid) and oid.name == self.parent_namespace:
            return "it holds gitkube's ApplySet parent"
        return None


@dataclass(frozen=True)
class LocalNamespacesFilter:
    """A namespace that desired objects are put in is never pruned (cli-utils' rule of the same name)."""

    desired_namespaces: Collection[str]
    name: ClassVar[str] = "LocalNamespacesFilter"

    def filter(self, oid: ObjectId, live: Mapping[str, Any]) -> str | None:
        if _is_namespace(oid) and oid.name in self.desired_namespaces:
            return "objects of the rendered commit are put in it"
        return None


@dataclass(frozen=True)
class NamespaceInUseFilter:
    """A namespace that holds objects gitkube does not own is never pruned.

    Deleting a namespace deletes everything in it; what gitkube does not own
    (and nothing it owns created) is not gitkube's to delete. ``unowned_in``
    names one such object in a namespace, or returns ``None``.
    """

    unowned_in: Callable[[str], str | None]
    name: ClassVar[str] = "NamespaceInUseFilter"

    def filter(self, oid: ObjectId, live: Mapping[str, Any]) -> str | None:
        if not _is_namespace(oid):
            return None
        other = self.unowned_in(oid.name)
        return f"it may hold objects gitkube does not own: {other}" if other else None


def first_refusal(
    filters: Collection[PruneFilter], oid: ObjectId, live: Mapping[str, Any]
) -> str | None:
    """The first filter's reason to keep ``oid`` (``"Name: reason"``), or ``None``."""
    for rule in filters:
        reason = rule.filter(oid, live)
        if reason:
            return f"{rule.name}: {reason}"
    return None
