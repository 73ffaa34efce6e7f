"""Sync time and request counts: `gitkube sync` beside `kubectl apply --server-side`, one run.

    .venv/bin/python bench/bench_sync.py [--apps 1000] [--no-kubectl] [--noop-apps 10000]

Starts the local control plane (gitkube.testing.controlplane), renders a
generated repo of N apps (a Deployment and a Service each) onto its rendered
branch, then measures on the same API server:

* kubectl: `kubectl apply --server-side -R -f` of the rendered files of an
  identical repo in another namespace (what a user would run instead);
* gitkube: first sync (everything created), then a no-op sync (nothing to do),
  with the requests each made, counted by verb, and the LISTs by collection;
* with ``--noop-apps N``: a second repo of N apps (10,000 apps: 20,000
  objects) synced once, then the no-op sync of it (the no-op goal);
* the CPU kube-apiserver and etcd spent on each tool's first sync: the client
  shares this machine's cores with them;
* sizes: the ApplySet parent after the first sync, and the largest member
  (the largest object gitkube writes: the record is on each member), as the
  API server returns them in JSON, managedFields included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

from gitkube.primitives.kubeapi import KubeApi
from gitkube.sync.run import SyncOptions, sync
from gitkube.testing.controlplane import ControlPlane, default_bin_dir


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def rendered_repo(root: Path, apps: int, namespace: str, cluster: str) -> Path:
    repo = generate(root, apps)
    (repo / "gitkube.yaml").write_text(f"cluster: {{name: {cluster}}}\nnamespace: {namespace}\n")
    git(root.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "-c", "user.email=b@example.com", "-c", "user.name=b", "add", "-A")
    git(repo, "-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-q", "-m", "bench")
    subprocess.run(
        [sys.executable, "-m", "gitkube", "render", str(repo)], check=True, capture_output=True
    )
    return repo


def server_cpu(cp: ControlPlane) -> float:
    """CPU seconds kube-apiserver and etcd have used so far (Linux /proc): on this
    machine they share the cores with the client, so their CPU bounds the run."""
    total = 0.0
    for pid in cp.pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def counted_sync(options: SyncOptions) -> tuple[float, Counter[str], dict]:
    """Time one sync, counting its requests by verb; ``calls["LIST <path>"]`` counts
    the GETs of each collection (requests go out from several threads)."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    original = KubeApi.request

    def counting(self, method, path, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            calls[method] += 1
            if method == "GET" and "labelSelector" in (kwargs.get("query") or {}):
                calls[f"LIST {path}"] += 1
        return original(self, method, path, **kwargs)

    KubeApi.request = counting  # type: ignore[method-assign]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        result = sync(options)
        # gitkube's own CPU (all threads): the rest of the time is the API server's.
        calls["cpu-ms"] = round((time.process_time() - cpu) * 1000)
        return time.perf_counter() - started, calls, result.as_dict()
    finally:
        KubeApi.request = original  # type: ignore[method-assign]


def largest_objects(kube: KubeApi, namespace: str, cluster: str) -> tuple[int, int]:
    """Bytes of the ApplySet parent and of the largest member, as JSON."""
    parent = kube.request("GET", f"/api/v1/namespaces/gitkube-system/configmaps/gitkube-{cluster}")
    largest = 0
    for path in (
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        f"/api/v1/namespaces/{namespace}/services",
    ):
        for item in kube.request("GET", path).get("items", ()):
            largest = max(largest, len(json.dumps(item)))
    return len(json.dumps(parent)), largest


def verbs(calls: Counter[str]) -> str:
    by_verb = {v: n for v, n in calls.items() if v.isupper() and not v.startswith("LIST ")}
    lists = sorted(v.removeprefix("LIST ") for v in calls if v.startswith("LIST "))
    repeated = {v: n for v, n in calls.items() if v.startswith("LIST ") and n > 1}
    writes = sum(n for v, n in by_verb.items() if v not in ("GET",))
    return (
        f"gitkube CPU {calls['cpu-ms'] / 1000:.1f} s; requests={by_verb} (writes: {writes}); LISTs: {len(lists)} collections"
        + (f", repeated: {repeated}" if repeated else ", one each")
    )


def noop_at_scale(kube: KubeApi, kubeconfig: Path, tmp: Path, apps: int) -> None:
    """The no-op goal: a repo of ``apps`` apps synced once, then again with nothing to do."""
    kube.request(
        "POST",
        "/api/v1/namespaces",
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-noop"}},
    )
    started = time.perf_counter()
    repo = rendered_repo(tmp / "noop", apps, "bench-noop", "benchn")
    print(f"rendered {apps} apps in {time.perf_counter() - started:.1f} s")
    options = SyncOptions(repo=str(repo), kubeconfig=str(kubeconfig))
    seconds, calls, result = counted_sync(options)
    print(
        f"gitkube sync (first, {2 * apps} objects): {seconds:6.2f} s  created={result['created']}  "
        + verbs(calls)
    )
    for _ in range(2):
        seconds, calls, result = counted_sync(options)
        print(
            f"gitkube sync (no-op, {2 * apps} objects): {seconds:6.2f} s  "
            f"unchanged={result['unchanged']}  " + verbs(calls)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--no-kubectl", action="store_true", help="skip the kubectl comparison")
    parser.add_argument(
        "--noop-apps", type=int, default=0, help="also time the no-op sync of this many apps"
    )
    args = parser.parse_args()
    kubectl = None if args.no_kubectl else shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(default_bin_dir()) as cp:
        kube = KubeApi(cp.api_client())
        for ns in ("bench-gitkube", "bench-kubectl"):
            kube.request(
                "POST",
                "/api/v1/namespaces",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        ours = rendered_repo(Path(tmp) / "ours", args.apps, "bench-gitkube", "bench")
        theirs = (
            rendered_repo(Path(tmp) / "theirs", args.apps, "bench-kubectl", "benchk")
            if kubectl
            else None
        )
        print(f"{args.apps} apps, {2 * args.apps} objects, kube-apiserver {cp.server}")
        if kubectl and theirs:
            export = Path(tmp) / "kubectl-files"
            git(theirs, "worktree", "add", "-q", "--detach", str(export), "refs/heads/rendered")
            (export / "gitkube-inventory.yaml").unlink()
            shutil.rmtree(export / ".git", ignore_errors=True)
            (export / ".git").unlink(missing_ok=True)
            started, server_before = time.perf_counter(), server_cpu(cp)
            applied = subprocess.run(
                [
                    kubectl,
                    "--kubeconfig",
                    str(cp.kubeconfig),
                    "apply",
                    "--server-side",
                    "-R",
                    "-f",
                    str(export),
                ],
                capture_output=True,
                text=True,
            )
            if applied.returncode != 0:
                sys.exit(f"kubectl failed: {applied.stderr[-2000:]}")
            print(
                f"kubectl apply --server-side (first):  {time.perf_counter() - started:6.2f} s  "
                f"API server + etcd CPU {server_cpu(cp) - server_before:.1f} s"
            )
        options = SyncOptions(repo=str(ours), kubeconfig=str(cp.kubeconfig))
        server_before = server_cpu(cp)
        seconds, calls, result = counted_sync(options)
        print(
            f"gitkube sync (first):                 {seconds:6.2f} s  created={result['created']}  "
            + verbs(calls)
            + f"; API server + etcd CPU {server_cpu(cp) - server_before:.1f} s"
        )
        parent_bytes, member_bytes = largest_objects(kube, "bench-gitkube", "bench")
        print(
            f"ApplySet parent: {parent_bytes} bytes; largest member: {member_bytes} bytes "
            "(JSON, managedFields included; limits: 1 MiB per ConfigMap, ~1.5 MiB per request)"
        )
        seconds, calls, result = counted_sync(options)
        print(
            f"gitkube sync (no-op):                 {seconds:6.2f} s  unchanged={result['unchanged']}  "
            + verbs(calls)
        )
        if args.noop_apps:
            noop_at_scale(kube, cp.kubeconfig, Path(tmp), args.noop_apps)


if __name__ == "__main__":
    main()
