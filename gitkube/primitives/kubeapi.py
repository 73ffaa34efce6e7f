"""A small JSON client for the Kubernetes REST API, with a request log.

gitkube talks to the API server in a handful of shapes (aggregated
discovery, LIST by group-kind, server-side apply, delete with
preconditions), so it uses the official client's connection, TLS and
kubeconfig handling and speaks plain JSON on top. Every request is counted:
the sync benchmark and tests hold gitkube to one LIST per group-kind.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitkube.primitives.errors import GitkubeError

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


class KubeApiError(GitkubeError):
    """The API server refused a request; ``status`` and ``reason`` say how."""

    def __init__(self, message: str, *, status: int, reason: str, body: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = dict(body)


@dataclass
class RequestLog:
    """What was asked of the API server, by verb and by path."""

    verbs: Counter[str] = field(default_factory=Counter)
    entries: list[tuple[str, str]] = field(default_factory=list)

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

    def __init__(self, api_client: kclient.ApiClient, where: str = "") -> None:
        self.api_client = api_client
        self.log = RequestLog()
        self.where = where  # which credentials, for messages

    def _unreachable(self, reason: object) -> GitkubeError:
        host = getattr(self.api_client.configuration, "host", "the API server")
        via = f" ({self.where})" if self.where else ""
        text = str(reason)
        if "Connection refused" in text or "NewConnectionError" in text:
            text = "connection refused; is the server running, is this the right host?"
        elif "timed out" in text.lower():
            text = f"no answer within {CONNECT_TIMEOUT:g}s (GITKUBE_CONNECT_TIMEOUT)"
        return GitkubeError(f"cannot reach the API server at {host}{via}: {text}")

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
        configuration = kclient.Configuration()
        # No silent urllib3 retries (their log lines leak to the terminal):
        # a connection that fails is reported at once, in one line.
        configuration.retries = False
        try:
            if kubeconfig is None:
                try:
                    kconfig.load_incluster_config(client_configuration=configuration)
                    return cls(kclient.ApiClient(configuration), where="in-cluster credentials")
                except kconfig.ConfigException:
                    pass
            kconfig.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except (kconfig.ConfigException, OSError) as exc:
            raise GitkubeError(f"cannot load kubeconfig: {exc}", file=kubeconfig) from None
        where = f"kubeconfig {kubeconfig or os.environ.get('KUBECONFIG', '~/.kube/config')}"
        if context:
            where += f", context {context}"
        return cls(kclient.ApiClient(configuration), where=where)

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
        """Send one request; return the decoded JSON body (``None`` when empty)."""
        self.log.verbs[method] += 1
        self.log.entries.append((method, path))
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        if body is not None and content_type == APPLY_PATCH:
            # The API server reads an apply patch with its YAML reader, which
            # refuses the surrogate-pair escapes that json.dumps writes for
            # emoji: send UTF-8 JSON (valid YAML) instead.
            body = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        method_, url, header_params, body_text, post_params = self.api_client.param_serialize(
            method,
            path,
            query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
            header_params=headers,
            body=body,  # serialised to JSON by the client unless already bytes
            auth_settings=["BearerToken"],
        )
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api_client.call_api(
                method_,
                url,
                header_params=header_params,
                body=body_text,
                post_params=post_params,
                _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
            data = response.read()
        except ApiException as exc:
            raise self._unreachable(exc.reason) from None
        except Exception as exc:  # urllib3 connection errors and the like
            raise self._unreachable(exc) from None
        if response.status >= 400:
            raise _api_error(method, path, response.status, data)
        return json.loads(data) if data else None

    def stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float) -> Any:
        """Open a streaming GET (a watch): the urllib3 response, its body not read yet.

        Counted as ``WATCH`` in the request log. An error status raises
        :class:`KubeApiError` as :meth:`request` does; the caller closes the response.
        """
        self.log.verbs["WATCH"] += 1
        self.log.entries.append(("WATCH", path))
        method_, url, header_params, body_text, post_params = self.api_client.param_serialize(
            "GET",
            path,
            query_params=[(k, v) for k, v in query.items() if v is not None],
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api_client.call_api(
                method_,
                url,
                header_params=header_params,
                body=body_text,
                post_params=post_params,
                _request_timeout=(CONNECT_TIMEOUT, read_timeout),
            )
        except ApiException as exc:
            raise self._unreachable(exc.reason) from None
        except Exception as exc:  # urllib3 connection errors and the like
            raise self._unreachable(exc) from None
        if response.status >= 400:
            raise _api_error("GET", path, response.status, response.read())
        return response.response  # urllib3's, read as it arrives

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


def _api_error(method: str, path: str, status: int, data: bytes | None) -> KubeApiError:
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {"message": (data or b"").decode(errors="replace")}
    message = body.get("message") or f"HTTP {status}"
    return KubeApiError(
        f"{method} {path}: {message}", status=status, reason=str(body.get("reason", "")), body=body
    )
