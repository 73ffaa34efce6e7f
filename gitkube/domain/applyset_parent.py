"""The ApplySet parent: read once per run, checked, parsed into fields, written whole.

Modelled on kubectl's ``fetchParent`` (pkg/cmd/apply/applyset.go): the parent
is fetched once; a parent that exists must carry this ApplySet's id label and
must not belong to another tool (its ``applyset.kubernetes.io/tooling``
annotation), or nothing is managed through it; its contains-group-kinds and
additional-namespaces annotations are parsed into sets. Every write goes
through :meth:`ApplySetParent.write`, a server-side apply of the whole object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube import __version__
from gitkube.domain.keys import (
    ADDITIONAL_NAMESPACES_ANNOTATION,
    APPLYSET_ID_LABEL,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    STATUS_PREFIX,
    TARGETS_ANNOTATION,
    TOOLING_ANNOTATION,
)
from gitkube.domain.ownership import ApplySet
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi, KubeApiError

TOOL = "gitkube"
FIELD_MANAGER = "gitkube"


class ForeignParent(GitkubeError):
    """A ConfigMap holds the parent's name but is another ApplySet's or another tool's."""


def _listed(value: str | None) -> frozenset[str]:
    return frozenset(v for v in (value or "").split(",") if v)


@dataclass(frozen=True)
class ApplySetParent:
    """The parent ConfigMap of one ApplySet as it is now (``exists`` False before
    the first sync), with its annotations parsed."""

    applyset: ApplySet
    exists: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    group_kinds: frozenset[str] = frozenset()  # Kind.group, as kubectl lists them
    namespaces: frozenset[str] = frozenset()  # besides the parent's own
    # gitkube 0.x kept each member's content hash in the parent's data; read to migrate.
    legacy_record: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None  # as the API server returned it

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.applyset.namespace}/configmaps/{self.applyset.name}"

    @classmethod
    def fetch(cls, api: KubeApi, applyset: ApplySet) -> ApplySetParent:
        """Read the parent; refuse one that is another ApplySet's or another tool's."""
        empty = cls(applyset)
        try:
            body = api.request("GET", empty.path)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            return empty
        return cls.parse(body, applyset)

    @classmethod
    def parse(cls, body: Mapping[str, Any], applyset: ApplySet) -> ApplySetParent:
        """The parent as read from the API server, checked (see :meth:`fetch`)."""
        where = f"ConfigMap {applyset.namespace}/{applyset.name}"
        metadata = body.get("metadata") or {}
        if (metadata.get("labels") or {}).get(APPLYSET_ID_LABEL) != applyset.id:
            raise ForeignParent(
                f"{where} exists but is not gitkube's ApplySet parent (label "
                f"{APPLYSET_ID_LABEL} differs); refusing to manage anything through it"
            )
        annotations = dict(metadata.get("annotations") or {})
        tooling = annotations.get(TOOLING_ANNOTATION)
        if tooling is not None and tooling.split("/", 1)[0] != TOOL:
            raise ForeignParent(
                f"{where} is the ApplySet parent of another tool ({TOOLING_ANNOTATION}: "
                f"{tooling}); refusing to take it over"
            )
        return cls(
            applyset,
            exists=True,
            annotations=annotations,
            group_kinds=_listed(annotations.get(CONTAINS_GROUP_KINDS_ANNOTATION)),
            namespaces=_listed(annotations.get(ADDITIONAL_NAMESPACES_ANNOTATION)),
            legacy_record=dict(body.get("data") or {}),
            body=body,
        )

    def previous_status(self) -> dict[str, str]:
        """The last run's outcome, carried over by a write that is not a run's end."""
        return {
            k: v
            for k, v in self.annotations.items()
            if k.startswith(STATUS_PREFIX) or k == TARGETS_ANNOTATION
        }

    def targets_in_use(self) -> frozenset[str]:
        """The other sync targets the last run recorded as owning something."""
        return _listed(self.annotations.get(TARGETS_ANNOTATION))

    def manifest(
        self,
        group_kinds: Iterable[str],
        namespaces: Iterable[str],
        status: Mapping[str, str],
        legacy_record: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The whole parent to apply: what it does not name is dropped."""
        parent: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.applyset.name,
                "namespace": self.applyset.namespace,
                "labels": {APPLYSET_ID_LABEL: self.applyset.id},
                "annotations": {
                    TOOLING_ANNOTATION: f"{TOOL}/{__version__}",
                    CONTAINS_GROUP_KINDS_ANNOTATION: ",".join(sorted(set(group_kinds))),
                    ADDITIONAL_NAMESPACES_ANNOTATION: ",".join(
                        sorted(set(namespaces) - {self.applyset.namespace})
                    ),
                    **status,
                },
            },
        }
        if legacy_record:
            parent["data"] = dict(legacy_record)
        return parent

    def write(
        self,
        api: KubeApi,
        group_kinds: Iterable[str],
        namespaces: Iterable[str],
        status: Mapping[str, str],
        legacy_record: Mapping[str, str] | None = None,
    ) -> ApplySetParent:
        """Server-side apply the whole parent; returns it as the API server now has it."""
        if not self.exists:
            api.ensure_namespace(self.applyset.namespace)
        body = self.manifest(group_kinds, namespaces, status, legacy_record)
        written = api.apply(self.path, body, manager=FIELD_MANAGER, force=True)
        return ApplySetParent.parse(written, self.applyset)
