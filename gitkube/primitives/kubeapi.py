"""A small JSON client for the Kubernetes REST API, with a request log.

gitkube talks to the API server in a handful of shapes (aggregated
discovery, LIST by group-kind, server-side apply, delete with
preconditions), so it uses the official client's connection, TLS and
kubeconfig handling and speaks plain JSON on top. Every request is counted:
the sync benchmark and tests hold gitkube to one LIST per group-kind.

Every request runs under gitkube's one retry policy (:mod:`gitkube.primitives.retry`,
shared with the Compute Engine client): a 429 (with its ``Retry-After``) is
retried for every verb, a 5xx for the verbs that are safe to repeat (GET,
server-side apply, DELETE with preconditions), a connection reset for GET;
a refused connection is reported at once. A 401 re-reads the credentials once
(a rotated token file, a refreshed kubeconfig) before it is reported, in one
line naming the kubeconfig and context.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gcpause import collector_paused
from gitkube.primitives.retry import GaveUp, RetryPolicy, Verdict, parse_retry_after, retrying

if TYPE_CHECKING:
    # The kubernetes package takes a third of a second to import: only sync pays it.
    from kubernetes import client as kclient

AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)
APPLY_PATCH = "application/apply-patch+yaml"
# Seconds to wait for a connection to the API server (GITKUBE_CONNECT_TIMEOUT),
# and for an answer once connected (a CRD's establishment, a big LIST).
CONNECT_TIMEOUT = float(os.environ.get("GITKUBE_CONNECT_TIMEOUT", "10"))
READ_TIMEOUT = 300.0
# Connections kept open per host: requests go out side by side (the Kubernetes
# target's apply window, plugins/kubernetes/window.py, sends up to 16).
CONNECTIONS = 16
# Answers at least this large are decoded with the cyclic collector paused.
LARGE_ANSWER = 1 << 20
# 5xx are retried only for requests that are safe to send twice.
REPEATABLE = frozenset({"GET", "PATCH", "DELETE", "PUT"})
RETRY_STATUSES = frozenset({502, 503, 504})

log = logging.getLogger("gitkube.kubeapi")


# Set in a thread whose caller paces requests itself (the Kubernetes target's
# apply window): there a 429 is a signal to slow down, which the window must see.
_caller_paces = threading.local()


@contextmanager
def throttling_left_to_caller() -> Iterator[None]:
    """Within this block, in this thread, a 429 is raised at once instead of retried.

    The caller then owns waiting out its ``retry_after`` and sending the request
    again; every other error is still retried under the one policy.
    """
    before = getattr(_caller_paces, "on", False)
    _caller_paces.on = True
    try:
        yield
    finally:
        _caller_paces.on = before


class KubeApiError(GitkubeError):
    """The API server refused a request; ``status`` and ``reason`` say how."""

    def __init__(self, message: str, *, status: int, reason: str, body: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = dict(body)
        self.retry_after: float | None = None  # the server's Retry-After, seconds


class Unreachable(GitkubeError):
    """Nothing answered: the connection was refused, reset or timed out."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass
class RequestLog:
    """What was asked of the API server, by verb and by path."""

    verbs: Counter[str] = field(default_factory=Counter)
    entries: list[tuple[str, str]] = field(default_factory=list)
    # Requests are made from several threads at once; no count may be lost.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, method: str, path: str) -> None:
        with self.lock:
            self.verbs[method] += 1
            self.entries.append((method, path))

    @property
    def writes(self) -> int:
        return sum(
            n for verb, n in self.verbs.items() if verb in {"POST", "PUT", "PATCH", "DELETE"}
        )

    @property
    def total(self) -> int:
        return sum(self.verbs.values())


class KubeApi:
    """JSON requests against one cluster."""

    def __init__(
        self,
        api_client: kclient.ApiClient,
        where: str = "",
        *,
        reload: Callable[[], kclient.ApiClient] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.api_client = api_client
        self.log = RequestLog()
        self.where = where  # which credentials, for messages
        self.policy = policy or RetryPolicy()
        # Reads the credentials again (the kubeconfig, a token file): tried once on a 401.
        self.reload_credentials = reload

    @property
    def host(self) -> str:
        return str(getattr(self.api_client.configuration, "host", "the API server"))

    def _unreachable(self, reason: object) -> Unreachable:
        via = f" ({self.where})" if self.where else ""
        text = str(reason)
        refused = "Connection refused" in text or "NewConnectionError" in text
        if refused:
            text = "connection refused; is the server running, is this the right host?"
        elif "reset" in text.lower() or "aborted" in text.lower() or "RemoteDisconnected" in text:
            text = "the connection was lost mid-request (server restarted or a proxy cut it)"
        elif "timed out" in text.lower():
            text = f"no answer within {CONNECT_TIMEOUT:g}s (GITKUBE_CONNECT_TIMEOUT)"
        else:
            text = text.splitlines()[0][:200] if text else "connection lost"
        return Unreachable(
            f"cannot reach the API server at {self.host}{via}: {text}", refused=refused
        )

    def _credentials_error(self, exc: KubeApiError) -> KubeApiError:
        """A 401/403 as one line that says which credentials were refused."""
        via = self.where or "these credentials"
        if exc.status == 401:
            text = (
                f"unauthorized: the API server at {self.host} rejected the credentials of {via} "
                "(expired or wrong token or certificate?)"
            )
        else:
            text = f"forbidden: {via}: {exc.body.get('message') or exc.message}"
        error = KubeApiError(text, status=exc.status, reason=exc.reason, body=exc.body)
        return error

    def _judge(self, method: str) -> Callable[[BaseException], Verdict]:
        def judge(exc: BaseException) -> Verdict:
            if isinstance(exc, KubeApiError) and (
                (exc.status == 429 and not getattr(_caller_paces, "on", False))
                or (_transient(exc) and method in REPEATABLE)
            ):
                return Verdict(
                    retry=True, retry_after=exc.retry_after, summary=f"HTTP {exc.status}"
                )
            if isinstance(exc, Unreachable) and not exc.refused and method == "GET":
                return Verdict(retry=True, unreachable=True, summary=exc.message)
            return Verdict(retry=False)

        return judge

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> KubeApi:
        """From a kubeconfig file, or in-cluster credentials when none is given and
        ``$KUBECONFIG`` is unset and a service-account token is mounted.

        A kubeconfig named explicitly must exist: it is checked before anything
        else, so a typo is the first thing reported.
        """
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        if kubeconfig is not None and not os.path.isfile(kubeconfig):
            raise GitkubeError("kubeconfig not found", file=kubeconfig)

        def load(incluster: bool) -> kclient.ApiClient:
            configuration = kclient.Configuration()
            # No silent urllib3 retries (their log lines leak to the terminal):
            # a connection that fails is reported at once, in one line.
            configuration.retries = False
            configuration.connection_pool_maxsize = CONNECTIONS
            try:
                if incluster:
                    kconfig.load_incluster_config(client_configuration=configuration)
                else:
                    kconfig.load_kube_config(
                        config_file=kubeconfig, context=context, client_configuration=configuration
                    )
            except (kconfig.ConfigException, OSError) as exc:
                if incluster:
                    raise
                raise GitkubeError(f"cannot load kubeconfig: {exc}", file=kubeconfig) from None
            return kclient.ApiClient(configuration)

        if kubeconfig is None:
            try:
                client = load(incluster=True)
                return cls(client, "in-cluster credentials", reload=lambda: load(incluster=True))
            except (kconfig.ConfigException, OSError):
                pass
        client = load(incluster=False)
        where = f"kubeconfig {kubeconfig or os.environ.get('KUBECONFIG', '~/.kube/config')}"
        where += f", context {context or _current_context(kubeconfig)}"
        return cls(client, where=where, reload=lambda: load(incluster=False))

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """Send one request; return the decoded JSON body (``None`` when empty).

        Retried under :attr:`policy`; a 401 re-reads the credentials once first."""
        reloaded = False
        while True:
            try:
                return retrying(
                    lambda: self._send(method, path, query, body, content_type, accept),
                    self._judge(method),
                    self.policy,
                    what=f"API server {self.host}: {method} {path}",
                    log=log,
                )
            except GaveUp as exc:
                last = exc.last
                if isinstance(last, KubeApiError):
                    raise KubeApiError(
                        f"{last.message} ({exc.why})",
                        status=last.status,
                        reason=last.reason,
                        body=last.body,
                    ) from None
                if isinstance(last, GitkubeError):
                    raise GitkubeError(f"{last.message} ({exc.why})") from None
                raise
            except KubeApiError as exc:
                if exc.status == 401 and self.reload_credentials is not None and not reloaded:
                    reloaded = True
                    try:
                        self.api_client = self.reload_credentials()
                    except Exception:  # credentials that cannot be read now: report the 401
                        raise self._credentials_error(exc) from None
                    continue
                if exc.status in (401, 403):
                    raise self._credentials_error(exc) from None
                raise

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str,
        accept: str,
    ) -> Any:
        self.log.record(method, path)
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        if body is not None and content_type == APPLY_PATCH:
            # The API server reads an apply patch with its YAML reader, which
            # refuses the surrogate-pair escapes that json.dumps writes for
            # emoji: send UTF-8 JSON (valid YAML) instead.
            body = json.dumps(
                body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        response = self._call(method, path, query, headers, body, READ_TIMEOUT)
        data = response.data
        if response.status >= 400:
            error = _api_error(method, path, response.status, data)
            error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error
        if not data:
            return None
        if len(data) < LARGE_ANSWER:
            return json.loads(data)
        with collector_paused():  # a big LIST: a million small objects at once
            return json.loads(data)

    def stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float) -> Any:
        """Open a streaming GET (a watch): the urllib3 response, its body not read yet.

        Counted as ``WATCH`` in the request log. An error status raises
        :class:`KubeApiError` as :meth:`request` does; the caller closes the response.
        """
        self.log.record("WATCH", path)
        response = self._call(
            "GET", path, query, {"Accept": "application/json"}, None, read_timeout, preload=False
        )
        if response.status >= 400:
            data = response.read()
            response.release_conn()
            raise _api_error("GET", path, response.status, data)
        return response  # read as it arrives

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        headers: dict[str, str],
        body: Any,
        read_timeout: float,
        *,
        preload: bool = True,
    ) -> Any:
        """Send one request through the client's connection pool: urllib3's response,
        read already unless ``preload`` is false. Nothing answering (refused, reset,
        timed out) is :class:`Unreachable`.

        The official client is used for its kubeconfig, TLS, proxy and pool, not for
        its request path: that path costs 0.7 ms of CPU a request where urllib3's own
        costs 0.5 ms, and a first sync sends thousands.
        """
        configuration = self.api_client.configuration
        headers = {**self.api_client.default_headers, **headers}
        # The client's token settings, read for every request as the client does:
        # its refresh hook renews an expiring exec or cloud token here.
        for auth in configuration.auth_settings().values():
            if auth["in"] == "header" and auth["value"]:
                headers[auth["key"]] = auth["value"]
        url = configuration.host + path
        if query:
            url += "?" + urlencode([(k, v) for k, v in query.items() if v is not None])
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body, allow_nan=False).encode("utf-8")
        try:
            return self.api_client.rest_client.pool_manager.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=preload,
                timeout=_timeout(read_timeout),
            )
        except Exception as exc:  # urllib3's connection errors and the like
            raise self._unreachable(exc) from None

    def ensure_namespace(self, name: str) -> None:
        """Create namespace ``name`` unless it exists (another writer racing us is fine)."""
        try:
            self.request("GET", f"/api/v1/namespaces/{name}")
            return
        except KubeApiError as exc:
            if exc.status != 404:
                raise
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self.request("POST", "/api/v1/namespaces", body=body)
        except KubeApiError as exc:
            if exc.status != 409:
                raise

    def apply(
        self,
        path: str,
        obj: Mapping[str, Any],
        *,
        manager: str,
        force: bool = False,
        dry_run: bool = False,
    ) -> Any:
        """Server-side apply of ``obj`` at its object path."""
        query: dict[str, Any] = {"fieldManager": manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PATCH", path, query=query, body=obj, content_type=APPLY_PATCH)


def _transient(exc: KubeApiError) -> bool:
    """A 5xx worth asking again: 502/503/504, or a 500 that says so (client-go's rule: it
    carries Retry-After) or that is etcd timing out; a 500 such as a patch the server
    cannot type would fail the same way every time."""
    if exc.status in RETRY_STATUSES:
        return True
    return exc.status == 500 and (
        exc.retry_after is not None or "timed out" in exc.message or "timeout" in exc.message
    )


@functools.lru_cache(maxsize=8)
def _timeout(read_timeout: float) -> Any:
    import urllib3

    return urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout)


def _current_context(kubeconfig: str | None) -> str:
    """The kubeconfig's current context, for messages ("" when it cannot be read)."""
    from kubernetes import config as kconfig

    try:
        _, current = kconfig.list_kube_config_contexts(config_file=kubeconfig)
        return str(current.get("name", ""))
    except Exception:  # only used to word a message
        return "(current)"


def _api_error(method: str, path: str, status: int, data: bytes | None) -> KubeApiError:
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {"message": (data or b"").decode(errors="replace")}
    message = body.get("message") or f"HTTP {status}"
    return KubeApiError(
        f"{method} {path}: {message}", status=status, reason=str(body.get("reason", "")), body=body
    )
