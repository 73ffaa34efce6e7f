"""Health evaluation per agent cycle: judging N objects from the plan's LISTs (no request).

    .venv/bin/python bench/bench_health.py [--objects 2000]

Each object is a Deployment or a ConfigMap with a live status, judged by the
plugins' gitkube_health (the built-in health plugin). Argo CD computes the
same per resource in its controller; there is no CLI to compare with in one
run, so the figure is reported alone: CPU time per cycle and per object.
"""

from __future__ import annotations

import argparse
import time

from gitkube.domain.plugin_manager import build_plugin_manager


def objects(count: int) -> list[tuple[dict, dict]]:
    pairs = []
    for i in range(count):
        if i % 2:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}}
            pairs.append((body, {**body, "data": {"k": "v"}}))
            continue
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"d{i}"},
            "spec": {"replicas": 2},
        }
        live = {
            **body,
            "metadata": {"name": f"d{i}", "generation": 3},
            "status": {
                "observedGeneration": 3,
                "replicas": 2,
                "updatedReplicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 2,
            },
        }
        pairs.append((body, live))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hooks = build_plugin_manager(())
    pairs = objects(args.objects)
    best = float("inf")
    for _ in range(args.runs):
        started = time.process_time()
        states = [hooks.health(body, live).state for body, live in pairs]
        best = min(best, time.process_time() - started)
    assert all(s.value == "Healthy" for s in states)
    print(
        f"{args.objects} objects: {best * 1000:.1f} ms CPU per cycle, "
        f"{best / args.objects * 1e6:.1f} us per object, 0 requests"
    )


if __name__ == "__main__":
    main()
