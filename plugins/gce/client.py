"""A small Compute Engine v1 REST client for the GCE sync target.

JSON in, JSON out, exactly the API's field names (the discovery document's),
so what the target compares is what the API returns. Every call goes through
one retry loop: 429 and 5xx (and connection errors) are retried with bounded
exponential backoff that honours ``Retry-After``, within a total time budget;
quota errors are never retried. Mutations carry a ``requestId`` that stays the
same across retries, so a retried insert never creates twice. Operations are
waited for with ``operations.wait`` on their own zone, region or global
collection, on the same endpoint as every other call (google-cloud-compute's
``ExtendedOperation`` would poll compute.googleapis.com whatever endpoint the
client was given).
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.plugin_api import GitkubeError

log = logging.getLogger("gitkube.gce")

DEFAULT_ENDPOINT = "https://compute.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/compute"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 403s that mean "slow down" rather than "no": retried like a 429.
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
QUOTA_REASONS = frozenset({"quotaExceeded", "QUOTA_EXCEEDED"})


class GceApiError(GitkubeError):
    """Compute Engine refused a call, or an operation ended in error."""

    def __init__(self, message: str, *, status: int, reason: str, obj: str | None = None) -> None:
        super().__init__(message, obj=obj)
        self.status = status
        self.reason = reason

    @property
    def quota(self) -> bool:
        return self.reason in QUOTA_REASONS


@dataclass
class RetryPolicy:
    """Bounded exponential backoff: ``initial`` doubling up to ``maximum``, ``deadline`` in all."""

    initial: float = 0.5
    maximum: float = 16.0
    deadline: float = 120.0
    # Connection errors (nothing answers) get this long, not the whole deadline.
    connect_deadline: float = float(os.environ.get("GITKUBE_CONNECT_TIMEOUT", "10"))
    operation_deadline: float = 600.0


def _error_of(status: int, payload: Any, fallback: str) -> tuple[str, str]:
    """(reason, message) from an error body in Compute Engine's shape."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return "", fallback or f"HTTP {status}"
    errors = error.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    return str(first.get("reason", "")), str(error.get("message") or first.get("message") or "")


class GceClient:
    """Calls on one project, with retries; ``session`` is a requests-like session."""

    def __init__(
        self,
        project: str,
        endpoint: str | None = None,
        *,
        session: Any = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.base = f"{self.endpoint}/compute/v1/projects/{project}"
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = _session(self.endpoint != DEFAULT_ENDPOINT)
        return self._session

    # -- calls ---------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        """One API call (``path`` relative to the project), retried on 429/5xx."""
        import requests

        url = f"{self.base}/{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if method != "GET" and not path.split("?")[0].endswith("/wait"):
            params.setdefault("requestId", str(uuid.uuid4()))
        started = time.monotonic()
        deadline = started + self.policy.deadline
        delay = self.policy.initial
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self.session.request(
                    method, url, json=body, params=params, timeout=(10, 150)
                )
            except requests.RequestException as exc:
                status, reason, message = 0, "connection", str(exc)
            else:
                status = response.status_code
                if status < 400:
                    return response.json() if response.content else {}
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                reason, message = _error_of(status, payload, response.text[:200])
                wait = _retry_after(response.headers.get("Retry-After"))
            retryable = (
                status == 0
                or (status in RETRY_STATUSES and reason not in QUOTA_REASONS)
                or (status == 403 and reason in RATE_REASONS)
            )
            if not retryable:
                raise GceApiError(
                    _describe(method, path, status, reason, message),
                    status=status,
                    reason=reason,
                    obj=what,
                )
            pause = wait if wait is not None else delay * (0.5 + random.random() / 2)
            if status == 0 and time.monotonic() + pause > started + self.policy.connect_deadline:
                # Nothing answers: say so soon, not after the whole retry budget.
                raise GceApiError(
                    f"cannot reach Compute Engine at {self.base}: {_short(message)} "
                    f"(gave up after {attempt} attempts; GITKUBE_CONNECT_TIMEOUT)",
                    status=status,
                    reason=reason,
                    obj=what,
                )
            if time.monotonic() + pause > deadline:
                raise GceApiError(
                    _describe(method, path, status, reason, message)
                    + f" (still failing after {attempt} attempts; gave up)",
                    status=status,
                    reason=reason,
                    obj=what,
                )
            log.warning(
                "Compute Engine: %s %s: %s; retrying in %.1fs",
                method,
                path,
                _short(message) if status == 0 else f"HTTP {status} {reason}",
                pause,
            )
            self._sleep(pause)
            delay = min(delay * 2, self.policy.maximum)

    def list(self, path: str) -> list[dict[str, Any]]:
        """Every item of a collection (one call unless the API pages)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.call("GET", path, query={"pageToken": token})
            items.extend(page.get("items") or ())
            token = page.get("nextPageToken")
            if not token:
                return items

    def mutate(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        """A mutating call and the wait for its operation; raises if the operation failed."""
        op = self.call(method, path, body=body, query=query, what=what)
        return self.wait(op, what=what)

    def wait(self, op: Mapping[str, Any], *, what: str | None = None) -> dict[str, Any]:
        scope = _operation_scope(op)
        deadline = time.monotonic() + self.policy.operation_deadline
        current = dict(op)
        while current.get("status") != "DONE":
            if time.monotonic() > deadline:
                raise GceApiError(
                    f"operation {op.get('name')} ({op.get('operationType')}) did not finish within "
                    f"{self.policy.operation_deadline:.0f}s; it may still complete, the next sync "
                    "will see",
                    status=0,
                    reason="timeout",
                    obj=what,
                )
            current = self.call("POST", f"{scope}/operations/{op['name']}/wait", what=what)
        error = current.get("error")
        if error:
            first = (error.get("errors") or [{}])[0]
            code = str(first.get("code", ""))
            message = str(first.get("message", ""))
            hint = (
                " (quota errors are not retried: raise the quota or free some)"
                if code in QUOTA_REASONS
                else ""
            )
            raise GceApiError(
                f"{current.get('operationType', 'operation')} of "
                f"{short_link(str(current.get('targetLink', '')))} failed: {code}: {message}{hint}",
                status=int(current.get("httpErrorStatusCode") or 0),
                reason=code,
                obj=what,
            )
        return current


def _describe(method: str, path: str, status: int, reason: str, message: str) -> str:
    hint = (
        " (quota errors are not retried: raise the quota or free some)"
        if reason in QUOTA_REASONS
        else ""
    )
    return f"Compute Engine {method} {path}: {status or 'no answer'} {reason}: {message}{hint}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _operation_scope(op: Mapping[str, Any]) -> str:
    if op.get("zone"):
        return f"zones/{str(op['zone']).rsplit('/', 1)[-1]}"
    if op.get("region"):
        return f"regions/{str(op['region']).rsplit('/', 1)[-1]}"
    return "global"


def short_link(link: str) -> str:
    """A resource link without the API base URL and project."""
    rest = link.split("/compute/v1/", 1)[-1]
    if rest.startswith("projects/"):
        rest = rest.split("/", 2)[2] if rest.count("/") >= 2 else rest
    return rest


def _session(custom_endpoint: bool) -> Any:
    """An authorized session: anonymous for a custom endpoint, else Application Default Credentials."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    if custom_endpoint:
        return AuthorizedSession(AnonymousCredentials())
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise GitkubeError(
            f"no Google credentials for Compute Engine: {exc}. Run `gcloud auth "
            "application-default login`, or pass --gce-endpoint for a local server"
        ) from exc
    return AuthorizedSession(credentials)


def _short(message: str) -> str:
    """A connection error without urllib3's object reprs."""
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in message:
            return marker.lower()
    return message[:200]
