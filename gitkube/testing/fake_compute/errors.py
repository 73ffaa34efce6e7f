"""Errors in the shape Compute Engine returns them.

The real API answers every failed call with ``{"error": {"code", "message",
"errors": [{"message", "domain", "reason"}]}}``; clients (google-api-core's
``from_http_response``, gcloud, Config Connector) read ``code`` and
``errors[].reason``, so the fake must produce exactly those keys.
"""

from __future__ import annotations

from typing import Any

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """A failed API call: raised by handlers, turned into a response by the server."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        headers: dict[str, str] | None = None,
        with_status: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = headers or {}
        # Errors raised by the API front end (payload parsing) carry a gRPC
        # status name; those from Compute Engine's own checks do not.
        self.with_status = with_status

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        if self.with_status:
            error["status"] = _STATUS_NAMES.get(self.code, "UNKNOWN")
        return {"error": error}


def not_found(path: str) -> ApiError:
    return ApiError(404, f"The resource '{path}' was not found", "notFound")


def already_exists(path: str) -> ApiError:
    return ApiError(409, f"The resource '{path}' already exists", "alreadyExists")


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "invalid")


def required(field: str) -> ApiError:
    return ApiError(400, f"Required field '{field}' not specified", "required")


def in_use(kind: str, path: str, user: str) -> ApiError:
    return ApiError(
        400,
        f"The {kind} resource '{path}' is already being used by '{user}'",
        "resourceInUseByAnotherResource",
    )
