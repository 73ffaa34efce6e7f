"""The HTTP side: a threaded standard-library server speaking Compute Engine's REST API."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from . import errors
from .api import Call, ComputeApi
from .discovery import Discovery
from .errors import ApiError
from .faults import Faults
from .state import Loc, Store, parse_link

DEFAULT_PROJECT = "fake-project"
T = TypeVar("T")

_discovery: Discovery | None = None
_discovery_lock = threading.Lock()


def shared_discovery() -> Discovery:
    """The parsed discovery document, shared by every server in the process (it is 5 MB)."""
    global _discovery
    with _discovery_lock:
        if _discovery is None:
            _discovery = Discovery()
        return _discovery


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered."""

    method_id: str | None  # discovery method id; None when no route matched
    http_method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any


class FakeCompute:
    """A local Compute Engine v1 REST server.

    >>> with FakeCompute() as gce:
    ...     client = gce.client(compute_v1.AddressesClient)

    ``faults`` arms failures (see :meth:`Faults.add`), ``requests`` is the
    request log, ``reset()`` forgets all state, faults and log.
    """

    def __init__(
        self, project: str = DEFAULT_PROJECT, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.project = project
        self.faults = Faults()
        self.store = Store()
        self.discovery = shared_discovery()
        self.api = ComputeApi(self.discovery, self.store, self.faults)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL to give clients as ``api_endpoint``."""
        host = self._httpd.server_address[0]
        return f"http://{host!s}:{self.port}"

    def start(self) -> FakeCompute:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="fake-compute", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve on the calling thread (the command line uses this)."""
        self._httpd.serve_forever()

    def shutdown(self) -> None:
        self._httpd.shutdown()

    def __enter__(self) -> FakeCompute:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource, operation, armed fault and logged request."""
        with self.store.lock:
            self.store.reset()
            self.api.reset()
        self.faults.clear()
        with self._log_lock:
            self._log.clear()

    # -- for tests -------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first (a copy)."""
        with self._log_lock:
            return list(self._log)

    def calls(self, method_id: str) -> int:
        """How many requests were routed to a discovery method, e.g. ``compute.addresses.list``."""
        return sum(1 for r in self.requests if r.method_id == method_id)

    def resource(self, link: str) -> dict[str, Any] | None:
        """A copy of a stored resource (``projects/p/regions/r/addresses/a`` or a URL)."""
        loc = parse_link(link, self.project)
        return self.store.snapshot(loc) if loc else None

    def resources(
        self, collection: str, project: str | None = None
    ) -> Iterator[tuple[Loc, dict[str, Any]]]:
        with self.store.lock:
            return iter(list(self.store.scan(project or self.project, collection)))

    def settle(self) -> None:
        """Complete every operation that is due now (as the next request would)."""
        with self.store.lock:
            self.store.ops.advance()

    def client(self, client_class: type[T], **kwargs: Any) -> T:
        """A google-cloud-compute client (e.g. ``compute_v1.AddressesClient``) talking to this server."""
        return client_for(client_class, self.endpoint, **kwargs)

    # -- request handling --------------------------------------------------------------

    def dispatch(
        self, http_method: str, raw_path: str, raw_body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one request: (status, extra headers, JSON body)."""
        url = urllib.parse.urlsplit(raw_path)
        query = {
            k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()
        }
        path = urllib.parse.unquote(url.path)
        method_id: str | None = None
        body: Any = None
        try:
            routed = self.discovery.route(http_method, path)
            if routed is None:
                raise ApiError(
                    404, f"The requested URL {path} was not found on this server.", "notFound"
                )
            method, params = routed
            method_id = method.id
            fault = self.faults.take_request_fault(method.id)
            if fault is not None:
                raise fault.http_error()
            if raw_body.strip():
                try:
                    body = json.loads(raw_body)
                except ValueError as exc:
                    raise ApiError(
                        400, f"Invalid JSON payload received. {exc}", "parseError", with_status=True
                    ) from exc
            problem = self.discovery.check_params(
                method, params, query
            ) or self.discovery.check_body(method, body)
            if problem is not None:
                raise problem.error()
            with self.store.lock:
                self.store.ops.advance()
                response = self.api.handle(Call(method, params, query, body))
            status, headers = 200, {}
        except ApiError as exc:
            status, headers, response = exc.code, exc.headers, exc.body()
        except Exception as exc:  # the fake's own bug: answer like the API would, loudly
            status, headers = 500, {}
            response = errors.ApiError(
                500, f"fake compute internal error: {exc!r}", "backendError"
            ).body()
        with self._log_lock:
            self._log.append(RequestRecord(method_id, http_method, path, query, status, body))
        return status, headers, response


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeCompute


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write with Nagle off: otherwise keep-alive
    # clients wait ~40 ms per request on delayed ACKs.
    wbufsize = -1
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, body = self.server.fake.dispatch(self.command, self.path, raw)
        data = json.dumps(body, indent=1).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # The request log is on the FakeCompute; stderr noise helps nobody in tests.
        return


# The transport attribute under which google-cloud-compute keeps the clients an
# ExtendedOperation polls, and the client class for each.
_OPERATION_CLIENTS = {
    "zone_operations": "ZoneOperationsClient",
    "region_operations": "RegionOperationsClient",
    "global_operations": "GlobalOperationsClient",
}


def client_for(client_class: type[T], endpoint: str, **kwargs: Any) -> T:
    """A google-cloud-compute REST client for ``endpoint`` with anonymous credentials.

    ``client_options.api_endpoint`` keeps an ``http://`` scheme, but the
    generated transports build the operation clients that
    ``ExtendedOperation.result()`` polls *without* the caller's client options,
    so they would poll compute.googleapis.com. The transport caches those
    clients in ``_extended_operations_services``; filling that cache up front
    with clients for the same endpoint is the only hook the library offers.
    """
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    def build(cls: Any) -> Any:
        return cls(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
            **kwargs,
        )

    client = build(client_class)
    cache = getattr(getattr(client, "_transport", None), "_extended_operations_services", None)
    if isinstance(cache, dict):
        for key, name in _OPERATION_CLIENTS.items():
            cache[key] = build(getattr(compute_v1, name))
    return client
