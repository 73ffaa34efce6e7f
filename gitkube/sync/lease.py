"""One agent at a time: a ``coordination.k8s.io`` Lease with optimistic concurrency.

A leader renews every third of the lease duration. It stops writing as soon
as it cannot prove it still holds the lease: :meth:`Lease.held` turns false
once two thirds of the duration passed since the last successful renewal,
well before another agent may take over at the full duration.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from gitkube.domain.ownership import PARENT_NAMESPACE
from gitkube.primitives.kubeapi import KubeApi, KubeApiError

# Refused credentials are reported, not taken for another agent's lease.
_CREDENTIALS = frozenset({401, 403})
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> datetime:
    return datetime.now(UTC)


def _format(moment: datetime) -> str:
    return moment.strftime(_TIME_FORMAT)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in (_TIME_FORMAT, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class Lease:
    def __init__(
        self,
        api: KubeApi,
        name: str,
        identity: str,
        duration: float = 30.0,
        namespace: str = PARENT_NAMESPACE,
    ) -> None:
        self.api = api
        self.name = name
        self.identity = identity
        self.duration = duration
        self.namespace = namespace
        self._renewed_at: float | None = None  # monotonic time of the last successful renewal
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"

    def held(self) -> bool:
        with self._lock:
            return self._renewed_at is not None and (
                time.monotonic() - self._renewed_at < self.duration * 2 / 3
            )

    def try_acquire(self) -> bool:
        """Take or renew the lease if free, expired or ours. Never blocks."""
        started = time.monotonic()
        try:
            current = self.api.request("GET", self.path)
        except KubeApiError as exc:
            if exc.status in _CREDENTIALS:
                self._lost()
                raise  # not a lost race: the agent reports it
            if exc.status != 404:
                return self._lost()
            return self._write("POST", None, started)
        spec = current.get("spec", {})
        holder = spec.get("holderIdentity")
        renew = _parse(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        expired = renew is None or _now() > renew + timedelta(seconds=duration)
        if holder not in (None, "", self.identity) and not expired:
            return self._lost()
        return self._write("PUT", current, started)

    def release(self) -> None:
        """Give the lease up on a clean shutdown, so a standby takes over at once."""
        if not self.held():
            return
        try:
            current = self.api.request("GET", self.path)
            if current.get("spec", {}).get("holderIdentity") == self.identity:
                current["spec"]["holderIdentity"] = None
                current["spec"]["renewTime"] = None
                self.api.request("PUT", self.path, body=current)
        except KubeApiError:
            pass
        self._lost()

    def _write(self, method: str, current: dict[str, Any] | None, started: float) -> bool:
        now = _format(_now())
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": now,
        }
        if current is None:
            body: dict[str, Any] = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {**spec, "acquireTime": now},
            }
            path = self.path.rsplit("/", 1)[0]
        else:
            body = current
            if body["spec"].get("holderIdentity") != self.identity:
                spec["acquireTime"] = now
            body["spec"] = {**body.get("spec", {}), **spec}
            path = self.path
        try:
            # PUT carries resourceVersion: if anyone wrote in between, it fails (409).
            self.api.request(method, path, body=body)
        except KubeApiError as exc:
            self._lost()
            if exc.status in _CREDENTIALS:
                raise
            return False
        with self._lock:
            self._renewed_at = started
        return True

    def _lost(self) -> bool:
        with self._lock:
            self._renewed_at = None
        return False
