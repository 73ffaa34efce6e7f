"""The AIMD arithmetic of the Kubernetes target's apply window (plugins/kubernetes/window.py).

What the API server does is proven in tests/sync/test_apply_window.py against a
real kube-apiserver; here only the window's own bookkeeping, with plain functions.
"""

from __future__ import annotations

import threading
import time

import pytest
from gitkube_plugins.kubernetes.window import BatchFailed, Window

from gitkube.primitives.kubeapi import KubeApiError


def too_many(seconds: float = 0) -> KubeApiError:
    return KubeApiError(
        "429",
        status=429,
        reason="TooManyRequests",
        body={"details": {"retryAfterSeconds": seconds}},
    )


def test_the_window_grows_by_one_per_window_of_answers_and_halves_on_a_429():
    window = Window(start=4, maximum=16)
    for _ in range(4):
        window.succeeded()
    assert window.size == 5
    epoch = window.epoch
    window.throttled(epoch)
    assert window.size == 2
    window.throttled(epoch)  # sent before the decrease: the same burst, not a new signal
    assert window.size == 2
    window.throttled(window.epoch)
    window.throttled(window.epoch)
    assert window.size == 1  # never below one


def test_every_item_is_done_once_though_the_server_throttles():
    window = Window(start=8, maximum=8)
    refused: set[int] = set()
    done: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> None:
        with lock:
            first = item not in refused
            refused.add(item)
        if first and item % 2 == 0:
            raise too_many()

    window.run(list(range(40)), work, done=done.append)
    assert sorted(done) == list(range(40))
    assert window.stats.throttled == 20
    assert window.stats.smallest < 8


def test_the_first_failure_stops_the_batch_and_names_its_item():
    window = Window(start=1, maximum=4)
    started: list[int] = []

    def work(item: int) -> None:
        started.append(item)
        if item == 0:
            raise ValueError("refused")

    with pytest.raises(BatchFailed) as failed:
        window.run(list(range(10)), work)
    assert failed.value.item == 0 and isinstance(failed.value.error, ValueError)
    assert started == [0]  # nothing new starts after a failure


def test_a_request_throttled_too_often_fails_the_batch():
    window = Window(start=2, maximum=2)

    def work(item: int) -> None:
        raise too_many()

    with pytest.raises(BatchFailed) as failed:
        window.run([1, 2], work)
    assert isinstance(failed.value.error, KubeApiError) and failed.value.error.status == 429


def test_a_full_window_waits_for_an_answer_instead_of_polling(monkeypatch):
    """While every seat of the window is taken, the loop sleeps until an answer
    comes: it must not spin (a timeout of 0 on each turn took a core from the API
    server during a first sync). Counted: the loop's turns (each starts what it
    can), at most one per answer plus one per item it starts, however long the
    answers take."""
    from gitkube_plugins.kubernetes import window as window_module

    waits = 0
    real_turn = window_module._Batch._start_ready

    def counted_turn(self):  # type: ignore[no-untyped-def]
        nonlocal waits
        waits += 1
        return real_turn(self)

    monkeypatch.setattr(window_module._Batch, "_start_ready", counted_turn)
    items = list(range(12))

    def work(item: int) -> None:
        time.sleep(0.05)  # a slow answer: time the loop could spend spinning

    Window(start=2, maximum=2).run(items, work)
    assert waits <= 2 * len(items), waits
