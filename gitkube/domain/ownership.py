"""Who owns what: the ApplySet (KEP-3659) that marks gitkube's objects.

The ApplySet id is derived from fixed names only (the parent's name,
namespace, kind and group), so the renderer knows it offline and every
rendered object already carries its ownership label: what is reviewed is
what is applied.

Membership is what ApplySet tooling reads: an object is gitkube's when it
carries the ``part-of`` label and its group-kind is listed on the parent, so
``kubectl apply --prune --applyset`` and gitkube agree. What gitkube applied
to a member (its content hash, rendered path and app) is recorded on the
member itself, in annotations written by the same server-side apply as the
object: the record takes any name the API server takes, grows with nothing
but the object, and can never lag behind what was applied. The parent holds
only the group-kinds, the namespaces and the last run's status.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitkube.domain.config import RepoConfig
from gitkube.domain.keys import (
    GCE_OWNER_LABEL,
    PART_OF_LABEL,
)
from gitkube.domain.resources import Resource

HEALTH_PROBLEMS_KEPT = 50  # apps listed by name; the parent stays small at any scale


def health_summary(health: Mapping[str, Any]) -> str:
    """The compact JSON recorded on the parent for a run's health verdict."""
    problems = {
        app["app"]: ": ".join(
            part
            for part in (app["state"], app.get("object"), app.get("reason"), app.get("message"))
            if part
        )[:300]
        for app in health.get("apps", ())
        if app["state"] != "Healthy"
    }
    healthy = sum(1 for app in health.get("apps", ()) if app["state"] == "Healthy")
    kept = dict(sorted(problems.items())[:HEALTH_PROBLEMS_KEPT])
    summary: dict[str, Any] = {"healthy": healthy, "problems": kept}
    if len(problems) > len(kept):
        summary["more"] = len(problems) - len(kept)
    return json.dumps(summary, sort_keys=True, separators=(",", ":"))


PARENT_NAMESPACE = "gitkube-system"
PARENT_KIND = "ConfigMap"
PARENT_GROUP = ""


@dataclass(frozen=True)
class ApplySet:
    """The ApplySet parent for one cluster and the id derived from it."""

    name: str
    namespace: str = PARENT_NAMESPACE

    @property
    def id(self) -> str:
        # KEP-3659: base64url (no padding) of sha256("<name>.<namespace>.<kind>.<group>").
        key = f"{self.name}.{self.namespace}.{PARENT_KIND}.{PARENT_GROUP}"
        digest = hashlib.sha256(key.encode()).digest()
        return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"

    @property
    def gce_label_value(self) -> str:
        """The id as a GCE label value (lower case, at most 63 characters)."""
        return hashlib.sha256(self.id.encode()).hexdigest()[:40]

    @property
    def gce_description(self) -> str:
        """The marker that GCE resources without labels carry in ``description``."""
        return f"managed by gitkube ({self.id})"


def applyset_for(config: RepoConfig) -> ApplySet:
    return ApplySet(name=f"gitkube-{config.cluster.name}")


def stamp_ownership(resource: Resource, applyset: ApplySet) -> None:
    """Mark a rendered object as a member of the ApplySet.

    Kubernetes objects get the part-of label; GCE objects get the owner label
    (where GCE has labels) and the marker in ``spec.description``.
    """
    if resource.is_gce:
        resource.labels()[GCE_OWNER_LABEL] = applyset.gce_label_value
        spec = resource.body.setdefault("spec", {})
        description = spec.get("description")
        if not description:
            spec["description"] = applyset.gce_description
        elif applyset.gce_description not in str(description):
            spec["description"] = f"{description} - {applyset.gce_description}"
    else:
        resource.labels()[PART_OF_LABEL] = applyset.id


def hooks_summary(previous: str | None, runs: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The parent's record of each hook's last run: ``previous`` updated with the
    hooks this run ran (those only planned or skipped are not runs). ``None``: unchanged."""
    ran = [r for r in runs or () if r.get("result") not in (None, "Planned", "Pending")]
    if not ran:
        return None
    try:
        record = json.loads(previous) if previous else {}
    except ValueError:
        record = {}
    if not isinstance(record, dict):
        record = {}
    for r in ran:
        record[f"{r['app']} {r['hook']} {r['of']}"] = {
            "name": r["name"],
            "result": r["result"],
            "seconds": r["seconds"],
            "message": str(r.get("message", ""))[:200],
        }
    return json.dumps(dict(sorted(record.items())), separators=(",", ":"))
