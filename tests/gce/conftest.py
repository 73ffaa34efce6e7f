"""GCE sync tests: a real config repo, the real control plane, the local Compute Engine."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.testing.fake_compute import FakeCompute
from tests.conftest import write_tree
from tests.sync.conftest import DEPLOYMENT, SyncRepo, git, kube  # noqa: F401 - a fixture

REGION = "us-central1"
ZONE = "us-central1-b"
NODE_TAG = "k8s-test-node"


@dataclass
class GceRepo(SyncRepo):
    """A :class:`SyncRepo` whose syncs talk to the local Compute Engine."""

    endpoint: str = ""

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        return super().sync("--gce-endpoint", self.endpoint, *args)

    def plan_json(self, *args: str) -> dict:
        return super().plan_json("--gce-endpoint", self.endpoint, *args)


def external_app(name: str = "web", address: str = "web-ip", ports: str = "[80]") -> dict[str, str]:
    return {
        f"apps/{name}/deploy.yaml": DEPLOYMENT.format(name=name),
        f"apps/{name}/app.yaml": f"external: {{address: {address}, ports: {ports}}}\n",
    }


@pytest.fixture
def gce_repo(
    tmp_path, controlplane, kube_namespace, cli, fake_compute: FakeCompute
) -> Callable[..., GceRepo]:
    def make(files: dict[str, str], *, extra_config: str = "") -> GceRepo:
        cluster = f"t{uuid.uuid4().hex[:10]}"
        path = tmp_path / "config"
        write_tree(
            path,
            {
                "gitkube.yaml": f"cluster: {{name: {cluster}, project: {fake_compute.project}, "
                f"region: {REGION}, zone: {ZONE}, nodeTag: {NODE_TAG}}}\n"
                f"namespace: {kube_namespace}\n{extra_config}",
                **files,
            },
        )
        git(path.parent, "init", "-q", "-b", "main", str(path))
        git(path, "config", "user.email", "t@example.com")
        git(path, "config", "user.name", "t")
        repo = GceRepo(
            path,
            kube_namespace,
            cluster,
            controlplane.kubeconfig,
            cli,
            endpoint=fake_compute.endpoint,
        )
        repo.commit_and_render("initial")
        return repo

    return make


@dataclass
class Nodes:
    """Cluster Nodes with matching instances in the fake, made the way GKE would."""

    kube: KubeApi
    fake: FakeCompute
    names: list[str] = field(default_factory=list)

    def add(self, name: str, *, zone: str = ZONE) -> str:
        """Create instance ``name`` in the fake and a Node for it; return the instance path."""
        self.fake_instance(name, zone=zone)
        self.kube.request(
            "POST",
            "/api/v1/nodes",
            body={
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {"providerID": f"gce://{self.fake.project}/{zone}/{name}"},
            },
        )
        self.names.append(name)
        return f"zones/{zone}/instances/{name}"

    def fake_instance(self, name: str, *, zone: str = ZONE) -> None:
        from google.cloud import compute_v1

        client = self.fake.client(compute_v1.InstancesClient)
        op = client.insert(
            project=self.fake.project,
            zone=zone,
            instance_resource=compute_v1.Instance(
                name=name,
                machine_type="e2-small",
                tags=compute_v1.Tags(items=[NODE_TAG]),
            ),
        )
        op.result(timeout=30)

    def remove(self, name: str) -> None:
        try:
            self.kube.request("DELETE", f"/api/v1/nodes/{name}")
        except KubeApiError as exc:
            if exc.status != 404:
                raise
        if name in self.names:
            self.names.remove(name)


@pytest.fixture
def nodes(controlplane, fake_compute) -> Iterator[Nodes]:
    api = KubeApi(controlplane.api_client())
    # Nodes are cluster-wide: start from none so a pool holds exactly this test's.
    for node in api.request("GET", "/api/v1/nodes").get("items") or ():
        api.request("DELETE", f"/api/v1/nodes/{node['metadata']['name']}")
    made = Nodes(api, fake_compute)
    yield made
    for name in list(made.names):
        made.remove(name)
    api.api_client.close()
