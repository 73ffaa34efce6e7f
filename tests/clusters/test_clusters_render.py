"""Rendering a repo with ``clusters:``: which apps run where, overrides, patches, branches."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitkube.plugin_api import hookimpl
from gitkube.primitives.filetree import MemoryTree
from gitkube.primitives.yamlio import load_one
from gitkube.render.clusters import render_tree_clusters
from gitkube.render.pipeline import render_tree
from tests.conftest import write_tree
from tests.sync.conftest import git

CLUSTERS = """\
clusters:
  staging: {project: proj-staging, region: us-central1, zone: us-central1-b}
  prod: {project: proj-prod, region: us-central1, zone: us-central1-b, namespace: live,
         values: {tier: gold}}
  prod-eu: {project: proj-prod, region: europe-west1, zone: europe-west1-b, namespace: live}
namespace: default
"""

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
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: tools}
data: {key: value}
"""

FILES = {
    "web/deploy.yaml": DEPLOYMENT,
    "web/app.yaml": "images:\n- {name: nginx, newTag: '1.26'}\n",
    "web/clusters/prod/app.yaml": "images:\n- {name: nginx, newTag: '1.27'}\n",
    "web/clusters/prod/scale.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"
    ),
    "tools/cm.yaml": CONFIGMAP,
    "tools/app.yaml": "clusters: [staging]\n",
}


def git_repo(root: Path, files: dict[str, str], config: str = CLUSTERS) -> Path:
    write_tree(root, {"gitkube.yaml": config, **files})
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def show(repo: Path, rev: str) -> dict:
    return load_one(git(repo, "show", rev).encode(), rev)


def test_each_cluster_gets_its_branch_apps_overrides_and_patches(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    result = cli("render", "-C", repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("staging: rendered 2 objects")
    branches = sorted(git(repo, "branch", "--format=%(refname:short)").split())
    assert branches == ["main", "rendered/prod", "rendered/prod-eu", "rendered/staging"]
    staging = show(repo, "rendered/staging:web/deployment-web.yaml")
    prod = show(repo, "rendered/prod:web/deployment-web.yaml")
    assert staging["spec"]["replicas"] == 1
    assert staging["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert prod["spec"]["replicas"] == 3
    assert prod["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert prod["metadata"]["namespace"] == "live"
    files = git(repo, "ls-tree", "-r", "--name-only", "rendered/prod-eu").split()
    assert files == ["gitkube-inventory.yaml", "web/deployment-web.yaml"]  # no tools, no patch
    inventories = {
        c: show(repo, f"rendered/{c}:gitkube-inventory.yaml")
        for c in ("staging", "prod", "prod-eu")
    }
    assert {c: i["settings"]["cluster"]["name"] for c, i in inventories.items()} == {
        "staging": "staging",
        "prod": "prod",
        "prod-eu": "prod-eu",
    }
    assert len({i["applysetId"] for i in inventories.values()}) == 3
    assert inventories["prod-eu"]["settings"]["cluster"]["region"] == "europe-west1"


def test_a_cluster_renders_as_the_single_cluster_repo_written_for_it():
    single = (
        "cluster: {name: prod, project: proj-prod, region: us-central1, zone: us-central1-b, "
        "values: {tier: gold}}\nnamespace: live\n"
    )
    by_hand = render_tree(
        MemoryTree(
            {
                "gitkube.yaml": single.encode(),
                "web/deploy.yaml": DEPLOYMENT.replace("replicas: 1", "replicas: 3").encode(),
                "web/app.yaml": b"images:\n- {name: nginx, newTag: '1.27'}\n",
            }
        )
    )
    results = render_tree_clusters(
        MemoryTree({"gitkube.yaml": CLUSTERS.encode(), **{k: v.encode() for k, v in FILES.items()}})
    )
    assert results is not None
    (prod,) = [result for view, result in results if view.cluster == "prod"]
    assert prod.files == by_hand.files


def test_a_single_cluster_repo_renders_as_before(tmp_path, cli):
    repo = git_repo(
        tmp_path / "repo",
        {"web/deploy.yaml": DEPLOYMENT},
        config="cluster: {name: home, project: p, region: us-central1, zone: us-central1-b}\n",
    )
    result = cli("render", "-C", repo, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert "cluster" not in json.loads(result.stdout)  # the one summary, as before
    assert sorted(git(repo, "branch", "--format=%(refname:short)").split()) == ["main", "rendered"]


def test_plugins_read_the_cluster_values(tmp_path, cli, gitkube_plugin):
    seen: dict[str, object] = {}

    class Reader:
        @hookimpl
        def gitkube_transform(self, resource, ctx):
            seen[ctx.config.cluster.name] = dict(ctx.config.cluster.values)

    gitkube_plugin(Reader(), name="reader")
    repo = git_repo(tmp_path / "repo", FILES)
    assert cli("render", "-C", repo).returncode == 0
    assert seen == {"staging": {}, "prod": {"tier": "gold"}, "prod-eu": {}}


def test_out_writes_a_directory_per_cluster_and_check_renders_every_cluster(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    out = tmp_path / "out"
    result = cli("render", "-C", repo, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "prod/web/deployment-web.yaml").is_file()
    assert (out / "staging/tools/configmap-tools.yaml").is_file()
    assert not (out / "prod/tools").exists()
    check = cli("render", "-C", repo, "--check")
    assert check.returncode == 0, check.stderr
    assert [line.split(":")[0] for line in check.stdout.splitlines()] == [
        "staging",
        "prod",
        "prod-eu",
    ]


def test_globs_choose_clusters(tmp_path, cli):
    files = {**FILES, "tools/app.yaml": "clusters: ['prod*']\n"}
    repo = git_repo(tmp_path / "repo", files)
    assert cli("render", "-C", repo).returncode == 0
    for cluster, has_tools in (("staging", False), ("prod", True), ("prod-eu", True)):
        listing = git(repo, "ls-tree", "-r", "--name-only", f"rendered/{cluster}")
        assert ("tools/configmap-tools.yaml" in listing) is has_tools


BAD_INPUTS = [
    (
        {"tools/app.yaml": "clusters: [stagin]\n"},
        'tools/app.yaml: clusters: "stagin" matches no cluster of gitkube.yaml',
    ),
    (
        {"web/clusters/qa/app.yaml": "images: []\n"},
        'web/clusters/qa/app.yaml: no cluster "qa" in gitkube.yaml',
    ),
    (
        {"tools/clusters/prod/app.yaml": "images: []\n"},
        'tools/clusters/prod/app.yaml: app tools does not run on cluster "prod"',
    ),
    (
        {"web/clusters/prod/app.yaml": "name: other\n"},
        'web/clusters/prod/app.yaml: "name" cannot differ per cluster',
    ),
    (
        {
            "web/clusters/prod/more.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 5}\n"
            )
        },
        "web/clusters/prod/scale.yaml, app web: Deployment web is patched twice for this "
        "cluster (also in web/clusters/prod/more.yaml)",
    ),
    (
        {"web/clusters/prod/scale.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"},
        "web/clusters/prod/scale.yaml, app web: the patch of Service web matches no manifest",
    ),
    (
        {
            "web/clusters/prod/scale.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                "spec: {$retainKeys: [replicas]}\n"
            )
        },
        'web/clusters/prod/scale.yaml, app web: patch of Deployment web: directive "$retainKeys"',
    ),
]


@pytest.mark.parametrize(("files", "message"), BAD_INPUTS)
def test_bad_cluster_input_is_one_line_naming_the_file_and_moves_no_branch(
    tmp_path, cli, files, message
):
    repo = git_repo(tmp_path / "repo", FILES)
    assert cli("render", "-C", repo).returncode == 0
    tips = git(repo, "for-each-ref", "refs/heads/rendered")
    write_tree(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bad")
    result = cli("render", "-C", repo)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert git(repo, "for-each-ref", "refs/heads/rendered") == tips


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            CLUSTERS + "cluster: {name: home}\n",
            "gitkube.yaml: cluster: and clusters: do not go together",
        ),
        ("clusters:\n  Prod_1: {}\n", "gitkube.yaml: clusters: 'Prod_1' does not match"),
        ("clusters:\n  prod: {zone: Europe}\n", "gitkube.yaml: clusters.prod.zone: 'Europe'"),
    ],
)
def test_bad_clusters_in_gitkube_yaml_are_one_line_naming_it(tmp_path, cli, config, message):
    repo = git_repo(tmp_path / "repo", {"web/deploy.yaml": DEPLOYMENT}, config=config)
    result = cli("render", "-C", repo)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert git(repo, "for-each-ref", "refs/heads/rendered") == ""


def test_an_error_in_one_cluster_moves_no_branch(tmp_path, cli):
    """prod's patch breaks only prod's render; staging's branch does not move either."""
    repo = git_repo(tmp_path / "repo", FILES)
    assert cli("render", "-C", repo).returncode == 0
    tips = git(repo, "for-each-ref", "refs/heads/rendered")
    write_tree(repo, {"web/clusters/prod/app.yaml": "images: [{name: nginx, newTag: ''}]\n"})
    git(repo, "commit", "-qam", "bad tag")
    result = cli("render", "-C", repo)
    assert result.returncode == 1
    assert result.stderr.startswith("error: web/app.yaml")
    assert "[cluster prod; made from web/app.yaml + web/clusters/prod/app.yaml]" in result.stderr
    assert git(repo, "for-each-ref", "refs/heads/rendered") == tips


def test_the_command_line_in_a_subprocess(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    result = cli.subprocess("render", "-C", repo)
    assert result.returncode == 0, result.stderr
    assert (
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "rendered/prod"],
            capture_output=True,
        ).returncode
        == 0
    )
