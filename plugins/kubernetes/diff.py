"""Comparing what gitkube sends with what the cluster holds, and the record on each member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitkube.plugin_api import (
    RECORD_APP_ANNOTATION,
    RECORD_HASH_ANNOTATION,
    RECORD_SOURCE_ANNOTATION,
    DesiredObject,
)

_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


def record_of(obj: DesiredObject) -> dict[str, str]:
    """The annotations that record on a member what gitkube applied to it."""
    record = {RECORD_HASH_ANNOTATION: obj.content_hash}
    if obj.path:
        record[RECORD_SOURCE_ANNOTATION] = obj.path
    if obj.app:
        record[RECORD_APP_ANNOTATION] = obj.app
    return record


def with_record(body: Mapping[str, Any], record: Mapping[str, str]) -> dict[str, Any]:
    """``body`` with ``record`` added to its annotations (``body`` is not changed)."""
    meta = dict(body.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **record}
    return {**body, "metadata": meta}


def without_volatile_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object without the fields every write changes."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in _VOLATILE_METADATA:
        meta.pop(key, None)
    out["metadata"] = meta
    return out


def is_subset(desired: Any, live: Any) -> bool:
    """Whether every field gitkube sends has the same value live (extra live fields are fine)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            k in live and is_subset(v, live[k]) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    return desired == live or (desired is not None and str(desired) == str(live))


def differing_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Field paths where ``a`` and ``b`` differ (both directions)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        paths: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                paths.append(sub)
            else:
                paths.extend(differing_paths(a[key], b[key], sub))
        return paths
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        paths = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            paths.extend(differing_paths(x, y, f"{prefix}[{i}]"))
        return paths
    return [] if a == b else [prefix or "."]
