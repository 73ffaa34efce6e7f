"""Connections fail fast and clearly: a named kubeconfig first, one line, no library noise."""

from __future__ import annotations

import socket
import time

from tests.gce.conftest import external_app

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_missing_kubeconfig_is_the_first_thing_reported(sync_repo, cli, tmp_path):
    repo = sync_repo(external_app())
    missing = tmp_path / "nope.kubeconfig"
    result = cli("plan", "--repo", repo.path, "--kubeconfig", missing)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {missing}: kubeconfig not found"
    status = cli("status", "--kubeconfig", missing)
    assert status.returncode == 1 and "kubeconfig not found" in status.stderr


def test_an_unreachable_api_server_is_one_line_at_once(cli, tmp_path):
    port = closed_port()
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(port=port))
    started = time.monotonic()
    result = cli.subprocess("status", "--kubeconfig", kubeconfig)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: cannot reach the API server at https://127.0.0.1:{port} "
        f"(kubeconfig {kubeconfig}, context x): connection refused; is the server running, "
        "is this the right host?"
    ]
    assert elapsed < 10, elapsed  # no retries behind the user's back


def test_an_unreachable_compute_endpoint_gives_up_within_the_connect_timeout(
    sync_repo, cli, monkeypatch
):
    repo = sync_repo(external_app())
    dead = f"http://127.0.0.1:{closed_port()}"
    result = cli.subprocess(
        "plan",
        "--repo",
        repo.path,
        "--kubeconfig",
        repo.kubeconfig,
        "--gce-endpoint",
        dead,
        env={"GITKUBE_CONNECT_TIMEOUT": "2"},
    )
    assert result.returncode == 1
    assert f"cannot reach Compute Engine at {dead}" in result.stderr
    assert "connection refused" in result.stderr
    assert "retrying in" in result.stderr  # the user sees it is trying
    # It gave up on the connect budget, not after the 2-minute retry budget.
    assert "GITKUBE_CONNECT_TIMEOUT" in result.stderr
