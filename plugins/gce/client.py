"""The GCE target's Compute Engine calls, through google-cloud-compute.

The target speaks the API's own JSON (the discovery document's field names),
so what it compares is what the API returns; this module turns a call on a
resource path (``regions/R/addresses/N/setLabels``) into the generated
client's ``*_unary`` method and its message types, and the answer back into
that JSON (``to_dict`` with JSON names; int64 fields as text, as the API sends
them).

Every call runs under gitkube's one retry policy (``gitkube.plugin_api.retrying``,
google-api-core's ``retry_target`` underneath, shared with the Kubernetes
client): 429, 5xx, rate-limit 403s and connection errors are retried with
bounded, jittered exponential backoff that waits at least ``Retry-After``,
within an attempt cap and a time budget; quota errors never are. Mutations carry a
``requestId`` chosen once per call, so a retried insert never creates twice.

Operations are waited for with the zone, region or global operations client's
``wait``, built for the same endpoint as every other call:
``ExtendedOperation.result()`` would poll compute.googleapis.com whatever
endpoint the client was given.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gitkube.plugin_api import (
    GaveUp,
    GitkubeError,
    RetryPolicy,
    Verdict,
    parse_retry_after,
    retrying,
)

# google-cloud-compute and google-api-core take about a second to import, and
# this module is loaded with the plugin by every command (a render too), so
# they are imported on the first call that needs them.
if TYPE_CHECKING:
    from google.auth.credentials import Credentials

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


@dataclass(frozen=True)
class _Collection:
    """A collection's generated client and the names its methods use."""

    client: str  # compute_v1 client class
    resource: str  # compute_v1 message of one item
    name_arg: str  # the item's name argument of get/delete/...


COLLECTIONS = {
    "addresses": _Collection("AddressesClient", "Address", "address"),
    "disks": _Collection("DisksClient", "Disk", "disk"),
    "firewalls": _Collection("FirewallsClient", "Firewall", "firewall"),
    "targetPools": _Collection("TargetPoolsClient", "TargetPool", "target_pool"),
    "forwardingRules": _Collection("ForwardingRulesClient", "ForwardingRule", "forwarding_rule"),
    "instances": _Collection("InstancesClient", "Instance", "instance"),
}

# POST verbs on one item: (collection, scope, verb) -> (method, body argument, body message).
VERBS = {
    ("disks", "zones", "resize"): (
        "resize_unary",
        "disks_resize_request_resource",
        "DisksResizeRequest",
    ),
    ("disks", "zones", "setLabels"): (
        "set_labels_unary",
        "zone_set_labels_request_resource",
        "ZoneSetLabelsRequest",
    ),
    ("addresses", "regions", "setLabels"): (
        "set_labels_unary",
        "region_set_labels_request_resource",
        "RegionSetLabelsRequest",
    ),
    ("forwardingRules", "regions", "setLabels"): (
        "set_labels_unary",
        "region_set_labels_request_resource",
        "RegionSetLabelsRequest",
    ),
    ("forwardingRules", "regions", "setTarget"): (
        "set_target_unary",
        "target_reference_resource",
        "TargetReference",
    ),
    ("targetPools", "regions", "addInstance"): (
        "add_instance_unary",
        "target_pools_add_instance_request_resource",
        "TargetPoolsAddInstanceRequest",
    ),
    ("targetPools", "regions", "removeInstance"): (
        "remove_instance_unary",
        "target_pools_remove_instance_request_resource",
        "TargetPoolsRemoveInstanceRequest",
    ),
    ("instances", "zones", "attachDisk"): (
        "attach_disk_unary",
        "attached_disk_resource",
        "AttachedDisk",
    ),
}

# Verbs whose request names the item ``resource`` rather than by its kind (address=...).
RESOURCE_NAMED_VERBS = frozenset({"setLabels"})
SCOPE_ARGS = {"regions": "region", "zones": "zone"}
OPERATION_CLIENTS = {
    "zones": "ZoneOperationsClient",
    "regions": "RegionOperationsClient",
    "global": "GlobalOperationsClient",
}


@dataclass(frozen=True)
class _Target:
    """A parsed resource path: ``regions/R/addresses[/N[/verb]]``."""

    scope: str  # "regions", "zones" or "global"
    location: str | None
    collection: str
    name: str | None
    verb: str | None

    @classmethod
    def parse(cls, path: str) -> _Target:
        parts = path.strip("/").split("/")
        if parts and parts[0] == "global":
            scope, location, rest = "global", None, parts[1:]
        elif len(parts) >= 3 and parts[0] in SCOPE_ARGS:
            scope, location, rest = parts[0], parts[1], parts[2:]
        else:
            raise GitkubeError(f"not a Compute Engine resource path: {path}")
        if not rest or rest[0] not in COLLECTIONS or len(rest) > 3:
            raise GitkubeError(f"not a Compute Engine resource path gitkube calls: {path}")
        return cls(
            scope,
            location,
            rest[0],
            rest[1] if len(rest) > 1 else None,
            rest[2] if len(rest) > 2 else None,
        )


def to_json(message: Any) -> dict[str, Any]:
    """A compute_v1 message as the REST API's JSON (camelCase names, int64 as text)."""
    return dict(
        type(message).to_dict(
            message,
            preserving_proto_field_name=False,
            use_integers_for_enums=False,
            **_no_defaults_argument(),
        )
    )


@functools.cache
def _compute() -> ModuleType:
    """google.cloud.compute_v1, imported once, when first called."""
    import google.cloud.compute_v1 as compute_v1

    return compute_v1


@functools.cache
def _no_defaults_argument() -> dict[str, bool]:
    """proto-plus renamed ``including_default_value_fields``; ask for no empty fields either way."""
    import inspect

    params = inspect.signature(_compute().Address.to_dict).parameters
    if "always_print_fields_with_no_presence" in params:
        return {"always_print_fields_with_no_presence": False}
    return {"including_default_value_fields": False}


def from_json(message_name: str, body: Mapping[str, Any]) -> Any:
    """A compute_v1 message from the REST API's JSON; unknown fields are an error."""
    import json

    cls = getattr(_compute(), message_name)
    return cls.from_json(json.dumps(body), ignore_unknown_fields=False)


class GceClient:
    """Calls on one project, with retries, on ``endpoint`` (Compute Engine by default)."""

    def __init__(
        self,
        project: str,
        endpoint: str | None = None,
        *,
        credentials: Credentials | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.project = project
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.policy = policy or RetryPolicy()
        self._credentials = credentials
        self._clients: dict[str, Any] = {}

    # -- wiring --------------------------------------------------------------------
    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = _credentials(self.endpoint != DEFAULT_ENDPOINT)
        return self._credentials

    def api(self, client_name: str) -> Any:
        """One generated REST client (e.g. ``AddressesClient``) for this endpoint."""
        if client_name not in self._clients:
            from google.api_core.client_options import ClientOptions

            cls = getattr(_compute(), client_name)
            self._clients[client_name] = cls(
                credentials=self.credentials,
                transport="rest",
                client_options=ClientOptions(api_endpoint=self.endpoint),
            )
        return self._clients[client_name]

    # -- calls ---------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        """One API call on ``path`` (relative to the project), retried on 429/5xx.

        ``GET`` of an item reads it; ``POST`` to a collection inserts, ``DELETE``
        deletes, ``PATCH`` patches, ``POST`` to ``item/verb`` calls the verb.
        Mutations answer with their operation (not yet waited for).
        """
        target = _Target.parse(path)
        info = COLLECTIONS[target.collection]
        kwargs: dict[str, Any] = {"project": self.project}
        if target.location is not None:
            kwargs[SCOPE_ARGS[target.scope]] = target.location
        if target.name is not None:
            named = "resource" if target.verb in RESOURCE_NAMED_VERBS else info.name_arg
            kwargs[named] = target.name
        mutating = method != "GET"
        if mutating:
            # One requestId for every retry of this call: a retried insert never creates twice.
            kwargs["request_id"] = str(uuid.uuid4())
        client = self.api(info.client)
        if method == "GET" and target.name and not target.verb:
            function, message = client.get, None
        elif method == "POST" and target.name is None:
            function, message = client.insert_unary, (f"{_arg(info.resource)}_resource", info)
        elif method == "DELETE" and target.name and not target.verb:
            function, message = client.delete_unary, None
        elif method == "PATCH" and target.name and not target.verb:
            function, message = client.patch_unary, (f"{_arg(info.resource)}_resource", info)
        elif method == "POST" and target.verb:
            verb = VERBS.get((target.collection, target.scope, target.verb))
            if verb is None:
                raise GitkubeError(f"gitkube does not call {method} {path}")
            function = getattr(client, verb[0])
            kwargs[verb[1]] = from_json(verb[2], body or {})
            message = None
        else:
            raise GitkubeError(f"gitkube does not call {method} {path}")
        if message is not None:
            kwargs[message[0]] = from_json(message[1].resource, body or {})
        answer = self._run(lambda: function(request=kwargs, retry=None), method, path, what)
        return to_json(answer)

    def list(self, path: str) -> list[dict[str, Any]]:
        """Every item of a collection (the pager follows ``nextPageToken``)."""
        target = _Target.parse(path)
        if target.name is not None:
            raise GitkubeError(f"not a collection: {path}")
        info = COLLECTIONS[target.collection]
        kwargs: dict[str, Any] = {"project": self.project}
        if target.location is not None:
            kwargs[SCOPE_ARGS[target.scope]] = target.location
        client = self.api(info.client)
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            # One page per call, each under the retry (the pager's own paging would not be).
            query = {**kwargs, "page_token": token} if token else kwargs
            page = self._run(_bind(client.list, query), "GET", path, None)
            items.extend(to_json(item) for item in page.items)
            token = page.next_page_token
            if not token:
                return items

    def mutate(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        """A mutating call and the wait for its operation; raises if the operation failed."""
        op = self.call(method, path, body=body, what=what)
        return self.wait(op, what=what)

    def wait(self, op: Mapping[str, Any], *, what: str | None = None) -> dict[str, Any]:
        """Wait for an operation with its own operations client on this endpoint."""
        scope, location = _operation_scope(op)
        client = self.api(OPERATION_CLIENTS[scope])
        kwargs: dict[str, Any] = {"project": self.project, "operation": str(op["name"])}
        if location is not None:
            kwargs[SCOPE_ARGS[scope]] = location
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
            current = to_json(
                self._run(
                    lambda: client.wait(**kwargs, retry=None),
                    "POST",
                    f"operations/{op['name']}",
                    what,
                )
            )
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

    def _run(self, function: Callable[[], Any], method: str, path: str, what: str | None) -> Any:
        """``function()`` under the retry policy; its errors as one :class:`GceApiError`."""
        import requests
        from google.api_core import exceptions as api_exceptions

        _compute()  # imported before the clock starts: the connect budget is for the network
        try:
            return retrying(
                function, judge, self.policy, what=f"Compute Engine: {method} {path}", log=log
            )
        except GaveUp as exc:
            status, reason, message = error_of(exc.last)
            if exc.unreachable:
                raise GceApiError(
                    f"cannot reach Compute Engine at {self.endpoint}: {message} "
                    f"(gave up after {exc.attempts} attempts; GITKUBE_CONNECT_TIMEOUT)",
                    status=0,
                    reason="connection",
                    obj=what,
                ) from exc
            raise GceApiError(
                _describe(method, path, status, reason, message) + f" ({exc.why})",
                status=status,
                reason=reason,
                obj=what,
            ) from exc
        except (api_exceptions.GoogleAPICallError, requests.RequestException) as exc:
            status, reason, message = error_of(exc)
            raise GceApiError(
                _describe(method, path, status, reason, message),
                status=status,
                reason=reason,
                obj=what,
            ) from exc


def _bind(function: Callable[..., Any], request: dict[str, Any]) -> Callable[[], Any]:
    """A call of a generated method with this request and no retry of its own."""
    return lambda: function(request=request, retry=None)


def error_of(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, reason, message) of a failed call; status 0 when nothing answered."""
    from google.api_core import exceptions as api_exceptions

    if isinstance(exc, api_exceptions.GoogleAPICallError):
        errors = [e for e in exc.errors or () if isinstance(e, Mapping)]
        reason = str(errors[0].get("reason", "")) if errors else ""
        return int(exc.code or 0), reason, str(exc.message or "")
    return 0, "connection", _short(str(exc))


def retryable(exc: BaseException) -> bool:
    """429 and 5xx (not quota), rate-limit 403s and connection errors."""
    import requests
    from google.api_core import exceptions as api_exceptions

    if isinstance(exc, requests.RequestException):
        return True
    if not isinstance(exc, api_exceptions.GoogleAPICallError):
        return False
    status, reason, _ = error_of(exc)
    if reason in QUOTA_REASONS:
        return False
    return status in RETRY_STATUSES or (status == 403 and reason in RATE_REASONS)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds a 429/503's ``Retry-After`` asks for (an HTTP date: our own backoff)."""
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    return parse_retry_after(value)


def judge(exc: BaseException) -> Verdict:
    """How the retry policy treats one failed Compute Engine call."""
    if not retryable(exc):
        return Verdict(retry=False)
    status, reason, message = error_of(exc)
    return Verdict(
        retry=True,
        retry_after=retry_after(exc),
        unreachable=status == 0,
        summary=message if status == 0 else f"HTTP {status} {reason}",
    )


def _describe(method: str, path: str, status: int, reason: str, message: str) -> str:
    hint = (
        " (quota errors are not retried: raise the quota or free some)"
        if reason in QUOTA_REASONS
        else ""
    )
    return f"Compute Engine {method} {path}: {status or 'no answer'} {reason}: {message}{hint}"


def _arg(message_name: str) -> str:
    """A message name as the generated methods' argument name: TargetPool -> target_pool."""
    out = ""
    for i, ch in enumerate(message_name):
        out += ("_" if i and ch.isupper() else "") + ch.lower()
    return out


def _operation_scope(op: Mapping[str, Any]) -> tuple[str, str | None]:
    if op.get("zone"):
        return "zones", str(op["zone"]).rsplit("/", 1)[-1]
    if op.get("region"):
        return "regions", str(op["region"]).rsplit("/", 1)[-1]
    return "global", None


def short_link(link: str) -> str:
    """A resource link without the API base URL and project."""
    rest = link.split("/compute/v1/", 1)[-1]
    if rest.startswith("projects/"):
        rest = rest.split("/", 2)[2] if rest.count("/") >= 2 else rest
    return rest


def _credentials(custom_endpoint: bool) -> Credentials:
    """Anonymous for a custom endpoint (the local server), else Application Default Credentials."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    if custom_endpoint:
        return AnonymousCredentials()
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise GitkubeError(
            f"no Google credentials for Compute Engine: {exc}. Run `gcloud auth "
            "application-default login`, or pass --gce-endpoint for a local server"
        ) from exc
    return credentials


def _short(message: str) -> str:
    """A connection error without urllib3's object reprs."""
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in message:
            return marker.lower()
    return message[:200]
