"""A repo of large CRDs and their custom resources: `gitkube sync` beside `kubectl apply --server-side`.

    .venv/bin/python bench/bench_crds.py [--crds 16] [--properties 1500] [--resources 8]

The shape of prometheus-operator with cert-manager: N CustomResourceDefinitions
with large OpenAPI schemas (about 5 MB of YAML for 16 at the default size),
half of them cluster-scoped, and a few custom resources of each. Starts the
local control plane (gitkube.testing.controlplane) and measures, in one run,
on the same API server:

* kubectl: `kubectl apply --server-side` of the rendered files of an identical
  repo (other API groups and namespace): the CRDs, `kubectl wait` for them to
  be established, then the custom resources (kubectl cannot map a kind whose
  CRD it applies in the same call), and the same again as a no-op;
* gitkube: reading the rendered commit, the first sync (everything created)
  and a no-op sync, with the requests each made, counted by verb.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from gitkube.primitives.kubeapi import KubeApi
from gitkube.primitives.yamlio import dump_document
from gitkube.sync.desired import load_desired
from gitkube.sync.run import SyncOptions, sync
from gitkube.sync.source import open_source
from gitkube.testing.controlplane import ControlPlane, default_bin_dir


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=b@example.com", "-c", "user.name=b", *args],
        check=True,
        capture_output=True,
    )


def schema(properties: int, seed: int) -> dict:
    """An OpenAPI schema about as large and nested as prometheus-operator's."""
    return {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "description": f"Specification of the desired behavior (seed {seed}).",
                "properties": {
                    f"field{i}": {
                        "type": "object",
                        "description": f"Field {i} configures part {i} of the resource; "
                        "see the operator's documentation for what each value means.",
                        "properties": {
                            "name": {"type": "string", "description": "A name."},
                            "replicas": {"type": "integer", "format": "int32", "minimum": 0},
                            "labels": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    }
                    for i in range(properties)
                },
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }


def write_corpus(
    repo: Path, crds: int, properties: int, resources: int, group_prefix: str, namespace: str
) -> None:
    (repo / "operator" / "crds").mkdir(parents=True)
    (repo / "operator" / "resources").mkdir(parents=True)
    (repo / "gitkube.yaml").write_text(
        f"cluster: {{name: {group_prefix}}}\nnamespace: {namespace}\n"
    )
    for n in range(crds):
        group = f"{group_prefix}{n}.bench.example.com"
        kind, plural = f"Thing{n}", f"things{n}"
        cluster = n % 2 == 1
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "scope": "Cluster" if cluster else "Namespaced",
                "names": {"kind": kind, "plural": plural, "listKind": f"{kind}List"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": schema(properties, n)},
                        "subresources": {"status": {}},
                    }
                ],
            },
        }
        (repo / "operator" / "crds" / f"{plural}.yaml").write_text(dump_document(crd))
        docs = []
        for r in range(resources):
            meta: dict = {"name": f"{group_prefix}-{n}-{r}"}
            docs.append(
                dump_document(
                    {
                        "apiVersion": f"{group}/v1",
                        "kind": kind,
                        "metadata": meta,
                        "spec": {"field0": {"name": f"r{r}", "replicas": r}},
                    }
                )
            )
        (repo / "operator" / "resources" / f"{plural}.yaml").write_text("---\n".join(docs))
    (repo / "operator" / "crds" / "app.yaml").write_text("name: crds\n")
    (repo / "operator" / "resources" / "app.yaml").write_text("name: resources\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench")
    subprocess.run(
        [sys.executable, "-m", "gitkube", "render", str(repo)], check=True, capture_output=True
    )


def counted_sync(options: SyncOptions) -> tuple[float, Counter[str], dict]:
    calls: Counter[str] = Counter()
    original = KubeApi.request

    def counting(self, method, path, **kwargs):  # type: ignore[no-untyped-def]
        calls[f"{method}{' dry-run' if (kwargs.get('query') or {}).get('dryRun') else ''}"] += 1
        return original(self, method, path, **kwargs)

    KubeApi.request = counting  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        result = sync(options)
        return time.perf_counter() - started, calls, result.as_dict()
    finally:
        KubeApi.request = original  # type: ignore[method-assign]


def kubectl_apply(kubectl: str, kubeconfig: Path, export: Path) -> float:
    base = [kubectl, "--kubeconfig", str(kubeconfig)]
    started = time.perf_counter()
    for step in (
        [*base, "apply", "--server-side", "-f", str(export / "operator" / "crds")],
        [
            *base,
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "-f",
            str(export / "operator" / "crds"),
        ],
        [*base, "apply", "--server-side", "-R", "-f", str(export / "operator" / "resources")],
    ):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"kubectl failed: {' '.join(step[3:5])}: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--crds", type=int, default=16)
    parser.add_argument("--properties", type=int, default=1500, help="schema size per CRD")
    parser.add_argument("--resources", type=int, default=8, help="custom resources per CRD")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("kubectl is not installed; the comparison needs it")
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(default_bin_dir()) as cp:
        kube = KubeApi(cp.api_client())
        for ns in ("bench-gitkube", "bench-kubectl"):
            kube.request(
                "POST",
                "/api/v1/namespaces",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        ours, theirs = Path(tmp) / "ours", Path(tmp) / "theirs"
        write_corpus(ours, args.crds, args.properties, args.resources, "g", "bench-gitkube")
        write_corpus(theirs, args.crds, args.properties, args.resources, "k", "bench-kubectl")
        crd_bytes = sum(p.stat().st_size for p in (ours / "operator" / "crds").glob("*.yaml"))
        objects = args.crds * (1 + args.resources)
        print(
            f"{args.crds} CRDs ({crd_bytes / 2**20:.1f} MiB of YAML), {objects} objects, "
            f"kube-apiserver {cp.server}"
        )

        export = Path(tmp) / "kubectl-files"
        subprocess.run(
            [
                "git",
                "-C",
                str(theirs),
                "worktree",
                "add",
                "-q",
                "--detach",
                str(export),
                "refs/heads/rendered",
            ],
            check=True,
            capture_output=True,
        )
        (export / "gitkube-inventory.yaml").unlink()
        (export / ".git").unlink(missing_ok=True)
        print(
            f"kubectl apply --server-side (first):  {kubectl_apply(kubectl, cp.kubeconfig, export):6.2f} s"
        )
        print(
            f"kubectl apply --server-side (no-op):  {kubectl_apply(kubectl, cp.kubeconfig, export):6.2f} s"
        )

        started = time.perf_counter()
        load_desired(open_source(str(ours)), "refs/heads/rendered")
        print(f"gitkube: read the rendered commit:    {time.perf_counter() - started:6.2f} s")
        options = SyncOptions(repo=str(ours), kubeconfig=str(cp.kubeconfig))
        seconds, calls, result = counted_sync(options)
        print(
            f"gitkube sync (first):                 {seconds:6.2f} s  created={result['created']}  "
            f"requests={dict(calls)}"
        )
        seconds, calls, result = counted_sync(options)
        print(
            f"gitkube sync (no-op):                 {seconds:6.2f} s  unchanged={result['unchanged']}  "
            f"requests={dict(calls)} (writes: {sum(n for v, n in calls.items() if v != 'GET')})"
        )


if __name__ == "__main__":
    main()
