"""The status the controllers write, for tests and the demo that play them.

The local control plane runs no controllers (as with envtest), so tests that
need a finished Job write its status themselves. These are the shapes the
real Job controller (Kubernetes 1.31 and later) writes, so health checks and
hook waits are tested against what a cluster would show. ``python -m
gitkube.testing.controllers`` stands in for the workload and volume
controllers for as long as it runs (scripts/demo runs it).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from gitkube.primitives.kubeapi import KubeApi, KubeApiError

_BACKOFF_LIMIT = {
    "status": "True",
    "reason": "BackoffLimitExceeded",
    "message": "Job has reached the specified backoff limit",
}


def job_succeeded_status(now: str) -> dict[str, Any]:
    """A Job's ``status`` after its one pod succeeded at ``now`` (RFC 3339)."""
    return {
        "startTime": now,
        "completionTime": now,
        "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now},
        ],
    }


def job_failed_status(now: str) -> dict[str, Any]:
    """A Job's ``status`` after its pod failed past the backoff limit at ``now``."""
    return {
        "startTime": now,
        "failed": 1,
        "conditions": [
            {"type": "FailureTarget", **_BACKOFF_LIMIT, "lastTransitionTime": now},
            {"type": "Failed", **_BACKOFF_LIMIT, "lastTransitionTime": now},
        ],
    }


# -- standing in for the controllers ---------------------------------------------
#
# scripts/demo syncs the template into the local control plane, and a sync
# waits for each phase to be healthy before the next (web/frontend waits for
# web/ghost, whose pre-sync Job must finish first). Without a kube-controller-
# manager nothing would ever finish, so the demo runs this loop beside it: it
# writes the status each controller would write once its pods ran.

# (group-version path, plural, kind) of what is finished here.
STOOD_IN_FOR = (
    ("/apis/apps/v1", "deployments", "Deployment"),
    ("/apis/apps/v1", "statefulsets", "StatefulSet"),
    ("/apis/apps/v1", "daemonsets", "DaemonSet"),
    ("/apis/batch/v1", "jobs", "Job"),
    ("/api/v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ("/api/v1", "persistentvolumes", "PersistentVolume"),
)


def finished_status(kind: str, live: dict[str, Any], now: str) -> dict[str, Any] | None:
    """The status of ``live`` once its controller is done, or None when it shows that already."""
    status = live.get("status") or {}
    spec = live.get("spec") or {}
    if kind == "Job":
        done = {c.get("type") for c in status.get("conditions") or () if c.get("status") == "True"}
        return None if done & {"Complete", "Failed"} else job_succeeded_status(now)
    if kind in ("PersistentVolumeClaim", "PersistentVolume"):
        wanted: dict[str, Any] = {"phase": "Bound"}
        if kind == "PersistentVolumeClaim":
            wanted["accessModes"] = spec.get("accessModes") or ["ReadWriteOnce"]
            wanted["capacity"] = ((spec.get("resources") or {}).get("requests")) or {}
    else:
        replicas = spec.get("replicas", 1) if kind != "DaemonSet" else 1
        counts = {
            "Deployment": ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"),
            "StatefulSet": ("replicas", "updatedReplicas", "readyReplicas", "currentReplicas"),
            "DaemonSet": (
                "desiredNumberScheduled",
                "currentNumberScheduled",
                "updatedNumberScheduled",
                "numberReady",
                "numberAvailable",
            ),
        }[kind]
        wanted = {"observedGeneration": live["metadata"].get("generation", 1)}
        wanted.update((field, replicas) for field in counts)
        if kind == "DaemonSet":
            wanted["numberMisscheduled"] = 0
        if kind == "StatefulSet":
            wanted["currentRevision"] = wanted["updateRevision"] = status.get(
                "updateRevision", f"{live['metadata']['name']}-1"
            )
    if all(status.get(key) == value for key, value in wanted.items()):
        return None
    return {**status, **wanted}


def finish_everything(api: KubeApi, namespace: str | None = None) -> int:
    """One round: write the finished status of every object not showing it yet.

    Returns how many were written; an object changed meanwhile (409) waits for
    the next round. ``namespace`` keeps it to one namespace's objects (and no
    PersistentVolume, which has none)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    written = 0
    for group_version, plural, kind in STOOD_IN_FOR:
        if namespace is not None and kind == "PersistentVolume":
            continue
        scope = f"/namespaces/{namespace}" if namespace is not None else ""
        api_version = group_version.removeprefix("/apis/").removeprefix("/api/")
        typed = {"apiVersion": api_version, "kind": kind}  # a LIST's items carry neither
        for item in api.request("GET", f"{group_version}{scope}/{plural}")["items"]:
            status = finished_status(kind, item, now)
            if status is None:
                continue
            meta = item["metadata"]
            where = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
            path = f"{group_version}{where}/{plural}/{meta['name']}/status"
            try:
                api.request("PUT", path, body={**item, **typed, "status": status})
            except KubeApiError as exc:
                if exc.status not in (404, 409):
                    raise
                continue
            written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m gitkube.testing.controllers --kubeconfig K``: stand in until killed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between rounds")
    args = parser.parse_args(argv)
    api = KubeApi.connect(args.kubeconfig)
    while True:
        finish_everything(api)
        time.sleep(args.every)


if __name__ == "__main__":
    main()
