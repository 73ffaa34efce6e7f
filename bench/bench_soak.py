"""Soak: the agent runs many cycles against the real control plane while faults are injected.

    scripts/bench soak [--cycles 200] [--apps 20] [--seed 1]

Starts the local control plane (gitkube.testing.controlplane) and puts the
fault proxy (gitkube.testing.faultproxy) in front of it, renders a generated
repo of N apps (a Deployment and a Service each) and runs ``gitkube agent``
through the proxy with a short poll and interval, so every loop is a full
sync cycle. Every few cycles a random fault from the issue's list 1-4 is armed:

1. the agent SIGKILLed mid-cycle and started again;
2. the API server gone (every connection reset) for a moment;
3. 429 with Retry-After, 500 and 503 on random requests;
4. 401 on every request for a moment (credentials refused).

At the end the faults stop and it reports: cycles run and failed, faults by
kind, the agent's resident memory from its 20th cycle to the end, the writes
the agent makes over 10 cycles once converged (must be 0; Lease renewals, its
heartbeat, are not counted), and whether
``gitkube plan`` finds the cluster equal to the rendered branch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

from gitkube.testing.controlplane import ControlPlane, default_bin_dir
from gitkube.testing.faultproxy import FaultProxy

FAULTS = ("kill", "down", "throttle", "unauthorized")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def rendered_repo(root: Path, apps: int, namespace: str) -> Path:
    repo = generate(root, apps)
    (repo / "gitkube.yaml").write_text(f"cluster: {{name: soak}}\nnamespace: {namespace}\n")
    git(root.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "-c", "user.email=b@example.com", "-c", "user.name=b", "add", "-A")
    git(repo, "-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-q", "-m", "soak")
    subprocess.run(
        [sys.executable, "-m", "gitkube", "render", str(repo)], check=True, capture_output=True
    )
    return repo


class Agent:
    def __init__(self, repo: Path, kubeconfig: Path, log: Path) -> None:
        self.log = log
        env = {**os.environ, "GITKUBE_RETRY_INITIAL": "0.05", "GITKUBE_CONNECT_TIMEOUT": "2"}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "gitkube", "agent", "--repo", str(repo)),
                    *("--kubeconfig", str(kubeconfig), "--poll", "0.05s", "--interval", "0.05s"),
                    *("--lease", "soak", "--lease-duration", "6s", "--listen", "127.0.0.1:0"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.findall(rb"on ([\d.]+):(\d+)", log.read_bytes())
            if found and self.proc.poll() is None:
                host, port = found[-1]
                self.url = f"http://{host.decode()}:{port.decode()}"
                try:
                    self.cycles()
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"the agent did not start: see {log}")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return response.read().decode()

    def cycles(self) -> int:
        """Sync cycles run (each observed by the duration histogram, failed or not)."""
        match = re.search(r"^gitkube_sync_duration_seconds_count (\S+)$", self.metrics(), re.M)
        return int(float(match.group(1))) if match else 0

    def errors(self) -> int:
        match = re.search(r"^gitkube_sync_errors_total (\S+)$", self.metrics(), re.M)
        return int(float(match.group(1))) if match else 0

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]

    def wait_cycles(self, count: int, timeout: float = 600) -> None:
        target = self.cycles() + count
        deadline = time.monotonic() + timeout
        while self.cycles() < target:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"the agent stopped cycling: see {self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def inject(kind: str, proxy: FaultProxy, rng: random.Random) -> None:
    if kind == "down":
        proxy.add("reset", times=rng.randint(5, 30))
    elif kind == "throttle":
        for status in (429, 500, 503):
            proxy.add(
                status=status, retry_after=0.1 if status == 429 else None, times=rng.randint(1, 4)
            )
    elif kind == "unauthorized":
        proxy.add(status=401, times=rng.randint(3, 15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as tmp,
        ControlPlane(default_bin_dir()) as cp,
        FaultProxy.for_kubeconfig(cp.kubeconfig) as proxy,
    ):
        root = Path(tmp)
        namespace = cp.create_namespace(prefix="soak")
        repo = rendered_repo(root / "repo", args.apps, namespace)
        kubeconfig = proxy.write_kubeconfig(root / "proxied.kubeconfig")
        agent = Agent(repo, kubeconfig, root / "agent.log")
        injected: Counter[str] = Counter()
        errors = 0
        killed_at = rng.randint(10, 40)
        rss_start: int | None = None
        agent_cycles = 0  # of the agent now running
        for cycle in range(1, args.cycles + 1):
            kind = rng.choice(FAULTS) if cycle % 5 == 0 else None
            if kind == "kill" and cycle != killed_at:
                kind = "throttle"  # one SIGKILL per soak: memory is measured on one process
            if cycle == killed_at:
                kind = "kill"
            if kind == "kill":
                errors += agent.errors()
                agent.kill()
                agent = Agent(repo, kubeconfig, root / "agent.log")
                agent_cycles = 0
                rss_start = None
            elif kind:
                inject(kind, proxy, rng)
            if kind:
                injected[kind] += 1
            agent.wait_cycles(1)
            agent_cycles += 1
            if agent_cycles == 20:
                rss_start = agent.rss_kib()
        proxy.clear()
        agent.wait_cycles(3)  # converge
        rss_end = agent.rss_kib()
        writes_before = len(proxy.writes)
        agent.wait_cycles(10)
        # Lease renewals are the agent's heartbeat, not a change to the cluster.
        object_writes = [w for w in proxy.writes[writes_before:] if "/leases/" not in w.path]
        writes_after = len(object_writes)
        errors += agent.errors()
        agent.stop()
        plan = subprocess.run(
            [
                sys.executable,
                *("-m", "gitkube", "plan", "--repo", str(repo)),
                *("--kubeconfig", str(cp.kubeconfig), "-o", "json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        changes = json.loads(plan.stdout)["changes"]
        growth = (rss_end - rss_start) / rss_start if rss_start else float("nan")
        report = {
            "cycles": args.cycles,
            "apps": args.apps,
            "objects": args.apps * 2,
            "seed": args.seed,
            "faults_injected": dict(injected),
            "failed_cycles": errors,
            "requests_through_proxy": len(proxy.log),
            "injected_answers": sum(1 for e in proxy.log if e.injected),
            "rss_kib_from_cycle_20": rss_start,
            "rss_kib_at_end": rss_end,
            "rss_growth": round(growth, 3),
            "writes_over_10_converged_cycles": writes_after,
            "those_writes": sorted({f"{w.method} {w.path.split('?')[0]}" for w in object_writes}),
            "plan_changes_at_end": len(changes),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(report, indent=2))
        ok = writes_after == 0 and not changes and growth <= 0.20
        print("soak: PASS" if ok else "soak: FAIL")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
