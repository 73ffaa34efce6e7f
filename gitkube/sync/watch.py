"""Watches for the agent: one informer per kind it manages, and LISTs answered from them.

After the agent's first run, every cluster-wide LIST that run made (one per
group-kind, see the Kubernetes target) gets an :class:`Informer`, as
client-go's reflector does it: a LIST, then a WATCH from the LIST's
``resourceVersion`` with bookmarks; a watch that ends or loses its connection
(an API server restart) resumes from the last ``resourceVersion`` it saw; a
``410 Gone`` (that version was compacted away) makes it LIST again, and the
difference between the old and the new list is handed on as events, so a
deletion made while the watch was down is still seen.

:class:`WatchingKubeApi` is the :class:`KubeApi` the agent hands to sync. It
answers a LIST from the informer of that collection once the informer holds
every write this client made (compared by ``resourceVersion``), so an idle
cycle, and a cycle that repairs drift, make no LIST at all. Every watch event
on a member of the agent's ApplySet that is not one of its own writes and not
a status-only change is *drift*: the agent is woken at once (``on_drift``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.domain.keys import PART_OF_LABEL
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi, KubeApiError

log = logging.getLogger("gitkube.agent.watch")

# The API server ends each watch after this long; the informer then resumes from
# its last resourceVersion (a cheap request that also proves the connection alive).
WATCH_SECONDS = 240
# How long a LIST waits for the informer to catch up with this client's own
# writes before it is sent to the API server instead.
CATCH_UP_SECONDS = 5.0
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_STATUS_ONLY = ("status",)
_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


@dataclass(frozen=True)
class ApiPath:
    """A REST path taken apart: ``/apis/apps/v1/namespaces/web/deployments/front``."""

    group: str
    version: str
    resource: str
    namespace: str | None
    name: str | None

    @property
    def collection(self) -> str:
        """The cluster-wide collection of this resource, in this version."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{root}/{self.resource}"


def parse_path(path: str) -> ApiPath | None:
    """The resource, namespace and name a path addresses; ``None`` for discovery,
    subresources and anything else."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if len(rest) == 1:
        return ApiPath(group, version, rest[0], None, None)
    if len(rest) == 2:
        return ApiPath(group, version, rest[0], None, rest[1])
    if len(rest) in (3, 4) and rest[0] == "namespaces":
        return ApiPath(group, version, rest[2], rest[1], rest[3] if len(rest) == 4 else None)
    return None


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool | None:
    """Whether ``labels`` match an equality-based selector (``a=b,c!=d,e``);
    ``None`` for a selector this module does not read (sets, ``in``)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if " " in term or "(" in term:
            return None
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if labels.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _revision(obj: Mapping[str, Any] | None) -> int | None:
    text = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    try:
        return int(text) if text else None
    except ValueError:  # opaque to clients by contract; etcd's are numbers
        return None


def _key(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or None, str(meta.get("name", ""))


def meaningful_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether anything but status and bookkeeping changed (a controller writing
    status is not drift)."""
    if old is None or new is None:
        return True

    def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in obj.items() if k not in _STATUS_ONLY}
        body["metadata"] = {
            k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_METADATA
        }
        return body

    return comparable(old) != comparable(new)


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


EventHandler = Callable[
    ["Informer", str, "Mapping[str, Any] | None", "Mapping[str, Any] | None"], None
]


class Informer:
    """The objects of one collection (cluster-wide, one label selector), kept current
    by a LIST and then a WATCH, in a thread of its own."""

    def __init__(
        self,
        api: KubeApi,
        collection: str,
        selector: str,
        on_event: EventHandler | None = None,
    ) -> None:
        self.api = api
        self.collection = collection
        self.selector = selector
        self.on_event = on_event
        self.items: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.resource_version = ""
        self.synced = threading.Event()
        self.changed = threading.Condition()
        self.lists = 0  # LISTs made: the first and every relist
        self.gone = 0  # 410s answered with a relist
        self.resumes = 0  # watches resumed from a resourceVersion
        self._stop = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None

    # -- life ------------------------------------------------------------------
    def start(self) -> Informer:
        self._thread = threading.Thread(
            target=self._run, name=f"watch {self.collection}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            # Shut the socket down rather than close the response: close() waits for
            # the reading thread's buffer lock, up to the whole watch timeout.
            with contextlib.suppress(Exception):  # a dead socket may fail any way
                response.connection.sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        relist = True
        failures = 0
        while not self._stop.is_set():
            try:
                if relist:
                    self._list()
                    relist = False
                self._watch()
                failures = 0
            except Gone:
                self.gone += 1
                relist = True
                log.info("watch of %s expired (410 Gone): listing again", self.collection)
            except Exception as exc:
                if self._stop.is_set():
                    return
                failures += 1
                # The API server restarts or the network fails: back off, then resume.
                delay = min(0.2 * 2 ** min(failures, 5), 5.0)
                log.info("watch of %s broke (%s); resuming in %.1fs", self.collection, exc, delay)
                self._stop.wait(delay)

    # -- list ------------------------------------------------------------------
    def _list(self) -> None:
        items: dict[tuple[str | None, str], dict[str, Any]] = {}
        token: str | None = None
        while True:
            page = self.api.request(
                "GET",
                self.collection,
                query={"labelSelector": self.selector or None, "continue": token, "limit": 500},
            )
            for item in page.get("items", ()):
                items[_key(item)] = item
            token = page.get("metadata", {}).get("continue")
            if not token:
                version = page.get("metadata", {}).get("resourceVersion", "")
                break
        self.lists += 1
        with self.changed:
            old, self.items = self.items, items
            self.resource_version = version
            self.changed.notify_all()
        if self.synced.is_set():
            # A relist: what changed while no watch ran reaches the handler as events.
            for key in old.keys() - items.keys():
                self._emit("DELETED", old[key], None)
            for key, item in items.items():
                before = old.get(key)
                if before is None or _revision(before) != _revision(item):
                    self._emit("ADDED" if before is None else "MODIFIED", before, item)
        self.synced.set()

    # -- watch -----------------------------------------------------------------
    def _watch(self) -> None:
        self.resumes += 1
        response = self.api.stream(
            self.collection,
            query={
                "watch": "true",
                "labelSelector": self.selector or None,
                "resourceVersion": self.resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": WATCH_SECONDS,
            },
            read_timeout=WATCH_SECONDS + 30,
        )
        self._response = response
        try:
            for event in _lines(response):
                if self._stop.is_set():
                    return
                self._handle(event)
        except KubeApiError as exc:
            if exc.status == 410:
                raise Gone() from None
            raise
        finally:
            self._response = None
            response.release_conn()

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise GitkubeError(f"watch of {self.collection}: {obj.get('message', obj)}")
        version = (obj.get("metadata") or {}).get("resourceVersion", "")
        if kind == "BOOKMARK":
            with self.changed:
                self.resource_version = version or self.resource_version
            return
        key = _key(obj)
        with self.changed:
            before = self.items.get(key)
            if kind == "DELETED":
                self.items.pop(key, None)
            else:
                self.items[key] = dict(obj)
            self.resource_version = version or self.resource_version
            self.changed.notify_all()
        self._emit(str(kind), before, None if kind == "DELETED" else obj)

    def _emit(
        self, kind: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        if self.on_event is not None:
            try:
                self.on_event(self, kind, old, new)
            except Exception:
                log.exception("watch handler of %s failed", self.collection)

    # -- read ------------------------------------------------------------------
    def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` holds for the items (checked under the lock)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True


def _lines(response: Any) -> Iterator[dict[str, Any]]:
    """The JSON events of a watch stream, one a line."""
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


@dataclass(frozen=True)
class _Write:
    """One write this client made, as the API server answered it."""

    revision: int | None  # None: a delete
    labels: Mapping[str, str]


class WatchingKubeApi(KubeApi):
    """A :class:`KubeApi` whose cluster-wide LISTs come from informers once they
    run (:meth:`watch_listed` starts them for what was listed so far)."""

    def __init__(
        self,
        api: KubeApi,
        on_drift: Callable[[str], None] | None = None,
    ) -> None:
        # The same credentials, re-read on a 401 (a rotated token), under the same retry policy.
        super().__init__(
            api.api_client, api.where, reload=api.reload_credentials, policy=api.policy
        )
        self.log = api.log
        self.on_drift = on_drift
        self.member_ids: frozenset[str] = frozenset()  # the ApplySets whose members are watched
        self.informers: dict[tuple[str, str], Informer] = {}
        self.served_from_cache = 0
        self._suspects: list[tuple[Informer, str, dict[str, Any], bool]] = []
        self._listed: set[tuple[str, str]] = set()
        self._writes: dict[tuple[str, str, str | None, str], _Write] = {}
        self._lock = threading.Lock()
        reload = api.reload_credentials
        self._watch_api = KubeApi(  # long reads on their own pool
            _own_client(api.api_client),
            api.where,
            reload=None if reload is None else lambda: _own_client(reload()),
            policy=api.policy,
        )

    @property
    def watch_log(self) -> Any:
        """The informers' requests (their LISTs and WATCHes), apart from sync's."""
        return self._watch_api.log

    # -- answering LISTs ----------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        query = kwargs.get("query") or {}
        where = parse_path(path)
        whole_list = not (query.get("continue") or query.get("watch") or query.get("limit"))
        if (
            method == "GET"
            and where
            and where.name is None
            and where.namespace is None
            and whole_list
        ):
            key = (path, query.get("labelSelector") or "")
            informer = self.informers.get(key)
            if informer is None:
                with self._lock:
                    self._listed.add(key)
            else:
                served = self._from_informer(informer, where)
                if served is not None:
                    return served
        answer = super().request(method, path, **kwargs)
        if method in _WRITES and where is not None and not query.get("dryRun"):
            self._remember_write(method, where, answer)
        return answer

    def _remember_write(self, method: str, where: ApiPath, answer: Any) -> None:
        if not isinstance(answer, Mapping) or answer.get("kind") == "Status":
            body: Mapping[str, Any] = {}
        else:
            body = answer
        meta = body.get("metadata") or {}
        name = where.name or meta.get("name")
        if not name:
            return
        deleted = method == "DELETE"
        write = _Write(None if deleted else _revision(body), dict(meta.get("labels") or {}))
        with self._lock:
            self._writes[(where.group, where.resource, where.namespace, str(name))] = write

    def _pending(
        self, informer: Informer, where: ApiPath
    ) -> list[tuple[tuple[str | None, str], _Write]]:
        with self._lock:
            return [
                ((namespace, name), write)
                for (group, resource, namespace, name), write in self._writes.items()
                if group == where.group
                and resource == where.resource
                and selector_matches(informer.selector, write.labels) is not False
            ]

    def _from_informer(self, informer: Informer, where: ApiPath) -> dict[str, Any] | None:
        if not informer.synced.is_set():
            return None
        pending = self._pending(informer, where)

        def caught_up() -> bool:
            # Events reach a watch in resourceVersion order: once the informer is
            # at a write's version, it has seen that write and all before it.
            at = _revision({"metadata": {"resourceVersion": informer.resource_version}})
            for key, write in pending:
                if write.revision is None:
                    held = informer.items.get(key)
                    if held is not None and not (held.get("metadata") or {}).get(
                        "deletionTimestamp"
                    ):
                        return False
                elif at is None or at < write.revision:
                    return False
            return True

        if not informer.wait_until(caught_up, CATCH_UP_SECONDS):
            log.info("watch of %s lags behind this agent's writes: listing", informer.collection)
            return None
        with informer.changed:
            items = [dict(item) for item in informer.items.values()]
            version = informer.resource_version
        self.served_from_cache += 1
        return {"kind": "List", "metadata": {"resourceVersion": version}, "items": items}

    # -- starting watches ----------------------------------------------------------
    def watch_listed(self) -> int:
        """Start an informer for every cluster-wide collection listed so far and not
        watched yet; returns how many run."""
        with self._lock:
            new, self._listed = self._listed - self.informers.keys(), set()
        for path, selector in sorted(new):
            self.informers[(path, selector)] = Informer(
                self._watch_api, path, selector, self._event
            ).start()
        return len(self.informers)

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            i.synced.wait(max(deadline - time.monotonic(), 0)) for i in self.informers.values()
        )

    def close(self) -> None:
        for informer in self.informers.values():
            informer.stop()

    # -- drift -------------------------------------------------------------------
    def _event(
        self,
        informer: Informer,
        kind: str,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> None:
        if self.on_drift is None:
            return
        members = [
            obj
            for obj in (old, new)
            if obj is not None
            and ((obj.get("metadata") or {}).get("labels") or {}).get(PART_OF_LABEL)
            in self.member_ids
        ]
        if not members or not meaningful_change(old, new):
            return
        # Whether it is this client's own write is decided when the drift is taken:
        # a watch event can arrive before the answer to the write that caused it.
        with self._lock:
            self._suspects.append((informer, kind, dict(new or old or {}), new is None))
        self.on_drift(kind)

    def take_drift(self) -> list[str]:
        """What changed by another hand since the last call (not this client's writes)."""
        with self._lock:
            suspects, self._suspects = self._suspects, []
        found = []
        for informer, kind, obj, deleted in suspects:
            if self._own_write(informer, obj, deleted=deleted):
                continue
            namespace, name = _key(obj)
            where = parse_path(informer.collection)
            what = where.resource if where else informer.collection
            found.append(f"{kind.lower()} {what} {namespace + '/' if namespace else ''}{name}")
        return found

    def _own_write(self, informer: Informer, obj: Mapping[str, Any], *, deleted: bool) -> bool:
        where = parse_path(informer.collection)
        if where is None:
            return False
        namespace, name = _key(obj)
        with self._lock:
            write = self._writes.get((where.group, where.resource, namespace, name))
        if write is None:
            return False
        if deleted:
            return write.revision is None
        seen = _revision(obj)
        return write.revision is not None and seen is not None and seen <= write.revision


def _own_client(api_client: Any) -> Any:
    """A client on the same credentials with a pool of its own: each watch holds a
    connection for minutes and must not starve sync's requests."""
    from kubernetes import client as kclient

    configuration = copy.copy(api_client.configuration)
    configuration.connection_pool_maxsize = 64
    return kclient.ApiClient(configuration)
