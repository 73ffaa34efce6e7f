"""Rendered-branch speed: whole `gitkube` processes on a generated git repo.

    .venv/bin/python bench/bench_branch.py [--apps 3000] [--runs 3]

A real git repo of N apps (a Deployment and a Service each, from
bench/generate.py) is committed, then each scenario is timed as the
wall-clock of a whole CLI process, best of --runs:

- cold:      first render to the branch (no rendered branch, no cache)
- no-op:     `gitkube render` again, nothing changed
- one app:   a new commit changing one app, then `gitkube render`
             (a different app and a new commit every run)
- diff:      `gitkube diff BASE HEAD -o json` where BASE is rendered (on the
             branch and in the cache) and HEAD is a new, never rendered
             commit changing one app (a new HEAD every run)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

GITKUBE = [sys.executable, "-m", "gitkube"]
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}
TARGETS = {"cold": "-", "no-op": "< 0.5 s", "one app": "< 1 s", "diff": "< 1.5 s"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


CPU: dict[str, list[float]] = {}


def timed(command: list[str], repo: Path, label: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=repo, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(label, []).append(cpu)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and "diff" not in command):
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    return elapsed


def change_app(repo: Path, index: int, run: int) -> str:
    path = repo / f"group{index // 100}" / f"app{index}" / "all.yaml"
    path.write_text(path.read_text().replace("replicas: 2", f"replicas: {10 + run}", 1))
    git(repo, "commit", "-q", "-am", f"app{index}: {10 + run} replicas")
    return git(repo, "rev-parse", "HEAD")


def measure(
    label: str,
    runs: int,
    prepare: Callable[[int], None],
    command: Callable[[], list[str]],
    repo: Path,
) -> list[float]:
    times = []
    for run in range(runs):
        prepare(run)
        times.append(timed(command(), repo, label))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = generate(Path(tmp) / "repo", args.apps)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"{args.apps} apps")
        cache = repo / ".git" / "gitkube"

        def fresh(_run: int) -> None:
            shutil.rmtree(cache, ignore_errors=True)
            subprocess.run(["git", "branch", "-D", "rendered"], cwd=repo, capture_output=True)

        render = [*GITKUBE, "render"]
        results["cold"] = measure("cold", args.runs, fresh, lambda: render, repo)
        results["no-op"] = measure("no-op", args.runs, lambda _r: None, lambda: render, repo)
        results["one app"] = measure(
            "one app",
            args.runs,
            lambda r: (change_app(repo, 7 + r, r), None)[1],
            lambda: render,
            repo,
        )

        base = git(repo, "rev-parse", "HEAD")  # rendered by the last run above
        heads: list[str] = []

        def new_head(run: int) -> None:
            git(repo, "checkout", "-q", "--detach", base)
            heads.append(change_app(repo, 1000 + run, run))
            git(repo, "checkout", "-q", "main")

        results["diff"] = measure(
            "diff",
            args.runs,
            new_head,
            lambda: [*GITKUBE, "diff", base, heads[-1], "-o", "json"],
            repo,
        )

    print(f"{args.apps} apps, {2 * args.apps} objects; wall clock of whole processes")
    print("(cpu = user + system time of the process and its git children, best run)")
    print(f"{'scenario':<10} {'best':>8} {'cpu':>8} {'runs':<22} {'target':<8}")
    for name, times in results.items():
        runs = " ".join(f"{t:.2f}" for t in times)
        cpu = min(CPU[name])
        print(f"{name:<10} {min(times):>6.2f} s {cpu:>6.2f} s {runs:<22} {TARGETS[name]:<8}")


if __name__ == "__main__":
    main()
