"""The Lease: one holder; a holder that stops renewing stops writing before anyone can take over."""

from __future__ import annotations

import time
import uuid

from gitkube.sync.lease import Lease


def test_a_silent_leader_stops_before_its_lease_can_be_taken(kube):
    kube.ensure_namespace("gitkube-system")
    name = f"lease-{uuid.uuid4().hex[:8]}"
    leader = Lease(kube, name, "a", duration=3)
    rival = Lease(kube, name, "b", duration=3)
    assert leader.try_acquire() and leader.held()
    assert not rival.try_acquire()
    acquired = time.monotonic()
    # The leader now stops renewing (as when the API server is unreachable).
    while leader.held():
        time.sleep(0.05)
    stopped_writing = time.monotonic() - acquired
    assert stopped_writing < 3 * 2 / 3 + 0.5
    assert not rival.try_acquire(), "the lease must still be the silent leader's"
    while not rival.try_acquire():
        assert time.monotonic() - acquired < 10
        time.sleep(0.1)
    took_over = time.monotonic() - acquired
    assert took_over > stopped_writing  # never two writers
    assert not leader.try_acquire()


def test_release_hands_over_at_once(kube):
    kube.ensure_namespace("gitkube-system")
    name = f"lease-{uuid.uuid4().hex[:8]}"
    leader, rival = Lease(kube, name, "a", duration=30), Lease(kube, name, "b", duration=30)
    assert leader.try_acquire()
    assert not rival.try_acquire()
    leader.release()
    assert not leader.held()
    assert rival.try_acquire()
