"""notify: send sync events to webhooks (generic JSON, or Slack's incoming-webhook format).

Each rule of ``notify:`` in gitkube.yaml (see :mod:`gitkube.plugin_api`'s
``Event``) that wants an event gets one HTTP POST:

* ``format: webhook``: the event as JSON; with ``secretFrom``, the header
  ``X-Gitkube-Signature: sha256=<hex HMAC-SHA256 of the body>`` lets the
  receiver check it came from gitkube (GitHub's scheme);
* ``format: slack``: ``{"text": ...}`` for a Slack-compatible incoming webhook.

Deliveries never hold up a sync: they go to one background thread through a
bounded queue (a full queue drops the event, with a log line), are retried
with exponential backoff on connection errors, 429 and 5xx, and each gives up
at its rule's ``timeout`` (default 5 s). A one-shot ``gitkube sync`` waits at
exit for deliveries still inside their timeout, never longer.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.plugin_api import (
    Event,
    GitkubeError,
    KubeApi,
    KubeApiError,
    NotifyRule,
    SyncSettings,
    hookimpl,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Gitkube-Signature"
SECRET_NAMESPACE = "gitkube-system"
QUEUE_SIZE = 100


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    headers: Mapping[str, str]
    deadline: float  # time.monotonic() after which it is given up


class _Sender:
    """One background thread posting deliveries until their deadlines."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=QUEUE_SIZE)
        self.pending = 0
        self.latest_deadline = 0.0  # of the deliveries queued or in flight
        self.lock = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="gitkube-notify", daemon=True)
        self.thread.start()
        atexit.register(self.drain)

    def submit(self, delivery: Delivery) -> None:
        with self.lock:
            try:
                self.queue.put_nowait(delivery)
            except queue.Full:
                log.warning("notification queue full; dropped an event for %s", _host(delivery.url))
                return
            self.pending += 1
            self.latest_deadline = max(self.latest_deadline, delivery.deadline)

    def drain(self) -> None:
        """Wait for queued deliveries, each at most until its own deadline."""
        with self.lock:
            while self.pending:
                remaining = self.latest_deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.lock.wait(remaining)

    def _run(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                _post_with_retries(delivery)
            finally:
                with self.lock:
                    self.pending -= 1
                    self.lock.notify_all()


def _post_with_retries(delivery: Delivery) -> None:
    # Imported here: http and ssl would load with every render otherwise, and
    # only a render that notifies posts anything.
    import urllib.error
    import urllib.request

    pause = 0.25
    while True:
        remaining = delivery.deadline - time.monotonic()
        if remaining <= 0:
            log.warning("notification to %s gave up at its timeout", _host(delivery.url))
            return
        request = urllib.request.Request(
            delivery.url, data=delivery.body, headers=dict(delivery.headers), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=remaining) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code != 429 and exc.code < 500:
                log.warning("notification to %s refused: HTTP %d", _host(delivery.url), exc.code)
                return
        except (OSError, TimeoutError):
            pass  # unreachable or timed out: retried while time remains
        time.sleep(min(pause, max(delivery.deadline - time.monotonic(), 0)))
        pause *= 2


def _host(url: str) -> str:
    return urllib.parse.urlparse(url).netloc or url


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def sender() -> _Sender:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = _Sender()
        return _sender


def resolve(source: Mapping[str, Any], settings: SyncSettings, what: str) -> str:
    """A secret value from the environment or a Secret in gitkube-system."""
    if "env" in source:
        value = os.environ.get(str(source["env"]))
        if not value:
            raise GitkubeError(f"notify: {what} names ${source['env']}, which is not set")
        return value
    ref = source["secret"]
    api = KubeApi.connect(settings.kubeconfig, settings.context)
    try:
        secret = api.request("GET", f"/api/v1/namespaces/{SECRET_NAMESPACE}/secrets/{ref['name']}")
    except KubeApiError as exc:
        raise GitkubeError(
            f"notify: {what}: Secret {SECRET_NAMESPACE}/{ref['name']}: {exc.message}"
        ) from None
    encoded = (secret.get("data") or {}).get(ref["key"])
    if encoded is None:
        raise GitkubeError(
            f"notify: {what}: Secret {SECRET_NAMESPACE}/{ref['name']} has no key {ref['key']}"
        )
    return base64.b64decode(encoded).decode()


def delivery_for(rule: NotifyRule, event: Event, settings: SyncSettings) -> Delivery:
    url = rule.url or resolve(rule.url_from or {}, settings, "urlFrom")
    if rule.format == "slack":
        body = json.dumps({"text": slack_text(event)}).encode()
    else:
        body = json.dumps(event.as_dict(), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "gitkube"}
    if rule.secret_from is not None:
        key = resolve(rule.secret_from, settings, "secretFrom").encode()
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    return Delivery(url, body, headers, time.monotonic() + rule.timeout)


def slack_text(event: Event) -> str:
    icon = {
        "synced": ":white_check_mark:",
        "failed": ":x:",
        "refused": ":no_entry:",
        "degraded": ":warning:",
        "drift-repaired": ":wrench:",
    }.get(event.kind, "")
    commit = f" `{event.commit[:12]}`" if event.commit else ""
    apps = f" ({', '.join(event.apps[:10])})" if event.apps else ""
    return f"{icon} gitkube {event.kind} on {event.cluster}{commit}{apps}: {event.message}"


@hookimpl
def gitkube_notify(event: Event, settings: SyncSettings) -> None:
    for rule in settings.config.notify:
        if rule.wants(event):
            sender().submit(delivery_for(rule, event, settings))
