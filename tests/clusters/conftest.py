"""Several clusters from one repo: two real control planes and one local Compute Engine."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitkube.testing.controlplane import ControlPlane
from tests.conftest import Cli, write_tree
from tests.sync.conftest import git

REGION = "us-central1"
ZONE = "us-central1-b"


@pytest.fixture(scope="module")
def second_controlplane() -> Iterator[ControlPlane]:
    """A second etcd + kube-apiserver beside the session's: the other cluster."""
    with ControlPlane() as cp:
        yield cp


@dataclass
class ClustersRepo:
    """A config repo with ``clusters: {staging, prod}``, each bound to its own control plane."""

    path: Path
    cli: Cli
    kubeconfigs: dict[str, Path]
    namespaces: dict[str, str]
    gce_endpoint: str

    def write(self, files: dict[str, str]) -> None:
        write_tree(self.path, files)

    def remove(self, rel: str) -> None:
        git(self.path, "rm", "-r", "-q", rel)

    def commit_and_render(self, message: str = "change") -> subprocess.CompletedProcess[str]:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        result = self.cli("render", "-C", self.path, "-o", "json")
        assert result.returncode == 0, result.stderr
        return result

    def sync_json(self, cluster: str, *args: str) -> dict:
        result = self.cli(
            "sync",
            *("--repo", self.path, "--ref", f"refs/heads/rendered/{cluster}"),
            *("--kubeconfig", self.kubeconfigs[cluster], "--gce-endpoint", self.gce_endpoint),
            *("-o", "json", *args),
        )
        assert result.returncode == 0, result.stderr + result.stdout
        return json.loads(result.stdout)


def clusters_config(projects: dict[str, str], namespaces: dict[str, str]) -> str:
    entries = "".join(
        f"  {name}: {{project: {projects[name]}, region: {REGION}, zone: {ZONE}, "
        f"namespace: {namespaces[name]}}}\n"
        for name in ("staging", "prod")
    )
    return f"clusters:\n{entries}"


@pytest.fixture
def clusters_repo(
    tmp_path, controlplane, second_controlplane, kube_namespace, cli, fake_compute
) -> Iterator[Callable[[dict[str, str]], ClustersRepo]]:
    staging_namespace = second_controlplane.create_namespace(prefix="staging")
    namespaces = {"staging": staging_namespace, "prod": kube_namespace}
    kubeconfigs = {"staging": second_controlplane.kubeconfig, "prod": controlplane.kubeconfig}
    projects = {"staging": "proj-staging", "prod": fake_compute.project}

    def make(files: dict[str, str]) -> ClustersRepo:
        path = tmp_path / "config"
        write_tree(
            path,
            {"gitkube.yaml": clusters_config(projects, namespaces), **files},
        )
        git(path.parent, "init", "-q", "-b", "main", str(path))
        git(path, "config", "user.email", "t@example.com")
        git(path, "config", "user.name", "t")
        repo = ClustersRepo(path, cli, kubeconfigs, namespaces, fake_compute.endpoint)
        repo.commit_and_render("initial")
        return repo

    yield make
    second_controlplane.delete_namespace(staging_namespace)


def dedent(text: str) -> str:
    return textwrap.dedent(text)
