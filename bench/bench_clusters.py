"""Render time of several clusters: N apps on 1 cluster, on 3, and kustomize's overlays.

    .venv/bin/python bench/bench_clusters.py [--apps 1000] [--runs 1] [--overlaid 0.1]

The same generated apps (bench/generate.py: a Deployment and a Service each)
are rendered by `gitkube render --no-cache` onto the branch (cold: no cache,
one process) as a `cluster:` repo and as a `clusters:` repo of three clusters
(staging, prod, prod-eu) where a tenth of the apps carry a prod patch (more
replicas) and a prod override (another image tag). Beside it, what a kustomize
user runs: a base with a kustomization per app and one overlay per cluster with
the same patches, built with `kubectl kustomize` once per overlay.
Each figure is the best wall-clock of --runs whole-process runs; "per cluster"
is the 3-cluster figure divided by 3 (the issue's bar: no slower per cluster
than the 1-cluster render of the same apps).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

GITKUBE = [sys.executable, "-m", "gitkube"]
CLUSTERS = ("staging", "prod", "prod-eu")
CLUSTERS_CONFIG = (
    "clusters:\n"
    + "".join(
        f"  {c}: {{project: bench-{c}, region: us-central1, zone: us-central1-b}}\n"
        for c in CLUSTERS
    )
    + "namespace: default\n"
)
PATCH = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec: {{replicas: 5}}\n"
OVERRIDE = "images:\n- {name: nginx, newName: gcr.io/bench-proj/nginx, newTag: '1.27'}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def best_of(runs: int, command: list[str], before: object = None) -> tuple[float, float]:
    """The best wall-clock and the best CPU time (user + system) of ``runs`` runs.

    CPU time is the steadier figure on a shared machine; wall-clock is what a user waits.
    """
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        if callable(before):
            before()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
        best_cpu = min(best_cpu, cpu)
    return best, best_cpu


def gitkube_repo(root: Path, apps: int, overlaid: float, *, clusters: bool) -> Path:
    generate(root, apps)
    if clusters:
        (root / "gitkube.yaml").write_text(CLUSTERS_CONFIG)
        for i in range(int(apps * overlaid)):
            prod = root / f"group{i // 100}/app{i}/clusters/prod"
            prod.mkdir(parents=True)
            (prod / "replicas.yaml").write_text(PATCH.format(name=f"app{i}"))
            (prod / "app.yaml").write_text(OVERRIDE)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    return root


def kustomize_tree(root: Path, apps: int, overlaid: float) -> Path:
    generate(root / "base", apps, kustomize=True)
    (root / "base" / "gitkube.yaml").unlink()
    for cluster in CLUSTERS:
        overlay = root / "overlays" / cluster
        overlay.mkdir(parents=True)
        patches = ""
        if cluster == "prod":
            for i in range(int(apps * overlaid)):
                (overlay / f"app{i}.yaml").write_text(PATCH.format(name=f"app{i}"))
                patches += f"- path: app{i}.yaml\n"
        (overlay / "kustomization.yaml").write_text(
            "resources: [../../base]\n" + (f"patches:\n{patches}" if patches else "")
        )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--overlaid", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = gitkube_repo(Path(tmp) / "one", args.apps, args.overlaid, clusters=False)
        three = gitkube_repo(Path(tmp) / "three", args.apps, args.overlaid, clusters=True)

        def drop_branches(repo: Path) -> object:
            return lambda: subprocess.run(
                f"git -C {repo} for-each-ref --format='delete %(refname)' refs/heads/rendered"
                f" | git -C {repo} update-ref --stdin",
                shell=True,
                check=True,
            )

        single = best_of(
            args.runs, [*GITKUBE, "render", "-C", str(one), "--no-cache"], drop_branches(one)
        )
        multi = best_of(
            args.runs, [*GITKUBE, "render", "-C", str(three), "--no-cache"], drop_branches(three)
        )
        print(f"apps: {args.apps} ({2 * args.apps} objects per cluster); wall / CPU seconds")
        print(f"gitkube render, 1 cluster:     {single[0]:6.2f} / {single[1]:6.2f}")
        print(
            f"gitkube render, 3 clusters:    {multi[0]:6.2f} / {multi[1]:6.2f} "
            f"({multi[0] / 3:.2f} / {multi[1] / 3:.2f} per cluster)"
        )
        kubectl = shutil.which("kubectl")
        if kubectl:
            kust = kustomize_tree(Path(tmp) / "kust", args.apps, args.overlaid)
            wall = cpu = 0.0
            for cluster in CLUSTERS:
                one_wall, one_cpu = best_of(
                    args.runs, [kubectl, "kustomize", str(kust / "overlays" / cluster)]
                )
                wall, cpu = wall + one_wall, cpu + one_cpu
            print(
                f"kubectl kustomize, 3 overlays: {wall:6.2f} / {cpu:6.2f} "
                f"({wall / 3:.2f} / {cpu / 3:.2f} per overlay)"
            )


if __name__ == "__main__":
    main()
