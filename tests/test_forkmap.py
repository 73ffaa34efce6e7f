"""fork_map: jobs run in forked workers, results in order, every failure a None."""

from __future__ import annotations

import os

import pytest

from gitkube.primitives.forkmap import available_workers, fork_map


def test_results_come_back_in_order_from_other_processes() -> None:
    parent = os.getpid()
    # A closure over unpicklable state: workers are forks, only results travel.
    state = {"offset": 100, "lock": __import__("threading").Lock()}
    results = fork_map(lambda n: (n + state["offset"], os.getpid()), list(range(6)), 2)
    assert results is not None
    assert [value for value, _pid in results] == [100, 101, 102, 103, 104, 105]
    pids = {pid for _value, pid in results}
    assert parent not in pids and 1 <= len(pids) <= 2


def test_a_worker_that_dies_gives_none() -> None:
    assert fork_map(lambda n: os._exit(3) if n == 1 else n, [0, 1, 2], 2) is None


def test_an_exception_of_the_function_is_raised_here() -> None:
    def fail(n: int) -> int:
        raise ValueError(f"job {n}")

    with pytest.raises(ValueError, match="job"):
        fork_map(fail, [0, 1], 2)


@pytest.mark.parametrize(("jobs", "workers"), [([1, 2, 3], 1), ([1], 4), ([], 2)])
def test_fewer_than_two_workers_or_jobs_is_left_to_the_caller(jobs, workers) -> None:
    assert fork_map(lambda n: n, jobs, workers) is None


def test_gitkube_workers_decides_how_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITKUBE_WORKERS", "3")
    assert available_workers() == 3
    monkeypatch.setenv("GITKUBE_WORKERS", "0")
    assert available_workers() == 0
    monkeypatch.delenv("GITKUBE_WORKERS")
    assert available_workers() == len(os.sched_getaffinity(0))
