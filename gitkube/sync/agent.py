"""``gitkube agent``: keep syncing the rendered branch, one agent at a time.

Every ``poll`` the agent fetches the rendered branch and syncs when it moved;
every ``interval`` it syncs anyway, to heal drift. It writes only while it
holds the Lease; it serves Prometheus metrics on ``/metrics`` and liveness on
``/healthz``; SIGTERM lets the current step finish, then it stops (between
writes, never inside one) and releases the lease.

Faults never stop the loop (:mod:`gitkube.sync.faults` sorts them): refused
credentials, an unreachable API server or git remote are reported on
``/metrics`` and ``/healthz`` and tried again every poll, with the cluster
left at the last revision that was applied; a 401 re-reads the credentials
(a rotated token file) on the next request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gitkube.domain.ownership import PARENT_NAMESPACE
from gitkube.domain.targets import Action
from gitkube.primitives.errors import GitkubeError, SafetyRefusal
from gitkube.primitives.kubeapi import KubeApi
from gitkube.sync import webhook
from gitkube.sync.desired import load_desired
from gitkube.sync.faults import FaultReport
from gitkube.sync.lease import Lease
from gitkube.sync.run import SyncOptions, sync
from gitkube.sync.shard import Shard, applyset_of, lease_of, record_count, sharded
from gitkube.sync.source import open_source
from gitkube.sync.status_page import AgentStatus, render_page
from gitkube.sync.watch import WatchingKubeApi

log = logging.getLogger("gitkube.agent")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"500ms"``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise GitkubeError(f'"{text}" is not a duration (like 30s, 5m, 1h)')
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


@dataclass(frozen=True)
class AgentOptions:
    sync: SyncOptions
    interval: float = 300.0
    poll: float = 30.0
    lease_name: str = "gitkube-agent"
    lease_duration: float = 30.0
    listen: str = "127.0.0.1:9090"
    identity: str = ""
    watch: bool = True  # keep a watch per managed kind after the first run (gitkube.sync.watch)
    webhook_secret_file: str | None = None  # enables POST /hooks/git (gitkube.sync.webhook)
    shard: Shard | None = None  # --shards N --shard I (gitkube.sync.shard)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "gitkube_sync_duration_seconds", "Time taken by one sync run.", registry=self.registry
        )
        self.objects = Counter(
            "gitkube_sync_objects",
            "Objects handled by sync runs, by action.",
            ["action"],
            registry=self.registry,
        )
        self.errors = Counter(
            "gitkube_sync_errors", "Sync runs that failed or were refused.", registry=self.registry
        )
        self.refusals = Counter(
            "gitkube_sync_refusals",
            "Sync runs a safety rule refused, by check (rendered-signature, source-signature, "
            "rewind, rerender, policy, safety).",
            ["check"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "gitkube_last_success_timestamp_seconds",
            "When the last sync succeeded.",
            registry=self.registry,
        )
        self.leader = Gauge(
            "gitkube_leader", "1 while this agent holds the lease.", registry=self.registry
        )
        self.app_health = Gauge(
            "gitkube_app_health",
            "1 for each app's health state as the last run judged it.",
            ["app", "state"],
            registry=self.registry,
        )
        self.watches = Gauge(
            "gitkube_watches",
            "Kinds this agent watches (one informer each).",
            registry=self.registry,
        )
        self.wakeups = Counter(
            "gitkube_wakeups",
            "Syncs started before the poll was due, by cause (drift, webhook).",
            ["cause"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "gitkube_webhook_requests",
            "Requests to /hooks/git, by HTTP status answered (202 sync, 401 refused).",
            ["status"],
            registry=self.registry,
        )

        self.fetch_errors = Counter(
            "gitkube_source_fetch_errors",
            "Times the rendered branch could not be fetched or read; the last good revision "
            "stays applied.",
            registry=self.registry,
        )
        self.api_errors = Counter(
            "gitkube_api_errors",
            "Agent cycles the API server failed, by kind (unauthorized, forbidden, unreachable, "
            "throttled, server).",
            ["kind"],
            registry=self.registry,
        )
        self.fault = Gauge(
            "gitkube_agent_fault",
            "1 for each fault the last cycle met (source, unauthorized, forbidden, unreachable, "
            "throttled, server); none while all is well.",
            ["kind"],
            registry=self.registry,
        )

    def record_health(self, health: dict[str, Any] | None) -> None:
        if health is None:
            return
        self.app_health.clear()  # apps that left the repo leave the metric too
        for app in health["apps"]:
            self.app_health.labels(app=app["app"], state=app["state"]).set(1)


class Agent:
    def __init__(self, options: AgentOptions, api: KubeApi | None = None) -> None:
        self.options = options
        self.identity = options.identity or f"{socket.gethostname()}-{id(self):x}"
        plain = api or KubeApi.connect(options.sync.kubeconfig, options.sync.context)
        # Sync's LISTs come from watches once the first run named the kinds.
        self.api: KubeApi = (
            WatchingKubeApi(plain, lambda _: self.wake.set()) if options.watch else plain
        )
        self.wake = threading.Event()  # drift or a webhook: do not wait for the poll
        self._desired: Any = None  # the last rendered commit read, reused while it is current
        shard = options.shard
        lease_name = lease_of(options.lease_name, shard.index) if shard else options.lease_name
        self.lease = Lease(self.api, lease_name, self.identity, options.lease_duration)
        self._count_recorded = False  # this shard's count is on its parent
        self.metrics = Metrics()
        self.stop = threading.Event()
        self.heartbeat = time.monotonic()
        self.syncs = 0
        self._last_commit: str | None = None
        self._degraded: frozenset[str] = frozenset()  # apps already reported Degraded
        self._next_full = 0.0
        self._refused: tuple[str | None, float] = (None, 0.0)  # commit, when to try again
        self._namespace_ready = False
        self._server: ThreadingHTTPServer | None = None
        self.status = AgentStatus(self.identity)
        self.faults = FaultReport(self.metrics.fault)

    # -- http ----------------------------------------------------------------
    def serve(self) -> tuple[str, int]:
        host, _, port = self.options.listen.rpartition(":")
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(agent.metrics.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    # Liveness: 200 while the loop runs (a restart would not fix a
                    # refused token or a dead remote); the body names what is failing.
                    ok = agent.healthy()
                    text = ("ok\n" if ok else "stalled\n") + agent.faults.describe()
                    self._send(200 if ok else 503, text.encode(), "text/plain")
                elif self.path == "/api/status":
                    body = json.dumps(agent.status.document(), indent=2).encode()
                    self._send(200, body, "application/json")
                elif self.path == "/":
                    page = render_page(agent.status.document()).encode()
                    self._send(200, page, "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != webhook.PATH:
                    self._send(404, b"not found\n", "text/plain")
                    return
                verdict = agent.webhook(self)
                agent.metrics.webhooks.labels(status=str(verdict.status)).inc()
                self._send(verdict.status, f"{verdict.message}\n".encode(), "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        address = self._server.server_address
        return str(address[0]), int(address[1])

    def webhook(self, request: BaseHTTPRequestHandler) -> webhook.Verdict:
        """Check a /hooks/git request; a verified push wakes the loop to fetch and sync."""
        try:
            length = int(request.headers.get("Content-Length") or "")
        except ValueError:
            return webhook.Verdict(411, "Content-Length required")
        if not 0 <= length <= webhook.MAX_BODY:
            return webhook.Verdict(413, f"body over {webhook.MAX_BODY} bytes")
        body = request.rfile.read(length)
        secret = webhook.read_secret(self.options.webhook_secret_file)
        verdict = webhook.verify(secret, request.headers.get, body)
        if verdict.status == 202:
            self.metrics.wakeups.labels(cause="webhook").inc()
            self.wake.set()
        return verdict

    def healthy(self) -> bool:
        # The loop beats at least every poll; three missed beats is a stall.
        return time.monotonic() - self.heartbeat < 3 * max(self.options.poll, 1.0) + 30

    # -- loop ----------------------------------------------------------------
    def _renew_forever(self) -> None:
        while not self.stop.wait(self.options.lease_duration / 3):
            if self.lease.held():
                # Unreachable or refused: held() lapses on its own and the loop reports it.
                with contextlib.suppress(GitkubeError):
                    self.lease.try_acquire()
            self.metrics.leader.set(1 if self.lease.held() else 0)

    def run(self) -> None:
        threading.Thread(target=self._renew_forever, daemon=True).start()
        try:
            while not self.stop.is_set():
                self.heartbeat = time.monotonic()
                leader = self._tick()
                wait = (
                    self.options.poll
                    if leader
                    else min(self.options.poll, self.options.lease_duration / 3)
                )
                self._sleep(wait)
        finally:
            if isinstance(self.api, WatchingKubeApi):
                self.api.close()
            self.lease.release()
            if self._server is not None:
                self._server.shutdown()

    def _sleep(self, seconds: float) -> None:
        """Wait for the next poll, or less when woken (drift, a webhook) or stopped."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.wake.wait(min(left, 0.5)):
                break
        self.wake.clear()

    def _drift(self) -> list[str]:
        """The members a watch saw change by another hand since the last tick."""
        if not isinstance(self.api, WatchingKubeApi):
            return []
        drift = self.api.take_drift()
        if drift:
            log.info("drift: %s; syncing now", "; ".join(drift[:5]))
            self.metrics.wakeups.labels(cause="drift").inc()
        return drift

    def _read_desired(self) -> Any:
        """The rendered commit, read again only when the branch moved."""
        store = open_source(self.options.sync.repo)
        commit, _ = store.resolve_commit(self.options.sync.ref)
        if self._desired is None or self._desired.commit != commit:
            self._desired = load_desired(store, self.options.sync.ref)
        return self._desired

    def _tick(self) -> bool:
        """One pass of the loop: as leader, sync when the branch moved or a full
        interval passed. Returns whether this agent leads."""
        try:
            if not self._namespace_ready:
                self.api.ensure_namespace(PARENT_NAMESPACE)
                self._namespace_ready = True
            leader = self.lease.held() or self.lease.try_acquire()
        except GitkubeError as exc:
            self._api_fault(exc, "cannot take the lease")
            self.metrics.leader.set(0)
            return False
        self.metrics.leader.set(1 if leader else 0)
        if not leader:
            return False
        try:
            desired = self._read_desired()
        except GitkubeError as exc:
            self.metrics.errors.inc()
            self.metrics.fetch_errors.inc()
            self.faults.set("source", f"cannot read the rendered branch: {exc}")
            applied = (self._last_commit or "nothing yet")[:12]
            self.status.record_event(
                "error", f"cannot read the rendered branch: {exc} (keeping {applied})"
            )
            log.error("cannot read the rendered branch: %s (keeping %s applied)", exc, applied)
            return True
        self.faults.clear("source")
        due = (
            bool(self._drift())
            or desired.commit != self._last_commit
            or time.monotonic() >= self._next_full
        )
        if desired.commit == self._refused[0] and time.monotonic() < self._refused[1]:
            due = False  # a refused commit is tried again each interval, not each poll
        went_through = not due or self._sync_once(desired)
        if due and went_through:
            self._last_commit = desired.commit
            self._next_full = time.monotonic() + self.options.interval
            if isinstance(self.api, WatchingKubeApi):
                shard = self.options.shard
                applyset = applyset_of(desired.applyset, shard.index if shard else 0)
                self.api.member_ids = frozenset({applyset.id})
                self.metrics.watches.set(self.api.watch_listed())
        if went_through:  # the API faults are over
            self.faults.clear("unauthorized", "forbidden", "unreachable", "throttled", "server")
        return True

    def _sync_once(self, desired: Any) -> bool:
        started = time.monotonic()
        options = self.options.sync
        try:
            shard = self.options.shard
            if shard is not None:
                if not self._count_recorded:  # before this shard's first write
                    record_count(self.api, shard, desired.applyset)
                    self._count_recorded = True
                options, desired = sharded(
                    options, desired, self.api, shard, self.options.lease_name
                )
            result = sync(
                options,
                should_continue=lambda: not self.stop.is_set() and self.lease.held(),
                desired=desired,
                assess_health=True,
                # No new commit: whatever the run changes is drift it repairs.
                drift=desired.commit == self._last_commit,
                known_degraded=self._degraded,
                api=self.api,  # one client for the agent and every target
            )
        except SafetyRefusal as exc:
            self.metrics.errors.inc()
            self.metrics.refusals.labels(check=getattr(exc, "check", "safety")).inc()
            self.status.record_event("refused", f"{desired.commit[:12]}: {exc}")
            self._refused = (desired.commit, time.monotonic() + self.options.interval)
            log.error("sync of %s refused: %s", desired.commit[:12], exc)
            return False
        except GitkubeError as exc:
            self.metrics.errors.inc()
            self._api_fault(exc, None)
            self.status.record_event("failed", f"{desired.commit[:12]}: {exc}")
            log.error("sync of %s failed: %s", desired.commit[:12], exc)
            return False
        finally:
            self.metrics.duration.observe(time.monotonic() - started)
        self.syncs += 1
        self.status.record_run(result)
        self.metrics.record_health(result.app_health)
        if result.app_health is not None:
            self._degraded = frozenset(
                a["app"] for a in result.app_health["apps"] if a["state"] == "Degraded"
            )
        for action in Action:
            self.metrics.objects.labels(action=action.value).inc(result.count(action))
        self.metrics.last_success.set_to_current_time()
        log.info(
            "synced %s: %d created, %d updated, %d deleted",
            desired.commit[:12],
            result.count(Action.CREATE),
            result.count(Action.UPDATE) + result.count(Action.REPLACE),
            result.count(Action.DELETE),
        )
        return True

    def _api_fault(self, exc: GitkubeError, doing: str | None) -> None:
        """Count and show an API server failure by its kind (the loop carries on)."""
        kind = self.faults.classify(exc)
        if kind is None:
            return
        self.metrics.api_errors.labels(kind=kind).inc()
        self.faults.set(kind, str(exc))
        if doing is not None:
            self.status.record_event("error", f"{doing}: {exc}")
            log.error("%s: %s", doing, exc)
