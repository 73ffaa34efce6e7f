"""Render time: `gitkube render --out` beside `kubectl kustomize`, cold processes.

    .venv/bin/python bench/bench_render.py [--apps 1000 3000] [--runs 3] [--kustomize-max 3000]

gitkube renders a generated repo of N apps (a Deployment and a Service each,
app labels on metadata/selectors/templates, an image rewrite); kustomize
builds the same tree with one kustomization per app doing the same labels and
images. Each figure is the best wall-clock of --runs whole-process runs.
kustomize is not given gitkube's app.yaml, and gitkube does more (ownership
labels, validation, one file per object, inventory), so the comparison is
conservative. kustomize gets the kustomization files in an extra copy so
neither tool reads the other's files.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

GITKUBE = [sys.executable, "-m", "gitkube"]


def best_of(runs: int, command: list[str], cleanup: Path | None = None) -> float:
    best = float("inf")
    for _ in range(runs):
        if cleanup is not None and cleanup.exists():
            shutil.rmtree(cleanup)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kustomize-max", type=int, default=3000, help="skip kustomize above this")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    print(f"{'apps':>6} {'objects':>8} {'gitkube render':>15} {'kubectl kustomize':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        for apps in args.apps:
            repo = generate(Path(tmp) / f"repo{apps}", apps)
            out = Path(tmp) / f"out{apps}"
            ours = best_of(
                args.runs, [*GITKUBE, "render", str(repo), "--out", str(out)], cleanup=out
            )
            theirs = "n/a"
            if kubectl and apps <= args.kustomize_max:
                kust = generate(Path(tmp) / f"kust{apps}", apps, kustomize=True)
                (kust / "gitkube.yaml").unlink()
                seconds = best_of(1, [kubectl, "kustomize", str(kust)])
                theirs = f"{seconds:.2f} s"
            print(f"{apps:>6} {2 * apps:>8} {ours:>13.2f} s {theirs:>18}", flush=True)


if __name__ == "__main__":
    main()
