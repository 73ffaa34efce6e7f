"""``gitkube status``: what each gitkube ApplySet parent says about its last sync."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from gitkube.domain.keys import (
    APPLYSET_ID_LABEL,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    HEALTH_STATUS_ANNOTATION,
    HOOKS_STATUS_ANNOTATION,
    MEMBER_KINDS_STATUS_ANNOTATION,
    OBJECTS_STATUS_ANNOTATION,
    REFUSED_ANNOTATION,
    STATUS_PREFIX,
    TOOLING_ANNOTATION,
)
from gitkube.domain.ownership import (
    PARENT_NAMESPACE,
)
from gitkube.primitives.kubeapi import KubeApi


@dataclass(frozen=True)
class ApplySetStatus:
    name: str
    applyset_id: str
    rendered_commit: str
    source_commit: str
    synced_at: str
    result: str
    message: str
    group_kinds: list[str]
    objects: int
    health: dict[str, Any] | None = None  # {"healthy": N, "problems": {app: text}}
    # The last run of each hook: {"<app> <point> <hook name>": {name, result, seconds, message}}.
    hooks: dict[str, Any] | None = None
    refused: str = ""  # why the latest run was refused by a trust check (until one passes)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_status(
    kubeconfig: str | None, context: str | None = None, api: KubeApi | None = None
) -> list[ApplySetStatus]:
    api = api or KubeApi.connect(kubeconfig, context)
    listing = api.request(
        "GET",
        f"/api/v1/namespaces/{PARENT_NAMESPACE}/configmaps",
        query={"labelSelector": APPLYSET_ID_LABEL},
    )
    statuses = []
    for parent in listing.get("items", ()):
        meta = parent.get("metadata", {})
        annotations = meta.get("annotations") or {}
        if not str(annotations.get(TOOLING_ANNOTATION, "")).startswith("gitkube/"):
            continue
        statuses.append(
            ApplySetStatus(
                name=meta.get("name", ""),
                applyset_id=meta.get("labels", {}).get(APPLYSET_ID_LABEL, ""),
                rendered_commit=annotations.get(f"{STATUS_PREFIX}rendered-commit", ""),
                source_commit=annotations.get(f"{STATUS_PREFIX}source-commit", ""),
                synced_at=annotations.get(f"{STATUS_PREFIX}synced-at", ""),
                result=annotations.get(f"{STATUS_PREFIX}result", "never synced"),
                message=annotations.get(f"{STATUS_PREFIX}message", ""),
                group_kinds=_member_kinds(annotations),
                objects=_member_count(parent),
                health=_health(annotations.get(HEALTH_STATUS_ANNOTATION)),
                hooks=_health(annotations.get(HOOKS_STATUS_ANNOTATION)),
                refused=annotations.get(REFUSED_ANNOTATION, ""),
            )
        )
    return statuses


def _member_kinds(annotations: dict[str, str]) -> list[str]:
    """The group-kinds of what the last run left in the cluster.

    Not the ApplySet's list: after a failed run that also names the kinds the
    run meant to write and never did. Parents written before gitkube recorded
    this have only the ApplySet's list.
    """
    recorded = annotations.get(MEMBER_KINDS_STATUS_ANNOTATION)
    if recorded is None:
        recorded = annotations.get(CONTAINS_GROUP_KINDS_ANNOTATION, "")
    return [g for g in recorded.split(",") if g]


def _health(recorded: str | None) -> dict[str, Any] | None:
    if not recorded:
        return None
    try:
        health = json.loads(recorded)
    except ValueError:
        return None
    return health if isinstance(health, dict) else None


def _member_count(parent: dict[str, Any]) -> int:
    """How many members the last run left, as it recorded (gitkube 0.x: its data keys)."""
    annotations = parent.get("metadata", {}).get("annotations") or {}
    recorded = annotations.get(OBJECTS_STATUS_ANNOTATION)
    if recorded is not None and str(recorded).isdigit():
        return int(recorded)
    return len(parent.get("data") or {})
