"""Notifications from sync to a local HTTP receiver (real control plane, real HTTP)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.health.conftest import GHOST_DEPLOYMENT
from tests.health.test_sync_wait import write_status_when_created
from tests.sync.conftest import CONFIGMAP

SECRET = "s3cr3t-for-tests"


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it got and answers as told."""

    def __init__(self, answers: list[int] | None = None, hang: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers = list(answers or [])
        self.hang = hang
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if receiver.hang:
                    time.sleep(30)
                    return
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, f"got {len(self.requests)} of {count} requests"
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def notify_config(url: str, **extra: Any) -> str:
    rule = {"url": url, "secretFrom": {"env": "GITKUBE_TEST_HOOK_SECRET"}, **extra}
    return f"notify: [{json.dumps(rule)}]\n"


def test_a_sync_with_changes_posts_a_signed_event(sync_repo, receiver, monkeypatch):
    monkeypatch.setenv("GITKUBE_TEST_HOOK_SECRET", SECRET)
    hook = receiver()
    repo = sync_repo(
        {"web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1")},
        extra_config=notify_config(hook.url),
    )
    repo.sync_json()
    (event,) = hook.events(1)
    assert event["kind"] == "synced" and event["apps"] == ["web/conf"]
    assert event["counts"] == {"created": 1, "updated": 0, "deleted": 0}
    assert event["cluster"] == repo.cluster and event["commit"]
    request = hook.requests[0]
    expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Gitkube-Signature"] == f"sha256={expected}"
    repo.sync_json()  # nothing changed: nothing to say
    time.sleep(1)
    assert len(hook.requests) == 1


def test_a_receiver_error_is_retried(sync_repo, receiver, monkeypatch):
    monkeypatch.setenv("GITKUBE_TEST_HOOK_SECRET", SECRET)
    hook = receiver(answers=[500, 503])
    repo = sync_repo(
        {"web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1")},
        extra_config=notify_config(hook.url),
    )
    repo.sync_json()
    events = hook.events(3)
    assert [e["kind"] for e in events] == ["synced"] * 3  # two refusals, then delivered


def test_a_refused_sync_and_a_degraded_app_are_reported_in_slack_format(
    sync_repo, receiver, kube, monkeypatch
):
    monkeypatch.setenv("GITKUBE_TEST_HOOK_SECRET", SECRET)
    hook = receiver()
    repo = sync_repo(
        {"web/ghost/deploy.yaml": GHOST_DEPLOYMENT},
        extra_config=notify_config(hook.url, format="slack", events=["degraded", "refused"]),
    )
    path = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/ghost"
    write_status_when_created(
        kube,
        path,
        {
            "replicas": 1,
            "updatedReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "ImagePullBackOff",
                }
            ],
        },
    )
    assert repo.sync("--wait", "--timeout", "60s").returncode == 3
    (degraded,) = hook.events(1)
    assert degraded["text"].startswith(":warning: gitkube degraded on " + repo.cluster)
    assert "web/ghost: Deployment ghost: ProgressDeadlineExceeded" in degraded["text"]

    repo.remove("web/ghost")
    repo.write({"web/other/config.yaml": CONFIGMAP.format(name="other", value="v1")})
    repo.commit_and_render("replace everything")
    assert repo.sync().returncode == 2  # pruning 100% of what gitkube owns
    refused = hook.events(2)[1]
    assert refused["text"].startswith(":no_entry: gitkube refused")


def test_a_receiver_that_never_answers_delays_sync_by_its_timeout_at_most(sync_repo, receiver, cli):
    hook = receiver(hang=True)
    repo = sync_repo(
        {"web/conf/config.yaml": CONFIGMAP.format(name="conf", value="v1")},
        extra_config=f'notify: [{{url: "{hook.url}", timeout: 2}}]\n',
    )
    started = time.monotonic()
    done = cli.subprocess(
        "sync", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "-o", "json"
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert len(hook.requests) >= 1  # it was tried
    started = time.monotonic()
    plain = cli.subprocess("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig)
    baseline = time.monotonic() - started  # a process start and a plan, no delivery
    assert plain.returncode == 0
    assert elapsed < baseline + 2 + 5, (elapsed, baseline)  # + the rule's timeout, + slack
