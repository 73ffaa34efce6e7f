"""The status the Job controller writes, for tests that play it.

The local control plane runs no controllers (as with envtest), so tests that
need a finished Job write its status themselves. These are the shapes the
real Job controller (Kubernetes 1.31 and later) writes, so health checks and
hook waits are tested against what a cluster would show.
"""

from __future__ import annotations

from typing import Any

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
