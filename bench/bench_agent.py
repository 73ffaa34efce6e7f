"""The agent's idle cycle and drift repair, with watches and without, in one run.

    .venv/bin/python bench/bench_agent.py [--apps 500] [--no-kubectl]

Starts the local control plane (gitkube.testing.controlplane), renders a
generated repo of N apps (a Deployment and a Service each), and measures on
the same API server:

* kubectl: `kubectl apply --server-side -R -f` of the same rendered files,
  already applied (what a cron job re-applying the repo costs every cycle);
* the agent without watches (`--no-watch`, the agent before this change): one
  full no-op cycle (a LIST per kind), and how long a Deployment deleted by
  hand stays deleted with `--interval 10s`;
* the agent with watches: the same no-op cycle (served from the watches: no
  LIST), and the same deletion, with `--interval 1h` (only the watch can
  bring it back).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import rendered_repo

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.sync.agent import Agent, AgentOptions
from gitkube.sync.run import SyncOptions
from gitkube.sync.watch import WatchingKubeApi, parse_path
from gitkube.testing.controlplane import ControlPlane


def lists(api: KubeApi) -> int:
    return sum(
        1
        for method, path in api.log.entries
        if method == "GET" and (where := parse_path(path)) is not None and where.name is None
    )


def agent_for(cp: ControlPlane, repo: Path, *, watch: bool, interval: float, name: str) -> Agent:
    options = AgentOptions(
        sync=SyncOptions(repo=str(repo), kubeconfig=str(cp.kubeconfig)),
        interval=interval,
        poll=interval,
        lease_name=f"bench-{name}",
        lease_duration=3600.0,  # cycles are driven by hand here, without the renewing thread
        listen="127.0.0.1:0",
        identity=name,
        watch=watch,
    )
    return Agent(options, api=KubeApi(cp.api_client()))


def idle_cycle(agent: Agent) -> tuple[float, int, int]:
    """One full no-op cycle (as every --interval): seconds, LISTs, requests."""
    agent._next_full = 0.0  # due now
    lists_before, total_before = lists(agent.api), agent.api.log.total
    started = time.perf_counter()
    assert agent._tick()
    seconds = time.perf_counter() - started
    return seconds, lists(agent.api) - lists_before, agent.api.log.total - total_before


def drift_repair(agent: Agent, kube: KubeApi, path: str) -> float:
    """Seconds from deleting ``path`` by hand until the agent has put it back."""
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while agent.syncs < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    if isinstance(agent.api, WatchingKubeApi):
        agent.api.wait_synced(120)
    time.sleep(1)  # the loop is asleep until its next poll
    kube.request("DELETE", path)
    started = time.perf_counter()
    while True:
        try:
            kube.request("GET", path)
            break
        except KubeApiError:
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    agent.stop.set()
    agent.wake.set()
    thread.join(120)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--no-kubectl", action="store_true")
    args = parser.parse_args()
    kubectl = None if args.no_kubectl else shutil.which("kubectl")
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as tmp:
        kube = KubeApi(cp.api_client())
        kube.ensure_namespace("bench-agent")
        kube.ensure_namespace("gitkube-system")
        repo = rendered_repo(Path(tmp) / "repo", args.apps, "bench-agent", "bencha")
        objects = 2 * args.apps
        print(f"{args.apps} apps, {objects} objects")

        plain = agent_for(cp, repo, watch=False, interval=10.0, name="plain")
        assert plain.lease.try_acquire() and plain._tick()  # the first sync
        if kubectl:
            # The same apps in a namespace of their own, applied as a cron job would.
            kube.ensure_namespace("bench-kubectl")
            theirs = rendered_repo(Path(tmp) / "theirs", args.apps, "bench-kubectl", "benchk")
            export = Path(tmp) / "kubectl-files"
            worktree = ["worktree", "add", "-q", "--detach", str(export), "refs/heads/rendered"]
            subprocess.run(["git", "-C", str(theirs), *worktree], check=True)
            (export / "gitkube-inventory.yaml").unlink()
            (export / ".git").unlink(missing_ok=True)
            command = [kubectl, "--kubeconfig", str(cp.kubeconfig), "apply", "--server-side"]
            command += ["-R", "-f", str(export)]
            for _ in ("first", "no-op"):
                started = time.perf_counter()
                applied = subprocess.run(command, capture_output=True, text=True)
                if applied.returncode != 0:
                    sys.exit(f"kubectl failed: {applied.stderr[-2000:]}")
            print(
                f"kubectl apply --server-side, no-op:      {time.perf_counter() - started:6.2f} s"
            )
        seconds, listed, total = idle_cycle(plain)
        print(
            f"agent --no-watch, full no-op cycle:      {seconds:6.2f} s, {listed} LIST, {total} requests"
        )

        watching = agent_for(cp, repo, watch=True, interval=3600.0, name="watching")
        assert watching.lease.try_acquire() and watching._tick()
        assert isinstance(watching.api, WatchingKubeApi) and watching.api.wait_synced(120)
        idle_cycle(watching)  # the informers' first answers
        seconds, listed, total = idle_cycle(watching)
        print(
            f"agent with watches, full no-op cycle:    {seconds:6.2f} s, {listed} LIST, {total} requests"
        )
        watching.lease.release()
        watching.api.close()

        path = "/apis/apps/v1/namespaces/bench-agent/deployments/app0"
        plain.lease.release()
        plain = agent_for(cp, repo, watch=False, interval=10.0, name="plain")
        print(
            f"agent --no-watch --interval 10s, drift:  {drift_repair(plain, kube, path):6.2f} s to repair"
        )
        watching = agent_for(cp, repo, watch=True, interval=3600.0, name="watching")
        print(
            f"agent with watches --interval 1h, drift: {drift_repair(watching, kube, path):6.2f} s to repair"
        )


if __name__ == "__main__":
    main()
