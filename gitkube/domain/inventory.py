"""The rendered commit's inventory: the one thing render writes for sync to read.

Render and sync are two halves that never import each other (an
import-linter contract checks it); this module is their whole meeting point.
Render writes ``gitkube-inventory.yaml`` beside the object files with
:func:`inventory_document`; sync checks a rendered commit against it with
:func:`is_inventory` before it reads anything else. Its format is DESIGN §5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INVENTORY_FILE = "gitkube-inventory.yaml"
INVENTORY_API_VERSION = "gitkube.dev/v1alpha1"
INVENTORY_KIND = "Inventory"


def inventory_document(
    *,
    source_commit: str | None,
    gitkube_version: str,
    plugins: Mapping[str, str],
    applyset_id: str,
    settings: Mapping[str, Any],
    objects: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The inventory of a rendered commit.

    :param settings: the part of gitkube.yaml sync needs (it never reads the
        source repo).
    :param objects: one entry per rendered file: ``path``, ``app``,
        ``apiVersion``, ``kind``, ``namespace``, ``name`` and the file's
        ``sha256``.
    """
    return {
        "apiVersion": INVENTORY_API_VERSION,
        "kind": INVENTORY_KIND,
        "sourceCommit": source_commit,
        "gitkubeVersion": gitkube_version,
        "plugins": dict(sorted(plugins.items())),
        "applysetId": applyset_id,
        "settings": settings,
        "objects": list(objects),
    }


def is_inventory(document: Any) -> bool:
    """Whether a parsed YAML document is a gitkube inventory."""
    return isinstance(document, dict) and document.get("kind") == INVENTORY_KIND
