"""Map a function over a few jobs in forked worker processes.

Forked, not spawned: a worker starts as a copy of the parent, with its modules
imported, its plugins registered and its data read, so nothing but a job's
index travels to it and a worker starts in milliseconds. Only the results
travel back, pickled. Used where work splits into independent parts that each
cost far more than that round trip (a cold render of thousands of apps).

Every failure is the caller's to handle the slow way: a worker that dies, a
result that does not pickle, a machine without ``fork`` all give ``None``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pickle import PicklingError
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

WORKERS_ENV = "GITKUBE_WORKERS"

# The job list of the map under way: set before the workers fork, so each
# inherits it and is sent only an index (functions and their data need not pickle).
_current: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def available_workers() -> int:
    """How many workers to start: ``$GITKUBE_WORKERS`` when set (0 or 1: none),
    else the CPUs this process may run on."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured.isdigit():
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_configured() -> bool:
    """True when ``$GITKUBE_WORKERS`` asks for workers whatever the job's size."""
    return os.environ.get(WORKERS_ENV, "").strip().isdigit()


def _run_job(index: int) -> Any:
    assert _current is not None  # set by fork_map before any worker forks
    function, jobs = _current
    return function(jobs[index])


def fork_map(
    function: Callable[[Job], Result], jobs: Sequence[Job], workers: int
) -> list[Result] | None:
    """``[function(job) for job in jobs]``, run by up to ``workers`` forked processes.

    None when it cannot be done that way (fewer than two workers or jobs, no
    ``fork`` here, a worker died or a result would not pickle): the caller
    then does the work itself. An exception ``function`` raises is re-raised.
    """
    global _current
    workers = min(workers, len(jobs))
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    _current = (function, jobs)
    # Objects the parent already has are never collected by the workers: frozen,
    # the collector leaves their pages unwritten, so the copy stays shared.
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return list(pool.map(_run_job, range(len(jobs))))
    except (BrokenProcessPool, PicklingError):
        return None
    finally:
        gc.unfreeze()
        _current = None
