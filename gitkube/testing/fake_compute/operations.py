"""Long-running operations that finish asynchronously.

A mutating call only checks what the API checks synchronously (the name is
free, the target exists, nothing uses it) and returns a RUNNING operation; the
change itself is applied when the operation completes, so a client that does
not wait for its operation can observe the old state, exactly as with the
real API. By default an operation completes at the next request the server
receives (so the first poll sees DONE, as in the recordings); a ``slow`` fault
holds it RUNNING for a number of polls and/or seconds.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError

BASE_URL = "https://www.googleapis.com/compute/v1/"

_HTTP_MESSAGES = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


def timestamp(at: float | None = None) -> str:
    """RFC 3339 with milliseconds and an offset, as Compute Engine writes it."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    return moment.isoformat(timespec="milliseconds")


def new_id() -> str:
    return str(random.randrange(10**18, 10**19))


def fingerprint() -> str:
    """A fresh fingerprint: Compute Engine's are 8 random bytes, base64."""
    return base64.b64encode(random.getrandbits(64).to_bytes(8, "big")).decode()


def error_code(reason: str) -> str:
    """Operation error code for an API error reason: ``notFound`` -> ``RESOURCE_NOT_FOUND``."""
    special = {"notFound": "RESOURCE_NOT_FOUND", "alreadyExists": "RESOURCE_ALREADY_EXISTS"}
    return special.get(reason, re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", reason).upper())


@dataclass
class Operation:
    project: str
    scope: str  # "zones", "regions" or "global"
    scope_name: str | None
    operation_type: str
    target_link: str
    target_id: str
    apply: Callable[[], None] | None
    polls_left: int = 0
    ready_at: float = 0.0
    error: dict[str, Any] | None = None
    http_error_status: int | None = None
    status: str = "RUNNING"
    name: str = field(
        default_factory=lambda: f"operation-{int(time.time() * 1000)}-{random.getrandbits(48):012x}"
    )
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)
    end_time: float | None = None
    sequence: int = 0

    @property
    def path(self) -> str:
        scope = f"{self.scope}/{self.scope_name}" if self.scope_name else "global"
        return f"projects/{self.project}/{scope}/operations/{self.name}"

    def due(self, now: float) -> bool:
        return self.status != "DONE" and self.polls_left <= 0 and now >= self.ready_at

    def finish(self, now: float) -> None:
        """Apply the change; an API error from applying it becomes the operation's error."""
        if self.error is None and self.apply is not None:
            try:
                self.apply()
            except ApiError as exc:
                self.error = {"errors": [{"code": error_code(exc.reason), "message": exc.message}]}
                self.http_error_status = exc.code
        self.status = "DONE"
        self.end_time = now

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.id,
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": self.target_link,
            "targetId": self.target_id,
            "status": self.status,
            "user": "user@example.com",
            "progress": 100 if self.status == "DONE" else 0,
            "insertTime": timestamp(self.created),
            "startTime": timestamp(self.created),
            "selfLink": BASE_URL + self.path,
        }
        if self.scope == "zones":
            body["zone"] = f"{BASE_URL}projects/{self.project}/zones/{self.scope_name}"
        elif self.scope == "regions":
            body["region"] = f"{BASE_URL}projects/{self.project}/regions/{self.scope_name}"
        if self.end_time is not None:
            body["endTime"] = timestamp(self.end_time)
        if self.status == "DONE" and self.error is not None:
            status = self.http_error_status or 400
            body["error"] = self.error
            body["httpErrorStatusCode"] = status
            body["httpErrorMessage"] = _HTTP_MESSAGES.get(status, "ERROR")
        return body


class OperationBook:
    """Every operation of a server, completed in the order they become due."""

    def __init__(self) -> None:
        self._ops: dict[tuple[str, str, str | None, str], Operation] = {}
        self._counter = itertools.count()

    def add(self, op: Operation) -> Operation:
        op.sequence = next(self._counter)
        self._ops[(op.project, op.scope, op.scope_name, op.name)] = op
        return op

    def find(self, project: str, scope: str, scope_name: str | None, name: str) -> Operation | None:
        return self._ops.get((project, scope, scope_name, name))

    def pending(self) -> list[Operation]:
        return [op for op in self._ops.values() if op.status != "DONE"]

    def listing(self, project: str, scope: str, scope_name: str | None) -> list[Operation]:
        return [
            op
            for (p, s, n, _), op in self._ops.items()
            if (p, s, n) == (project, scope, scope_name)
        ]

    def remove(self, op: Operation) -> None:
        self._ops.pop((op.project, op.scope, op.scope_name, op.name), None)

    def advance(self, now: float | None = None) -> None:
        """Complete every operation that is due."""
        moment = time.time() if now is None else now
        for op in sorted(self.pending(), key=lambda o: o.sequence):
            if op.due(moment):
                op.finish(moment)

    def clear(self) -> None:
        self._ops.clear()
