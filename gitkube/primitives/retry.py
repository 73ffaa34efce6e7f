"""The one retry policy for every API gitkube calls: the Kubernetes API server and Compute Engine.

Built on google-api-core's ``retry_target`` and ``exponential_sleep_generator``
(what its ``Retry`` runs): each call is tried again after a jittered pause that
doubles up to ``maximum`` ("full jitter": a random pause up to the bound, so
many clients throttled together do not come back together), never shorter
than the server's ``Retry-After``, and the call gives up after ``attempts``
tries or when the next pause would overrun ``deadline``, whichever comes
first. The attempt cap is what keeps requests linear: a call that keeps
failing costs at most ``attempts`` requests, never a number that grows with
the length of the outage.

A caller says how it judges a failure (:class:`Verdict`): retry or not, what
``Retry-After`` asked, and whether nothing answered at all (a refused or
reset connection), which is retried only within ``connect_deadline`` so an
unreachable server is reported in seconds, not after the whole budget.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

CONNECT_TIMEOUT_ENV = "GITKUBE_CONNECT_TIMEOUT"
# Retry-After beyond this is not waited for: the call gives up and says so.
LONGEST_RETRY_AFTER = 60.0


# Tuning for tests and the soak; users rarely need them.
INITIAL_ENV = "GITKUBE_RETRY_INITIAL"
ATTEMPTS_ENV = "GITKUBE_RETRY_ATTEMPTS"


def _env(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def _connect_timeout() -> float:
    return _env(CONNECT_TIMEOUT_ENV, "10")


@dataclass
class RetryPolicy:
    """Bounded, jittered backoff: ``initial`` doubling up to ``maximum``; at most
    ``attempts`` tries within ``deadline`` seconds."""

    initial: float = field(default_factory=lambda: _env(INITIAL_ENV, "0.5"))
    maximum: float = 16.0
    deadline: float = 120.0
    attempts: int = field(default_factory=lambda: int(_env(ATTEMPTS_ENV, "8")))
    # Connection errors (nothing answers) get this long, not the whole deadline.
    connect_deadline: float = field(default_factory=_connect_timeout)
    # How long a long-running cloud operation may take (Compute Engine).
    operation_deadline: float = 600.0


@dataclass(frozen=True)
class Verdict:
    """How one failed attempt is judged."""

    retry: bool
    retry_after: float | None = None  # seconds the server asked for
    unreachable: bool = False  # nothing answered (refused, reset): bounded by connect_deadline
    summary: str = ""  # for the "retrying in" log line


NOT_RETRIED = Verdict(retry=False)


class GaveUp(Exception):
    """Retries were exhausted; ``last`` is the final error, ``attempts`` the tries made."""

    def __init__(self, last: BaseException, attempts: int, *, unreachable: bool) -> None:
        super().__init__(str(last))
        self.last = last
        self.attempts = attempts
        self.unreachable = unreachable

    @property
    def why(self) -> str:
        return f"still failing after {self.attempts} attempts; gave up"


@dataclass
class _Attempts:
    policy: RetryPolicy
    judge: Callable[[BaseException], Verdict]
    what: str
    log: logging.Logger
    started: float = field(default_factory=time.monotonic)
    count: int = 0
    last: BaseException | None = None
    verdict: Verdict = NOT_RETRIED

    def retryable(self, exc: BaseException) -> bool:
        self.verdict = self.judge(exc)
        return self.verdict.retry

    def on_error(self, exc: BaseException) -> None:
        self.last = exc

    def pauses(self) -> Iterator[float]:
        """api_core's backoff, stretched to ``Retry-After``; api_core asks for the next
        pause after ``on_error`` saw the error, and gives up when it overruns the deadline."""
        from google.api_core.retry import exponential_sleep_generator

        for backoff in exponential_sleep_generator(
            self.policy.initial, self.policy.maximum, multiplier=2.0
        ):
            assert self.last is not None
            verdict = self.verdict
            asked = verdict.retry_after or 0.0
            pause = max(backoff, min(asked, LONGEST_RETRY_AFTER))
            out_of_time = verdict.unreachable and (
                time.monotonic() + pause > self.started + self.policy.connect_deadline
            )
            if self.count >= self.policy.attempts or out_of_time or asked > LONGEST_RETRY_AFTER:
                raise GaveUp(self.last, self.count, unreachable=verdict.unreachable)
            self.log.warning("%s: %s; retrying in %.1fs", self.what, verdict.summary, pause)
            yield pause


def retrying(
    function: Callable[[], T],
    judge: Callable[[BaseException], Verdict],
    policy: RetryPolicy,
    *,
    what: str,
    log: logging.Logger,
) -> T:
    """``function()`` under the policy; raises :class:`GaveUp` when retries run out, or
    the first error ``judge`` does not retry."""
    # Imported here: api_core costs 0.2 s, and a render never retries anything.
    from google.api_core.exceptions import RetryError
    from google.api_core.retry import retry_target

    state = _Attempts(policy, judge, what, log)

    def attempt() -> T:
        state.count += 1
        return function()

    try:
        return retry_target(
            attempt,
            state.retryable,
            state.pauses(),
            timeout=policy.deadline,
            on_error=state.on_error,
        )
    except RetryError as exc:  # the next pause would overrun the deadline
        last = state.last or exc
        raise GaveUp(last, state.count, unreachable=state.verdict.unreachable) from last


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (an HTTP date is ignored: our own backoff)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
