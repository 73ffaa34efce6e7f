"""Injectable faults: what a test asks the fake to do wrong, per method.

A fault either fails the HTTP call itself (``http``; ``quota`` with
``in_operation=False``) or shapes the operation a mutating call returns
(``slow``, ``operation_error``, ``quota``). ``method`` is a discovery method
id such as ``compute.addresses.insert``; shell-style wildcards
(``compute.*.insert``, ``*``) match several.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from .errors import ApiError

FaultKind = Literal["http", "quota", "slow", "operation_error"]

_HTTP_REASONS = {
    400: ("invalid", "global", "Invalid request"),
    403: ("forbidden", "global", "Forbidden"),
    404: ("notFound", "global", "Not found"),
    409: ("conflict", "global", "Conflict"),
    429: ("rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
    500: ("backendError", "global", "Internal error. Please try again or contact Google Support."),
    502: ("backendError", "global", "Bad gateway"),
    503: ("backendError", "global", "The service is currently unavailable."),
}


@dataclass
class Fault:
    """One armed fault. ``times=None`` keeps it armed forever; ``hits`` counts uses."""

    method: str
    kind: FaultKind
    status: int = 500
    reason: str | None = None
    message: str | None = None
    retry_after: float | None = None
    times: int | None = 1
    polls: int = 0
    seconds: float = 0.0
    in_operation: bool = True
    hits: int = 0

    @property
    def affects_request(self) -> bool:
        return self.kind == "http" or (self.kind == "quota" and not self.in_operation)

    def http_error(self) -> ApiError:
        """The HTTP error this fault answers the call with."""
        if self.kind == "quota":
            message = (
                self.message
                or "Quota exceeded for quota metric 'Queries' of service 'compute.googleapis.com'."
            )
            return ApiError(403, message, self.reason or "quotaExceeded", domain="usageLimits")
        reason, domain, default = _HTTP_REASONS.get(
            self.status, ("backendError", "global", "Error")
        )
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return ApiError(
            self.status,
            self.message or default,
            self.reason or reason,
            domain=domain,
            headers=headers,
        )

    def operation_error(self) -> tuple[int, dict[str, object]] | None:
        """(httpErrorStatusCode, error) for an operation that ends in error, else None."""
        if self.kind == "quota":
            message = self.message or "Quota 'STATIC_ADDRESSES' exceeded.  Limit: 8.0 in region."
            return 403, {"errors": [{"code": self.reason or "QUOTA_EXCEEDED", "message": message}]}
        if self.kind == "operation_error":
            message = self.message or "Internal error. Please try again."
            code = self.reason or "INTERNAL_ERROR"
            return self.status, {"errors": [{"code": code, "message": message}]}
        return None


class Faults:
    """The armed faults of one server; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        method: str = "*",
        kind: FaultKind = "http",
        *,
        status: int = 500,
        reason: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        times: int | None = 1,
        polls: int = 0,
        seconds: float = 0.0,
        in_operation: bool = True,
    ) -> Fault:
        """Arm a fault.

        - ``kind="http"``: the call fails with ``status`` (429 ``rateLimitExceeded``,
          500/503 ``backendError``, ...), with a ``Retry-After`` header if
          ``retry_after`` is given.
        - ``kind="quota"``: the operation ends in ``QUOTA_EXCEEDED`` (HTTP status
          403 inside the operation), as Compute Engine reports resource quota;
          with ``in_operation=False`` the call itself fails 403 ``quotaExceeded``.
        - ``kind="slow"``: the operation stays RUNNING for ``polls`` polls and at
          least ``seconds`` seconds.
        - ``kind="operation_error"``: the operation ends DONE with
          ``error.errors[0].code = reason`` (default ``INTERNAL_ERROR``) and
          ``httpErrorStatusCode = status``.
        """
        if kind not in ("http", "quota", "slow", "operation_error"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(
            method=method,
            kind=kind,
            status=status,
            reason=reason,
            message=message,
            retry_after=retry_after,
            times=times,
            polls=polls,
            seconds=seconds,
            in_operation=in_operation,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def take_request_fault(self, method_id: str) -> Fault | None:
        return self._take(method_id, request=True)

    def take_operation_fault(self, method_id: str) -> Fault | None:
        return self._take(method_id, request=False)

    def _take(self, method_id: str, request: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.affects_request != request:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if fnmatch.fnmatchcase(method_id, fault.method):
                    fault.hits += 1
                    return fault
        return None
