"""Rendered-branch speed: whole `gitkube` processes on a generated git repo.

    .venv/bin/python bench/bench_branch.py [--apps 10000] [--runs 3] [--python OTHER/bin/python]

A real git repo of N apps (a Deployment and a Service each, from
bench/generate.py) is committed, then each scenario is timed as the
wall-clock of a whole CLI process, best of --runs:

- version:   `gitkube --version` (start-up)
- cold:      first render to the branch (no rendered branch, no cache)
- no-op:     `gitkube render` again, nothing changed
- one app:   a new commit changing one app, then `gitkube render`
             (a different app and a new commit every run)
- diff:      `gitkube diff BASE HEAD -o json` where BASE is rendered (on the
             branch and in the cache) and HEAD is a new, never rendered
             commit changing one app (a new HEAD every run)

Targets are issue #16's. --python runs every scenario with another gitkube
install too (the code before a change, say), on its own copy of the repo, so
both columns come from one run on one machine. kustomize has no cache and no
rendered branch: each of these scenarios costs it a full build (a diff two),
which bench/bench_render.py times beside gitkube's cold render.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate
from measure import Run, compile_install, run

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}
TARGETS = {
    "version": "<= 0.15 s",
    "cold": "<= 5 s",
    "no-op": "<= 0.3 s",
    "one app": "<= 0.5 s",
    "diff": "<= 0.5 s",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def timed(command: list[str], repo: Path) -> Run:
    result = run(command, cwd=repo, env=ENV)
    if result.returncode not in (0, 1) or (result.returncode == 1 and "diff" not in command):
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return result


def change_app(repo: Path, index: int, run: int) -> str:
    path = repo / f"group{index // 100}" / f"app{index}" / "all.yaml"
    path.write_text(path.read_text().replace("replicas: 2", f"replicas: {10 + run}", 1))
    git(repo, "commit", "-q", "-am", f"app{index}: {10 + run} replicas")
    return git(repo, "rev-parse", "HEAD")


def measure(
    runs: int,
    prepare: Callable[[int], None],
    command: Callable[[], list[str]],
    repo: Path,
) -> list[Run]:
    results = []
    for attempt in range(runs):
        prepare(attempt)
        results.append(timed(command(), repo))
    return results


def scenarios(python: str, root: Path, apps: int, runs: int) -> dict[str, list[Run]]:
    """Every scenario with the gitkube of ``python``, on a repo of its own under ``root``."""
    gitkube = [python, "-m", "gitkube"]
    results: dict[str, list[Run]] = {}
    compile_install(python)
    repo = generate(root, apps)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{apps} apps")
    cache = repo / ".git" / "gitkube"

    def fresh(_run: int) -> None:
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run(["git", "branch", "-D", "rendered"], cwd=repo, capture_output=True)

    results["version"] = measure(runs, lambda _r: None, lambda: [*gitkube, "--version"], repo)
    render = [*gitkube, "render"]
    results["cold"] = measure(runs, fresh, lambda: render, repo)
    results["no-op"] = measure(runs, lambda _r: None, lambda: render, repo)
    results["one app"] = measure(
        runs, lambda r: (change_app(repo, 7 + r, r), None)[1], lambda: render, repo
    )

    base = git(repo, "rev-parse", "HEAD")  # rendered by the last run above
    heads: list[str] = []

    def new_head(attempt: int) -> None:
        git(repo, "checkout", "-q", "--detach", base)
        heads.append(change_app(repo, apps // 2 + attempt, attempt))
        git(repo, "checkout", "-q", "main")

    results["diff"] = measure(
        runs, new_head, lambda: [*gitkube, "diff", base, heads[-1], "-o", "json"], repo
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", nargs="*", default=[], help="more gitkube installs to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for index, python in enumerate([sys.executable, *args.python]):
            results = scenarios(python, Path(tmp) / f"repo{index}", args.apps, args.runs)
            print(f"{python}: {args.apps} apps, {2 * args.apps} objects")
            print("wall clock of whole processes; cpu = user + system time of the process and")
            print("its git children, rss = its peak resident memory (both of the best run)")
            print(f"{'scenario':<10} {'best':>8} {'cpu':>8} {'rss':>8} {'runs':<22} {'target':<8}")
            for name, runs in results.items():
                best = min(runs, key=lambda r: r.seconds)
                listing = " ".join(f"{r.seconds:.2f}" for r in runs)
                print(
                    f"{name:<10} {best.seconds:>6.2f} s {best.cpu:>6.2f} s "
                    f"{best.rss_mb:>5.0f} MB {listing:<22} {TARGETS[name]:<8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
