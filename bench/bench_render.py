"""Render time and memory: `gitkube render --out` and `gitkube render` (the rendered
branch) beside `kubectl kustomize`, cold processes.

    .venv/bin/python bench/bench_render.py [--apps 1000 10000] [--runs 3] [--kustomize-max 3000]
        [--python OTHER/bin/python ...]

gitkube renders a generated repo of N apps (a Deployment and a Service each,
app labels on metadata/selectors/templates, an image rewrite); kustomize
builds the same tree with one kustomization per app doing the same labels and
images. Each figure is the best wall-clock of --runs whole-process runs, with
the peak RSS of that process. kustomize is not given gitkube's app.yaml, and
gitkube does more (ownership labels, validation, one file per object,
inventory), so the comparison is conservative. kustomize gets the
kustomization files in an extra copy so neither tool reads the other's files.

The branch column renders the same repo committed, onto the rendered branch
(what pre-commit and CI make), with no cache and no branch before each run;
--out also writes 2N files in N directories, seconds of kernel time on a
slow disk.

--python names more interpreters with gitkube installed (another checkout,
say the code before a change): each gets a column of its own, in the same run.
The last line is the growth: t(largest)/t(smallest) against the ratio of apps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate
from measure import Run, compile_install, run

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def best_of(
    runs: int,
    command: list[str],
    before: Callable[[], None] = lambda: None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """The fastest of ``runs`` runs of ``command``, ``before`` called ahead of each."""
    best: Run | None = None
    for _ in range(runs):
        before()
        result = run(command, cwd=cwd, env=env)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
        if best is None or result.seconds < best.seconds:
            best = result
    assert best is not None
    return best


def branch_render(repo: Path, runs: int) -> Run:
    """A cold ``gitkube render`` of ``repo`` committed: the rendered branch that
    pre-commit and CI make (no cache, no branch before each run)."""
    env = {**os.environ, **GIT_IDENTITY}
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, env=env)
    subprocess.run([*git, "add", "-A"], check=True, env=env)
    subprocess.run([*git, "commit", "-q", "-m", "apps"], check=True, env=env)

    def cold() -> None:
        shutil.rmtree(repo / ".git" / "gitkube", ignore_errors=True)
        subprocess.run([*git, "branch", "-q", "-D", "rendered"], capture_output=True, env=env)

    command = [sys.executable, "-m", "gitkube", "render"]
    return best_of(runs, command, before=cold, cwd=repo, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kustomize-max", type=int, default=3000, help="skip kustomize above this")
    parser.add_argument("--python", nargs="*", default=[], help="more gitkube installs to time")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    pythons = [sys.executable, *args.python]
    for python in pythons:
        compile_install(python)
    columns = ["gitkube render --out", "gitkube render (branch)"]
    columns += [f"--out ({p})" for p in args.python]
    print(f"{'apps':>6} {'objects':>8} " + " ".join(f"{c:>24}" for c in columns), end="")
    print(f" {'kubectl kustomize':>24}")
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for apps in args.apps:
            repo = generate(Path(tmp) / f"repo{apps}", apps)
            out = Path(tmp) / f"out{apps}"
            cells = []
            for index, python in enumerate(pythons):
                command = [python, "-m", "gitkube", "render", str(repo), "--out", str(out)]
                ours = best_of(args.runs, command, before=partial(shutil.rmtree, out, True))
                if index == 0:
                    times[apps] = ours.seconds
                    branch = branch_render(repo, args.runs)
                    cells.append(f"{ours.seconds:.2f} s {ours.rss_mb:5.0f} MB")
                    cells.append(f"{branch.seconds:.2f} s {branch.rss_mb:5.0f} MB")
                else:
                    cells.append(f"{ours.seconds:.2f} s {ours.rss_mb:5.0f} MB")
            theirs = "n/a"
            if kubectl and apps <= args.kustomize_max:
                kust = generate(Path(tmp) / f"kust{apps}", apps, kustomize=True)
                (kust / "gitkube.yaml").unlink()
                result = best_of(1, [kubectl, "kustomize", str(kust)])
                theirs = f"{result.seconds:.2f} s {result.rss_mb:5.0f} MB"
            row = " ".join(f"{c:>24}" for c in cells)
            print(f"{apps:>6} {2 * apps:>8} {row} {theirs:>24}", flush=True)
    if len(times) > 1:
        small, large = min(times), max(times)
        print(
            f"growth: t({large})/t({small}) = {times[large] / times[small]:.2f} "
            f"for {large / small:.0f}x the apps"
        )


if __name__ == "__main__":
    main()
