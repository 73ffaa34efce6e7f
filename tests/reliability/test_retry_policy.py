"""The one retry policy, on its own: Retry-After, the doubling bound, the attempt cap."""

from __future__ import annotations

import logging

import pytest

from gitkube.primitives.retry import GaveUp, RetryPolicy, Verdict, _Attempts, retrying

LOG = logging.getLogger("test")


def pauses_for(verdict: Verdict, policy: RetryPolicy) -> list[float]:
    attempts = _Attempts(policy, lambda exc: verdict, "GET x", LOG)
    error = RuntimeError("busy")
    attempts.retryable(error)
    attempts.on_error(error)
    out = []
    generator = attempts.pauses()
    for _ in range(policy.attempts - 1):
        attempts.count += 1
        out.append(next(generator))
    return out


def test_every_pause_is_at_least_what_retry_after_asked():
    pauses = pauses_for(
        Verdict(retry=True, retry_after=3.0), RetryPolicy(initial=0.01, maximum=0.02, attempts=5)
    )
    assert pauses and all(p >= 3.0 for p in pauses)


def test_pauses_are_jittered_under_a_doubling_bound():
    pauses = pauses_for(Verdict(retry=True), RetryPolicy(initial=1.0, maximum=8.0, attempts=7))
    for pause, bound in zip(pauses, (1.0, 2.0, 4.0, 8.0, 8.0, 8.0), strict=True):
        assert 0 <= pause <= bound


def test_a_retry_after_beyond_reason_gives_up_instead_of_waiting():
    attempts = _Attempts(
        RetryPolicy(), lambda exc: Verdict(retry=True, retry_after=3600), "GET x", LOG
    )
    error = RuntimeError("come back in an hour")
    attempts.retryable(error)
    attempts.on_error(error)
    with pytest.raises(GaveUp):
        next(attempts.pauses())


def test_a_call_that_keeps_failing_costs_exactly_the_attempt_cap():
    calls = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("503")

    with pytest.raises(GaveUp) as info:
        retrying(
            failing,
            lambda exc: Verdict(retry=True, summary="HTTP 503"),
            RetryPolicy(initial=0.001, maximum=0.002, attempts=4),
            what="GET x",
            log=LOG,
        )
    assert len(calls) == 4 and info.value.attempts == 4
    assert "gave up" in info.value.why


def test_errors_the_judge_does_not_retry_pass_through_at_once():
    calls = []

    def refused() -> None:
        calls.append(1)
        raise KeyError("no")

    with pytest.raises(KeyError):
        retrying(refused, lambda exc: Verdict(retry=False), RetryPolicy(), what="x", log=LOG)
    assert len(calls) == 1
