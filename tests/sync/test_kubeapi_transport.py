"""gitkube sends its requests through urllib3 itself, not the official client's
request path (half the CPU a request), so everything the kubeconfig says about
reaching the server must still hold on that path: here, its ``proxy-url``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import yaml

from gitkube.primitives.kubeapi import KubeApi


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
    finally:
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


class ConnectProxy:
    """An HTTP proxy that only tunnels (CONNECT), as corporate proxies in front of
    an API server do; it records each tunnel's target."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.tunnels: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def close(self) -> None:
        self.listener.close()


@contextmanager
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_kubeconfig_proxy_url_carries_every_request(controlplane, tmp_path: Path) -> None:
    with connect_proxy() as proxy:
        document = yaml.safe_load(Path(controlplane.kubeconfig).read_text())
        for cluster in document["clusters"]:
            cluster["cluster"]["proxy-url"] = proxy.url
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(document))

        api = KubeApi.connect(str(kubeconfig))
        try:
            namespace = api.request("GET", "/api/v1/namespaces/default")
            applied = api.apply(
                "/api/v1/namespaces/default/configmaps/through-a-proxy",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "through-a-proxy", "namespace": "default"},
                    "data": {"via": "proxy"},
                },
                manager="gitkube",
            )
        finally:
            api.api_client.close()

    server = controlplane.server.removeprefix("https://")
    assert namespace["metadata"]["name"] == "default"
    assert applied["data"] == {"via": "proxy"}
    # Every connection went through the proxy's tunnel to the API server.
    assert proxy.tunnels and set(proxy.tunnels) == {server}
