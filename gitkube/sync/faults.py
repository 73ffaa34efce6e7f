"""What the agent shows about the faults it is living through (``/healthz``, ``/metrics``).

The agent keeps running through every fault (refused credentials, an API
server that is down or throttling, a git remote that is gone): this sorts an
error into its kind, keeps the last message of each kind that is failing now,
and mirrors them into the ``gitkube_agent_fault{kind}`` gauge.
"""

from __future__ import annotations

import threading

from prometheus_client import Gauge

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApiError, Unreachable

KINDS = ("source", "unauthorized", "forbidden", "unreachable", "throttled", "server")


def classify(exc: BaseException) -> str | None:
    """The API fault ``exc`` is, or None when it is not one (a bad commit, a refusal)."""
    if isinstance(exc, KubeApiError):
        if exc.status == 401:
            return "unauthorized"
        if exc.status == 403:
            return "forbidden"
        if exc.status == 429:
            return "throttled"
        if exc.status >= 500:
            return "server"
        return None
    if isinstance(exc, Unreachable):
        return "unreachable"
    if isinstance(exc, GitkubeError):
        # A target's error wraps the request's ("could not apply X: ..."): read its words.
        text = exc.message
        for marker, kind in (
            ("unauthorized:", "unauthorized"),
            ("forbidden:", "forbidden"),
            ("cannot reach the API server", "unreachable"),
        ):
            if marker in text:
                return kind
    return None


class FaultReport:
    """The faults failing now, by kind, with their last message."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._now: dict[str, str] = {}
        self._lock = threading.Lock()

    classify = staticmethod(classify)

    def set(self, kind: str, message: str) -> None:
        with self._lock:
            self._now[kind] = " ".join(message.split())[:500]
        self._gauge.labels(kind=kind).set(1)

    def clear(self, *kinds: str) -> None:
        with self._lock:
            for kind in kinds:
                if self._now.pop(kind, None) is not None:
                    self._gauge.labels(kind=kind).set(0)

    def describe(self) -> str:
        """One line per failing fault, ``kind: message`` (empty when all is well)."""
        with self._lock:
            return "".join(f"{kind}: {message}\n" for kind, message in sorted(self._now.items()))
