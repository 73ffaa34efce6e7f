"""Several clusters from one repo: ``clusters:`` in gitkube.yaml and which apps run where.

A repo with ``clusters:`` (a map of name to what ``cluster:`` holds, plus the
``registry``, ``namespace`` and free ``values`` of that cluster) is rendered
once per cluster. Each cluster sees the repo as a single-``cluster:`` repo
would be written for it: :func:`cluster_settings` makes that ``gitkube.yaml``,
so the single-cluster renderer runs unchanged and each cluster gets its own
ApplySet (the id is made from the cluster's name) and its own rendered branch
(``rendered/<cluster>``). A repo with one ``cluster:`` is not touched at all.

An app runs on every cluster unless its ``app.yaml`` says ``clusters:`` (names
or globs); a pattern that matches no cluster is an error naming the file.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitkube.primitives.errors import GitkubeError

CONFIG_FILE = "gitkube.yaml"
CLUSTERS_KEY = "clusters"  # in gitkube.yaml: the clusters; in app.yaml: where the app runs
# <app>/clusters/<cluster>/: that cluster's app.yaml override and manifest patches.
OVERLAY_DIRECTORY = "clusters"

_NAME_PATTERN = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
_LOCATION = {"type": "string", "pattern": "^([a-z][-a-z0-9]{0,62})?$"}
_PROJECT = {
    "type": "string",
    "pattern": "^(([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?)?$",
}

# One cluster of ``clusters:``: the keys of ``cluster:`` (its name is the map key)
# and the repo-wide keys a cluster may set for itself.
CLUSTER_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "project": {
            **_PROJECT,
            "description": "The Google Cloud project of this cluster's GCE resources.",
        },
        "region": {**_LOCATION, "description": "The region of addresses and forwarding rules."},
        "zone": {**_LOCATION, "description": "The zone of persistent disks and nodes."},
        "network": {
            "type": "string",
            "pattern": _NAME_PATTERN,
            "description": "The VPC network of firewall rules.",
            "default": "default",
        },
        "nodeTag": {
            "type": "string",
            "pattern": _NAME_PATTERN,
            "description": "The network tag of the cluster's nodes (firewall target).",
            "default": "k8s-<name>-node",
        },
        "registry": {
            "type": "string",
            "description": "This cluster's default image registry (default: `registry`).",
        },
        "namespace": {
            "type": "string",
            "pattern": _NAME_PATTERN,
            "description": "This cluster's default namespace (default: `namespace`).",
        },
        "values": {
            "type": "object",
            "description": "Free values plugins read as `ctx.config.cluster.values`.",
            "default": {},
        },
    },
}

CLUSTERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"pattern": _NAME_PATTERN, "maxLength": 63},
    "additionalProperties": CLUSTER_ENTRY_SCHEMA,
    "description": "Several clusters rendered from one repo (docs/clusters.md): each name gets "
    "its own rendered branch (`<render.branch>/<name>`) and ApplySet. Not with `cluster:`.",
    "examples": [
        {
            "staging": {"project": "my-proj-staging", "zone": "us-central1-b"},
            "prod": {"project": "my-proj", "zone": "us-central1-b", "values": {"tier": "prod"}},
        }
    ],
}

# In app.yaml: the clusters the app runs on (names or globs; default: all).
APP_CLUSTERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "minItems": 1,
    "uniqueItems": True,
}

# app.yaml keys an override may not change: they decide what the app is and where it runs.
FIXED_APP_KEYS = ("name", CLUSTERS_KEY)


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of ``clusters:``, as written."""

    name: str
    settings: Mapping[str, Any]


def multi_cluster(raw: Any) -> bool:
    """Whether a parsed gitkube.yaml declares ``clusters:``."""
    return isinstance(raw, dict) and CLUSTERS_KEY in raw


def check_cluster_keys(raw: Mapping[str, Any], path: str = CONFIG_FILE) -> None:
    """``cluster:`` and ``clusters:`` do not go together."""
    if "cluster" in raw and CLUSTERS_KEY in raw:
        raise GitkubeError(
            "cluster: and clusters: do not go together; move the cluster under clusters:",
            file=path,
        )


def clusters_of(raw: Mapping[str, Any]) -> list[ClusterSpec]:
    """The clusters of a checked gitkube.yaml, in the order written."""
    return [ClusterSpec(name, entry or {}) for name, entry in raw[CLUSTERS_KEY].items()]


def rendered_branch(raw: Mapping[str, Any], cluster: str) -> str:
    """``<render.branch>/<cluster>``: ``rendered/staging`` by default."""
    render = raw.get("render") or {}
    return f"{render.get('branch', 'rendered')}/{cluster}"


def cluster_settings(raw: Mapping[str, Any], spec: ClusterSpec) -> dict[str, Any]:
    """The single-cluster gitkube.yaml that ``spec``'s render reads.

    Everything repo-wide stays; ``clusters:`` becomes the one ``cluster:``;
    the cluster's ``registry`` and ``namespace`` replace the repo's; the
    rendered branch gets the cluster's name.
    """
    settings = {k: copy.deepcopy(v) for k, v in raw.items() if k != CLUSTERS_KEY}
    entry = dict(spec.settings)
    cluster: dict[str, Any] = {"name": spec.name}
    for key in ("project", "region", "zone", "network", "nodeTag", "values"):
        if key in entry:
            cluster[key] = copy.deepcopy(entry[key])
    settings = {"cluster": cluster, **settings}
    for key in ("registry", "namespace"):
        if key in entry:
            settings[key] = entry[key]
    settings["render"] = {
        **(settings.get("render") or {}),
        "branch": rendered_branch(raw, spec.name),
    }
    return settings


def selected_clusters(patterns: Sequence[str] | None, names: Sequence[str], file: str) -> list[str]:
    """The clusters an app runs on: all, or those its ``clusters:`` names or globs match.

    A pattern that matches no cluster is an error naming ``file`` (a typo
    would otherwise quietly take the app off a cluster).
    """
    if patterns is None:
        return list(names)
    chosen: set[str] = set()
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched:
            raise GitkubeError(
                f'clusters: "{pattern}" matches no cluster of gitkube.yaml '
                f"(clusters: {', '.join(names)})",
                file=file,
            )
        chosen.update(matched)
    return [name for name in names if name in chosen]
