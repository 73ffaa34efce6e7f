"""Two clusters from one repo, each synced from its own rendered branch into its own
control plane and Compute Engine project."""

from __future__ import annotations

import json

from gitkube.primitives.kubeapi import KubeApi
from tests.clusters.conftest import ZONE
from tests.sync.conftest import git

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env:
        - {name: MODE, value: base}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: tools}
data: {key: value}
"""

DISK = "disks:\n- {name: world, sizeGb: 10, mount: /world}\n"


def deployment(kube: KubeApi, namespace: str, name: str = "web") -> dict | None:
    from gitkube.primitives.kubeapi import KubeApiError

    try:
        return kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    except KubeApiError as exc:
        assert exc.status == 404
        return None


def configmap(kube: KubeApi, namespace: str) -> dict | None:
    from gitkube.primitives.kubeapi import KubeApiError

    try:
        return kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/tools")
    except KubeApiError as exc:
        assert exc.status == 404
        return None


def test_two_clusters_render_sync_override_move_and_delete(
    clusters_repo, controlplane, second_controlplane, fake_compute
):
    repo = clusters_repo(
        {
            "web/deploy.yaml": DEPLOYMENT,
            "web/app.yaml": DISK,
            # prod: a bigger disk (app.yaml override) and three replicas (a patch)
            "web/clusters/prod/app.yaml": "disks:\n- {name: world, sizeGb: 20, mount: /world}\n",
            "web/clusters/prod/replicas.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                "spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n"
                "      - name: web\n        env:\n        - {name: MODE, value: prod}\n"
            ),
            "tools/cm.yaml": CONFIGMAP,
            "tools/app.yaml": "clusters: [staging]\n",
        }
    )
    branches = git(repo.path, "branch", "--format=%(refname:short)").split()
    assert sorted(branches) == ["main", "rendered/prod", "rendered/staging"]

    prod_kube = KubeApi(controlplane.api_client())
    staging_kube = KubeApi(second_controlplane.api_client())
    staging_ns, prod_ns = repo.namespaces["staging"], repo.namespaces["prod"]

    staging = repo.sync_json("staging")
    prod = repo.sync_json("prod")
    assert {(c["kind"], c["action"]) for c in staging["changes"]} >= {
        ("Deployment", "create"),
        ("ConfigMap", "create"),
        ("ComputeDisk", "create"),
    }
    assert ("ConfigMap", "create") not in {(c["kind"], c["action"]) for c in prod["changes"]}
    # Each cluster's objects went to its own control plane and its own project.
    assert deployment(staging_kube, staging_ns)["spec"]["replicas"] == 1
    prod_web = deployment(prod_kube, prod_ns)
    assert prod_web["spec"]["replicas"] == 3
    assert prod_web["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "MODE", "value": "prod"}
    ]
    assert configmap(staging_kube, staging_ns) is not None
    assert configmap(prod_kube, prod_ns) is None
    staging_disk = fake_compute.resource(f"projects/proj-staging/zones/{ZONE}/disks/world")
    prod_disk = fake_compute.resource(f"projects/{fake_compute.project}/zones/{ZONE}/disks/world")
    assert (staging_disk["sizeGb"], prod_disk["sizeGb"]) == ("10", "20")
    # Different clusters, different ApplySets.
    staging_set = deployment(staging_kube, staging_ns)["metadata"]["labels"]
    prod_set = prod_web["metadata"]["labels"]
    part_of = "applyset.kubernetes.io/part-of"
    assert staging_set[part_of] != prod_set[part_of]

    # A prod-only override: prod changes, staging's branch and cluster do not.
    staging_tip = git(repo.path, "rev-parse", "rendered/staging")
    patch = (repo.path / "web/clusters/prod/replicas.yaml").read_text()
    repo.write({"web/clusters/prod/replicas.yaml": patch.replace("replicas: 3", "replicas: 4")})
    rendered = json.loads(repo.commit_and_render("prod: four replicas").stdout)
    assert [s["cluster"] for s in rendered["clusters"]] == ["staging", "prod"]
    # staging's new commit records the new source commit, and nothing else
    touched = git(repo.path, "diff", "--name-only", staging_tip, "rendered/staging").split()
    assert touched == ["gitkube-inventory.yaml"]
    assert repo.sync_json("staging")["changes"] == []
    prod = repo.sync_json("prod")
    assert [(c["kind"], c["action"]) for c in prod["changes"]] == [("Deployment", "update")]
    assert deployment(prod_kube, prod_ns)["spec"]["replicas"] == 4

    # Move tools from staging to both clusters.
    repo.remove("tools/app.yaml")
    repo.commit_and_render("tools everywhere")
    assert repo.sync_json("staging")["changes"] == []
    prod = repo.sync_json("prod")
    assert [(c["kind"], c["action"]) for c in prod["changes"]] == [("ConfigMap", "create")]
    assert configmap(prod_kube, prod_ns) is not None

    # Delete it from one: staging prunes it, prod keeps it.
    repo.write({"tools/app.yaml": "clusters: [prod]\n"})
    repo.commit_and_render("tools prod only")
    staging = repo.sync_json("staging")
    assert [(c["kind"], c["action"]) for c in staging["changes"]] == [("ConfigMap", "delete")]
    assert configmap(staging_kube, staging_ns) is None
    assert repo.sync_json("prod")["changes"] == []
    assert configmap(prod_kube, prod_ns) is not None
    prod_kube.api_client.close()
    staging_kube.api_client.close()


def test_sync_without_a_cluster_branch_names_them(tmp_path, controlplane, cli):
    from tests.clusters.test_clusters_render import FILES, git_repo

    repo = git_repo(tmp_path / "repo", FILES)
    assert cli("render", "-C", repo).returncode == 0
    result = cli("plan", "--repo", repo, "--kubeconfig", controlplane.kubeconfig)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert (
        "one branch per cluster (docs/clusters.md): --ref refs/heads/rendered/prod or "
        "refs/heads/rendered/prod-eu or refs/heads/rendered/staging" in result.stderr
    )
