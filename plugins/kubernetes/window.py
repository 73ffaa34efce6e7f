"""A bounded window of parallel requests that backs off when the API server says 429.

The API server's priority and fairness (APF) gives each flow a few seats and
answers ``429 Too Many Requests`` (with a ``Retry-After``) when they are full.
A sync that sends one request at a time never fills them but waits for every
round trip; one that sends everything at once gets refused. So requests go
through a window, as TCP's congestion window does (AIMD): it grows by one
after a window's worth of successes and halves on a 429, at most once per
window of requests in flight (one burst of refusals is one signal, not many).
The refused request is sent again after the server's ``Retry-After``.

Only the size of the window and the re-sending of a throttled request live
here; what a request is, and the order between batches of them (kind order,
waves, dependsOn phases), is the caller's. A batch either finishes or stops at
its first failure: nothing new is started after it, what is in flight is
waited for, and the first error is raised with how many items were done.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gitkube.plugin_api import KubeApiError, throttling_left_to_caller

T = TypeVar("T")

# The window starts small enough for any API server and grows while answers come back.
START = 4
MAXIMUM = 16  # the connection pool (gitkube.primitives.kubeapi) holds as many
# A throttled request is sent again at most this many times before the sync fails.
MAX_THROTTLED_TRIES = 20
# When the server sends no Retry-After (it always should), wait this long.
DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 30.0


def retry_after(exc: KubeApiError) -> float:
    """The seconds the API server asked for: its ``Retry-After`` header, else the
    429's body (``details.retryAfterSeconds``)."""
    asked = exc.retry_after
    if asked is None:
        asked = (exc.body.get("details") or {}).get("retryAfterSeconds")
    try:
        seconds = DEFAULT_RETRY_AFTER if asked is None else float(asked)
    except (TypeError, ValueError):
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def is_throttled(exc: BaseException) -> bool:
    return isinstance(exc, KubeApiError) and exc.status == 429


def paced(work: Callable[[T], None]) -> Callable[[T], None]:
    """``work`` with 429s raised to the window, not retried inside the request.

    Every other transient error is still retried by the one retry policy
    (gitkube.primitives.retry); a 429 is the window's signal to shrink.
    """

    def call(item: T) -> None:
        with throttling_left_to_caller():
            work(item)

    return call


class BatchFailed(Exception):
    """The first item of a batch that failed, and how (``error``)."""

    def __init__(self, item: object, error: BaseException) -> None:
        super().__init__(str(error))
        self.item = item
        self.error = error


@dataclass
class WindowStats:
    """What one window went through: for tests and the benchmark, never for decisions."""

    sent: int = 0
    throttled: int = 0
    smallest: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)


class Window:
    """The AIMD window shared by every batch of one sync (it learns across batches)."""

    def __init__(self, start: int = START, maximum: int = MAXIMUM, minimum: int = 1) -> None:
        self.minimum = minimum
        self.maximum = max(maximum, minimum)
        self.size = min(max(start, minimum), self.maximum)
        self._successes = 0
        # A 429 of a request sent before the last decrease says nothing new.
        self._epoch = 0
        self._lock = threading.Lock()
        self.stats = WindowStats(smallest=self.size, largest=self.size, sizes=[self.size])

    def _resized(self) -> None:
        self.stats.smallest = min(self.stats.smallest, self.size)
        self.stats.largest = max(self.stats.largest, self.size)
        self.stats.sizes.append(self.size)

    def succeeded(self) -> None:
        with self._lock:
            self._successes += 1
            if self._successes >= self.size and self.size < self.maximum:
                self.size += 1  # additive increase: one more per window's worth of answers
                self._successes = 0
                self._resized()

    def throttled(self, epoch: int) -> None:
        with self._lock:
            self.stats.throttled += 1
            if epoch != self._epoch:
                return
            self._epoch += 1
            self._successes = 0
            self.size = max(self.minimum, self.size // 2)  # multiplicative decrease
            self._resized()

    @property
    def epoch(self) -> int:
        return self._epoch

    def run(
        self,
        items: Sequence[T],
        work: Callable[[T], None],
        *,
        done: Callable[[T], None] = lambda item: None,
    ) -> None:
        """Call ``work`` on every item, at most ``size`` at a time.

        ``done`` is called (in the caller's thread) for each item that finished.
        The first error other than a 429 stops the batch: nothing new starts,
        what is in flight finishes, and :class:`BatchFailed` is raised with
        the item and its error.
        """
        if len(items) <= 1 or self.maximum == 1:
            self._run_serially(items, paced(work), done)
            return
        _Batch(self, items, paced(work), done).run()

    def _run_serially(
        self, items: Iterable[T], work: Callable[[T], None], done: Callable[[T], None]
    ) -> None:
        for item in items:
            tries = 0
            while True:
                epoch = self.epoch
                self.stats.sent += 1
                try:
                    work(item)
                except Exception as exc:
                    if not is_throttled(exc) or tries >= MAX_THROTTLED_TRIES:
                        raise BatchFailed(item, exc) from exc
                    assert isinstance(exc, KubeApiError)
                    tries += 1
                    self.throttled(epoch)
                    time.sleep(retry_after(exc))
                    continue
                self.succeeded()
                done(item)
                break


class _Batch(Generic[T]):
    """One call of :meth:`Window.run`: a queue, the requests in flight, the first error.

    The requests go out from plain worker threads fed through two queues, not from
    a ``ThreadPoolExecutor``: the loop waits on one queue of answers, which costs the
    same for any window size, where ``concurrent.futures.wait`` locks and unlocks
    every future in flight on each call, and no future (a condition, a lock, its
    callbacks) is made per request.
    """

    def __init__(
        self,
        window: Window,
        items: Sequence[T],
        work: Callable[[T], None],
        done: Callable[[T], None],
    ) -> None:
        self.window = window
        self.work = work
        self.done = done
        # (not before, tries, item): a throttled item waits for its Retry-After.
        self.queue: deque[tuple[float, int, T]] = deque((0.0, 0, item) for item in items)
        # Request number -> (window epoch when sent, tries, item).
        self.in_flight: dict[int, tuple[int, int, T]] = {}
        self.sent = 0
        self.jobs: queue.SimpleQueue[tuple[int, T] | None] = queue.SimpleQueue()
        # (request number, its error or None), as each answer comes.
        self.answers: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()
        self.workers: list[threading.Thread] = []
        self.delayed = 0  # queued items that were throttled: only they can have to wait
        self.error: BatchFailed | None = None

    def _worker(self) -> None:
        while (job := self.jobs.get()) is not None:
            number, item = job
            try:
                self.work(item)
            except BaseException as exc:  # handed to the caller's thread, which raises it
                self.answers.put((number, exc))
            else:
                self.answers.put((number, None))

    def _send(self, item: T, tries: int) -> None:
        if len(self.workers) <= len(self.in_flight):  # started as the window first needs them
            worker = threading.Thread(
                target=self._worker, name=f"gitkube-apply-{len(self.workers)}", daemon=True
            )
            worker.start()
            self.workers.append(worker)
        self.sent += 1
        self.window.stats.sent += 1
        self.in_flight[self.sent] = (self.window.epoch, tries, item)
        self.jobs.put((self.sent, item))

    def _start_ready(self) -> None:
        now = time.monotonic()
        for _ in range(len(self.queue)):
            if len(self.in_flight) >= self.window.size or self.error is not None:
                return
            not_before, tries, item = self.queue[0]
            if not_before > now:
                self.queue.rotate(-1)  # its Retry-After is not over; look at the next
                continue
            self.queue.popleft()
            if tries:
                self.delayed -= 1
            self._send(item, tries)

    def _next_wakeup(self) -> float | None:
        """How long until a throttled item's Retry-After is over; ``None``: nothing to
        wake for but an answer. An item that is ready now waits for an answer too (the
        window is full, else it was started): a timeout of 0 would spin the loop and
        take the CPU from the API server on the same machine."""
        if not self.delayed or self.error is not None:
            return None
        now = time.monotonic()
        later = [t for t, _, _ in self.queue if t > now]
        return min(later) - now if later else None

    def run(self) -> None:
        try:
            while self.queue or self.in_flight:
                self._start_ready()
                if not self.in_flight:
                    if self.error is not None or not self.queue:
                        break
                    time.sleep(self._next_wakeup() or 0.0)
                    continue
                try:
                    self._settle(*self.answers.get(timeout=self._next_wakeup()))
                except queue.Empty:
                    continue  # a throttled item's Retry-After is over
                while not self.answers.empty():
                    self._settle(*self.answers.get_nowait())
                if self.error is not None and not self.in_flight:
                    break
        finally:
            for _ in self.workers:
                self.jobs.put(None)
            for worker in self.workers:
                worker.join()
        if self.error is not None:
            raise self.error

    def _settle(self, number: int, exc: BaseException | None) -> None:
        epoch, tries, item = self.in_flight.pop(number)
        if exc is None:
            self.window.succeeded()
            self.done(item)
            return
        if isinstance(exc, KubeApiError) and is_throttled(exc) and tries < MAX_THROTTLED_TRIES:
            self.window.throttled(epoch)
            self.queue.append((time.monotonic() + retry_after(exc), tries + 1, item))
            self.delayed += 1
            return
        if self.error is None:
            self.error = BatchFailed(item, exc)
