"""A small HTTP proxy in front of a real API server that injects faults on request.

The reliability tests and the soak put it between gitkube and the real
kube-apiserver (or the local Compute Engine server): gitkube talks plain HTTP
to the proxy on loopback, the proxy forwards each request to the upstream
with the upstream's own TLS and client certificate (read from a kubeconfig),
and answers with what the upstream said, unless an armed :class:`Fault`
matches first:

- ``status``: answer with an HTTP status (429 with ``Retry-After``, 5xx,
  401/403) without forwarding;
- ``reset``: close the connection without an answer (before forwarding, or
  ``after_forward=True``: the upstream did the work, the answer is lost);
- ``stall``: hold the request for ``seconds`` before handling it;
- ``down``: refuse every connection while armed (:meth:`FaultProxy.down`).

Every request is logged (method, path, status), so a test counts requests
and writes; ``on_forwarded`` hears each forwarded write, so a test can kill a
process after the Nth write without timing anything::

    with FaultProxy.for_kubeconfig(controlplane.kubeconfig) as proxy:
        proxy.add(method="PATCH", status=429, retry_after=0.2, times=3)
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied.kubeconfig")
"""

from __future__ import annotations

import base64
import fnmatch
import http.client
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

FaultKind = Literal["status", "reset", "stall"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Hop-by-hop headers are the proxy's own business (RFC 9110 §7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


@dataclass
class Fault:
    """One armed fault; ``times=None`` keeps it armed. ``hits`` counts uses."""

    kind: FaultKind
    method: str = "*"
    path: str = "*"
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    after_forward: bool = False
    times: int | None = 1
    skip: int = 0  # let this many matching requests through first
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method) and fnmatch.fnmatchcase(
            path.split("?", 1)[0], self.path
        )


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int  # 0: reset, no answer
    injected: bool
    at: float = field(default_factory=time.time)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (http or https)."""

    def __init__(
        self,
        upstream: str,
        *,
        ca_pem: bytes | None = None,
        client_cert_pem: bytes | None = None,
        client_key_pem: bytes | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._context: ssl.SSLContext | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="gitkube-faultproxy-")
        if parts.scheme == "https":
            self._context = ssl.create_default_context()
            if ca_pem:
                self._context.load_verify_locations(cadata=ca_pem.decode())
            if client_cert_pem and client_key_pem:
                cert, key = Path(self._tmp.name) / "c.crt", Path(self._tmp.name) / "c.key"
                cert.write_bytes(client_cert_pem)
                key.write_bytes(client_key_pem)
                key.chmod(0o600)
                self._context.load_cert_chain(str(cert), str(key))
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self.on_forwarded: Callable[[Logged], None] | None = None
        self._lock = threading.Lock()
        self._down = False
        self._server: ThreadingHTTPServer | None = None

    @classmethod
    def for_kubeconfig(cls, kubeconfig: str | Path) -> FaultProxy:
        """A proxy to the server of a kubeconfig with inline certificates (the control plane's)."""
        document = yaml.safe_load(Path(kubeconfig).read_text())
        current = document.get("current-context")
        context = next(c["context"] for c in document["contexts"] if c["name"] == current)
        cluster = next(
            c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"]
        )
        user = next(u["user"] for u in document["users"] if u["name"] == context["user"])

        def data(holder: dict[str, Any], key: str) -> bytes | None:
            value = holder.get(f"{key}-data")
            return base64.b64decode(value) if value else None

        return cls(
            cluster["server"],
            ca_pem=data(cluster, "certificate-authority"),
            client_cert_pem=data(user, "client-certificate"),
            client_key_pem=data(user, "client-key"),
        )

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                return not proxy._down

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._tmp.cleanup()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def write_kubeconfig(self, path: Path, *, token: str | None = None) -> Path:
        """A kubeconfig that reaches the upstream through this proxy (the proxy holds the
        upstream credentials; ``token`` is sent along, for tests of what the proxy forwards)."""
        user: dict[str, Any] = {"token": token} if token else {}
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxied", "cluster": {"server": self.url}}],
            "users": [{"name": "proxied", "user": user}],
            "contexts": [{"name": "proxied", "context": {"cluster": "proxied", "user": "proxied"}}],
            "current-context": "proxied",
        }
        path.write_text(yaml.safe_dump(document))
        return path

    def retarget(self, upstream: str) -> None:
        """Forward to ``upstream`` from now on (an API server restarted on another port)."""
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or self._port

    # -- faults --------------------------------------------------------------
    def add(
        self,
        kind: FaultKind = "status",
        *,
        method: str = "*",
        path: str = "*",
        status: int = 503,
        retry_after: float | None = None,
        seconds: float = 0.0,
        after_forward: bool = False,
        times: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        fault = Fault(kind, method, path, status, retry_after, seconds, after_forward, times, skip)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def down(self, down: bool = True) -> None:
        """While down, every new connection is closed at once (a server that is gone)."""
        self._down = down

    def requests(self, method: str = "*", path: str = "*") -> list[Logged]:
        with self._lock:
            return [
                entry
                for entry in self.log
                if fnmatch.fnmatchcase(entry.method, method)
                and fnmatch.fnmatchcase(entry.path.split("?", 1)[0], path)
            ]

    @property
    def writes(self) -> list[Logged]:
        """Writes the upstream answered with success."""
        with self._lock:
            return [e for e in self.log if e.method in WRITE_METHODS and 200 <= e.status < 300]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path) and (
                    fault.times is None or fault.hits < fault.times
                ):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.hits += 1
                    return fault
        return None

    def _record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)

    # -- one request ---------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        fault = self._take(method, path)
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "status":
            self._record(Logged(method, path, fault.status, injected=True))
            self._answer_fault(handler, fault)
            return
        if fault is not None and fault.kind == "reset" and not fault.after_forward:
            self._record(Logged(method, path, 0, injected=True))
            self._reset(handler)
            return
        try:
            status, headers, data = self._forward(method, path, dict(handler.headers), body)
        except OSError:  # the upstream is gone: so is the answer
            self._record(Logged(method, path, 0, injected=False))
            self._reset(handler)
            return
        entry = Logged(method, path, status, injected=False)
        self._record(entry)
        if self.on_forwarded is not None and method in WRITE_METHODS:
            self.on_forwarded(entry)
        if fault is not None:  # a reset after the upstream did the work
            self._reset(handler)
            return
        handler.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection: http.client.HTTPConnection
        if self._scheme == "https":
            connection = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=300
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=300)
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        if self._scheme == "https":
            sent.pop("Authorization", None)  # the proxy speaks with the upstream's credentials
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    @staticmethod
    def _answer_fault(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        reason = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}.get(
            fault.status, "InternalError"
        )
        message = f"injected by the fault proxy: HTTP {fault.status}"
        body = (
            '{"kind":"Status","apiVersion":"v1","status":"Failure",'
            f'"message":"{message}","reason":"{reason}","code":{fault.status}}}'
        ).encode()
        handler.send_response(fault.status)
        handler.send_header("Content-Type", "application/json")
        if fault.retry_after is not None:
            handler.send_header("Retry-After", f"{fault.retry_after:g}")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _reset(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        sock = handler.connection
        try:
            # SO_LINGER 0: the client sees a reset, not a clean close.
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()
        except OSError:
            pass
