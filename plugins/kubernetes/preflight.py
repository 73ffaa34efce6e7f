"""The Kubernetes target's checks of a whole plan, before its first write.

kubectl refuses a file whose kinds the cluster does not serve before it
applies anything; gitkube does the same for the whole rendered commit, and
lists every problem at once. One named check per rule, as the pruning rules
of :mod:`gitkube_plugins.kubernetes_filters` (after cli-utils'
``pkg/apply/filter``): a check looks at one desired object and says what
stops it from being applied, or ``None``.

What the cluster serves comes from its discovery, which always wins over what
the render assumed; a CustomResourceDefinition applied earlier in the same
run counts as served.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from gitkube.plugin_api import DesiredObject, GitkubeError, ObjectId


@dataclass(frozen=True)
class ServedKind:
    """One kind as the cluster (or a CRD of this run) serves it."""

    namespaced: bool
    versions: frozenset[str]
    source: str  # "the cluster" or "CustomResourceDefinition <name> in this commit"


KindLookup = Callable[[str, str], ServedKind | None]


class PlanCheck(Protocol):
    """One rule an object must pass before anything of the plan is applied."""

    @property
    def name(self) -> str: ...

    def check(self, obj: DesiredObject) -> str | None:
        """What stops ``obj`` from being applied, or ``None``."""
        ...


def _group_kind(group: str, kind: str) -> str:
    return f"{kind}.{group}" if group else kind


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def version_of(body: Mapping[str, Any]) -> str:
    api_version = str(body.get("apiVersion", ""))
    return api_version.split("/", 1)[1] if "/" in api_version else api_version


def crd_kinds(desired: Iterable[DesiredObject]) -> dict[tuple[str, str], ServedKind]:
    """(group, kind) -> what each CustomResourceDefinition among ``desired`` will serve."""
    kinds: dict[tuple[str, str], ServedKind] = {}
    for obj in desired:
        if obj.id.kind != "CustomResourceDefinition" or obj.id.group != "apiextensions.k8s.io":
            continue
        spec = obj.body.get("spec") or {}
        names = spec.get("names") or {}
        versions = frozenset(
            str(v.get("name"))
            for v in spec.get("versions") or ()
            if isinstance(v, Mapping) and v.get("served", True)
        )
        kinds[(str(spec.get("group", "")), str(names.get("kind", "")))] = ServedKind(
            namespaced=spec.get("scope") == "Namespaced",
            versions=versions,
            source=f"CustomResourceDefinition {obj.id.name} in this commit",
        )
    return kinds


@dataclass(frozen=True)
class ServedKindCheck:
    """The cluster serves the object's kind, or a CRD in the same commit defines it."""

    lookup: KindLookup
    name: ClassVar[str] = "ServedKindCheck"

    def check(self, obj: DesiredObject) -> str | None:
        group, kind = obj.id.group, obj.id.kind
        if self.lookup(group, kind) is not None:
            return None
        what = _group_kind(group, kind)
        if group and "." in group:
            return (
                f"the cluster does not serve {what} and no CustomResourceDefinition in this "
                "commit defines it; add its CRD to the repo or install it first"
            )
        return f"the cluster does not serve {what}"


@dataclass(frozen=True)
class ServedVersionCheck:
    """The object's apiVersion is one the cluster (or its CRD) serves for its kind."""

    lookup: KindLookup
    name: ClassVar[str] = "ServedVersionCheck"

    def check(self, obj: DesiredObject) -> str | None:
        served = self.lookup(obj.id.group, obj.id.kind)
        version = version_of(obj.body)
        if served is None or version in served.versions:
            return None
        listed = ", ".join(_api_version(obj.id.group, v) for v in sorted(served.versions))
        return (
            f"apiVersion {_api_version(obj.id.group, version)} is not served for {obj.id.kind} "
            f"(served: {listed or 'none'}); update the manifest"
        )


@dataclass(frozen=True)
class ScopeCheck:
    """The object has a namespace exactly when its kind is namespaced, as the cluster says."""

    lookup: KindLookup
    name: ClassVar[str] = "ScopeCheck"

    def check(self, obj: DesiredObject) -> str | None:
        served = self.lookup(obj.id.group, obj.id.kind)
        if served is None:
            return None
        what = _group_kind(obj.id.group, obj.id.kind)
        if not served.namespaced and obj.id.namespace:
            return (
                f"{what} is cluster-scoped ({served.source}) but the object has namespace "
                f'"{obj.id.namespace}"; remove metadata.namespace'
            )
        if served.namespaced and not obj.id.namespace:
            return (
                f"{what} is namespaced ({served.source}) but the object has no namespace "
                "(its CRD is not in the repo, so the render could not know); "
                "set metadata.namespace or add the CRD to the repo"
            )
        return None


@dataclass(frozen=True)
class TerminatingNamespaceCheck:
    """The object's namespace is not being deleted: the API server refuses anything new in it."""

    terminating: Collection[str]
    name: ClassVar[str] = "TerminatingNamespaceCheck"

    def check(self, obj: DesiredObject) -> str | None:
        if obj.id.namespace in self.terminating:
            return (
                f'namespace "{obj.id.namespace}" is being deleted (Terminating); nothing can '
                "be created in it until it is gone"
            )
        return None


def plan_problems(checks: Sequence[PlanCheck], desired: Iterable[DesiredObject]) -> list[str]:
    """Every problem of every object, one line each, naming the file, app and object."""
    problems = []
    for obj in desired:
        for rule in checks:
            problem = rule.check(obj)
            if problem:
                problems.append(_where(obj) + problem)
                break  # one problem per object: the first explains the rest
    return problems


def _where(obj: DesiredObject) -> str:
    oid: ObjectId = obj.id
    parts = [obj.path] if obj.path else []
    if obj.app:
        parts.append(f"app {obj.app}")
    parts.append(str(oid))
    return ": ".join(parts) + ": "


SHOWN = 20


def refuse_plan(problems: Sequence[str]) -> GitkubeError:
    """One error listing every problem (the first :data:`SHOWN`), nothing applied."""
    head = "the rendered commit cannot be applied, nothing was changed"
    if len(problems) == 1:
        return GitkubeError(f"{head}: {problems[0]}")
    lines = list(problems[:SHOWN])
    if len(problems) > SHOWN:
        lines.append(f"... and {len(problems) - SHOWN} more")
    return GitkubeError(f"{head}: {len(problems)} problems:\n" + "\n".join(lines))
