"""Config repos rendered for real and synced into the real control plane."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitkube.primitives.kubeapi import KubeApi
from gitkube.sync.agent import Agent, AgentOptions
from gitkube.sync.run import SyncOptions
from tests.conftest import Cli, write_tree


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class SyncRepo:
    """A config repo (git) with its rendered branch, bound to one namespace and ApplySet."""

    path: Path
    namespace: str
    cluster: str
    kubeconfig: Path
    cli: Cli

    def write(self, files: dict[str, str]) -> None:
        write_tree(self.path, files)

    def remove(self, rel: str) -> None:
        git(self.path, "rm", "-r", "-q", rel)

    def commit_and_render(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        result = self.cli("render", self.path)
        assert result.returncode == 0, result.stderr
        return git(self.path, "rev-parse", "refs/heads/rendered")

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli(
            "sync", "--repo", self.path, "--kubeconfig", self.kubeconfig, "-o", "json", *args
        )

    def sync_json(self, *args: str) -> dict:
        result = self.sync(*args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def plan_json(self, *args: str) -> dict:
        result = self.cli(
            "plan", "--repo", self.path, "--kubeconfig", self.kubeconfig, "-o", "json", *args
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def sync_repo(tmp_path, controlplane, kube_namespace, cli) -> Callable[..., SyncRepo]:
    def make(files: dict[str, str], *, extra_config: str = "") -> SyncRepo:
        cluster = f"t{uuid.uuid4().hex[:10]}"
        path = tmp_path / "config"
        write_tree(
            path,
            {
                "gitkube.yaml": f"cluster: {{name: {cluster}, project: p, region: us-central1, "
                f"zone: us-central1-b}}\nnamespace: {kube_namespace}\n{extra_config}",
                **files,
            },
        )
        git(path.parent, "init", "-q", "-b", "main", str(path))
        git(path, "config", "user.email", "t@example.com")
        git(path, "config", "user.name", "t")
        repo = SyncRepo(path, kube_namespace, cluster, controlplane.kubeconfig, cli)
        repo.commit_and_render("initial")
        return repo

    return make


@pytest.fixture
def kube(controlplane) -> Iterator[KubeApi]:
    api = KubeApi(controlplane.api_client())
    yield api
    api.api_client.close()


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}}}
data: {{key: {value}}}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{{containerPort: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{port: 80}}]
"""


# What gitkube adds at apply time and the rendered files do not carry (the
# record of what it applied); kubectl diff of the rendered files shows only these.
RECORD_KEYS = (
    "gitkube.dev/app:",
    "gitkube.dev/content-hash:",
    "gitkube.dev/source:",
    "gitkube.dev/server-form-hash:",
)


def record_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict]]:
    """Every (method, path, query) sent through KubeApi from now on, in order."""
    calls: list[tuple[str, str, dict]] = []
    original = KubeApi.request

    def counting(self, method, path, **kwargs):
        calls.append((method, path, dict(kwargs.get("query") or {})))
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(KubeApi, "request", counting)
    return calls


def kubectl_diff_rendered(
    repo: SyncRepo, kubeconfig: Path, out: Path, only: str | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``kubectl diff --server-side`` of the rendered files (or one of them) against
    the cluster: the result and the changed lines, without their +/- marks."""
    from tests.conftest import require_tool

    git(repo.path, "worktree", "add", "-q", "--detach", str(out), "refs/heads/rendered")
    files = (
        [out / only]
        if only
        else [p for p in out.rglob("*.yaml") if p.name != "gitkube-inventory.yaml"]
    )
    result = subprocess.run(
        [
            require_tool("kubectl"),
            *("--kubeconfig", str(kubeconfig), "diff", "--server-side", "--field-manager=gitkube"),
            *[a for f in files for a in ("-f", str(f))],
        ],
        capture_output=True,
        text=True,
    )
    changed = [
        line[1:].strip()
        for line in result.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return result, changed


HOUR = 3600.0


@pytest.fixture
def running_agent(sync_repo, controlplane) -> Iterator[Callable[..., Agent]]:
    started: list[tuple[Agent, threading.Thread]] = []

    def start(
        repo,
        *,
        interval: float = HOUR,
        poll: float = HOUR,
        remote: str | None = None,
        webhook_secret_file: str | None = None,
    ) -> Agent:
        options = AgentOptions(
            sync=SyncOptions(repo=remote or str(repo.path), kubeconfig=str(repo.kubeconfig)),
            webhook_secret_file=webhook_secret_file,
            interval=interval,
            poll=poll,
            lease_name=f"agent-{repo.cluster}",
            lease_duration=15.0,
            listen="127.0.0.1:0",
            identity="watcher",
        )
        agent = Agent(options, api=KubeApi(controlplane.api_client()))
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        started.append((agent, thread))
        return agent

    yield start
    for agent, thread in started:
        agent.stop.set()
        agent.wake.set()
        thread.join(60)
