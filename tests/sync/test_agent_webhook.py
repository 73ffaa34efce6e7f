"""POST /hooks/git: signed as GitHub and GitLab sign, wrong signatures refused (401)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gitkube.sync.webhook import github_signature, verify
from tests.sync.conftest import CONFIGMAP, git
from tests.sync.test_agent import pushed_to_a_bare_remote, wait_for
from tests.sync.test_agent_watch import configmap

SECRET = b"s3cret-shared-with-the-forge"


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def headers_of(pairs: dict[str, str]):
    lowered = {k.lower(): v for k, v in pairs.items()}
    return lambda name: lowered.get(name.lower())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Hub-Signature-256": github_signature(SECRET, b"{}")}, 202),
        ({"X-Hub-Signature-256": github_signature(b"other", b"{}")}, 401),
        ({"X-Hub-Signature-256": github_signature(SECRET, b"{ }")}, 401),  # another body
        ({"X-Hub-Signature-256": "sha256="}, 401),
        ({"X-Gitlab-Token": SECRET.decode()}, 202),
        ({"X-Gitlab-Token": "guess"}, 401),
        ({}, 401),
        ({"X-Hub-Signature-256": github_signature(SECRET, b"{}"), "X-GitHub-Event": "ping"}, 200),
    ],
)
def test_signatures_as_the_forges_send_them(headers, status):
    assert verify(SECRET, headers_of(headers), b"{}").status == status


def test_without_a_secret_every_request_is_refused():
    token = {"X-Gitlab-Token": ""}
    assert verify(None, headers_of(token), b"{}").status == 403


def test_a_signed_push_syncs_at_once_and_a_wrong_signature_changes_nothing(
    sync_repo,
    running_agent,
    kube,
    tmp_path: Path,
    monkeypatch,
):
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    repo = sync_repo({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1")})
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_bytes(SECRET + b"\n")  # as a mounted Secret often has it
    agent = running_agent(repo, remote=f"file://{bare}", webhook_secret_file=str(secret_file))
    wait_for(lambda: configmap(kube, repo.namespace, "web-conf"), "the first sync")
    host, port = agent.serve()
    url = f"http://{host}:{port}/hooks/git"

    repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
    repo.commit_and_render("v2")
    git(repo.path, "push", "-q", str(bare), "rendered")
    body = b'{"ref": "refs/heads/rendered"}'

    status, _ = post(url, body, {"X-Hub-Signature-256": github_signature(b"wrong", body)})
    assert status == 401
    status, _ = post(url, body, {"X-Gitlab-Token": "wrong"})
    assert status == 401
    assert agent.metrics.wakeups.labels(cause="webhook")._value.get() == 0
    assert configmap(kube, repo.namespace, "web-conf")["data"]["key"] == "v1"

    # Poll and interval are an hour: only the webhook can make it sync now.
    status, text = post(url, body, {"X-Hub-Signature-256": github_signature(SECRET, body)})
    assert (status, text) == (202, "syncing\n")
    wait_for(
        lambda: configmap(kube, repo.namespace, "web-conf")["data"]["key"] == "v2",
        "the pushed commit to be synced",
    )
    assert agent.metrics.webhooks.labels(status="401")._value.get() == 2
