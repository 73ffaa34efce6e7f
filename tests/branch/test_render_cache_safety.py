"""The render cache gives what a full render gives, also where one app depends on another."""

from __future__ import annotations

from tests.branch.conftest import app_files, commit_all, edit, git

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.example.com}}
spec:
  group: example.com
  names: {{kind: Widget, plural: widgets}}
  scope: {scope}
"""
WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"


def tree_of(repo, ref: str) -> dict[str, str]:
    out = git(repo, "ls-tree", "-r", ref)
    return {line.split("\t")[1]: line.split()[2] for line in out.splitlines()}


def test_crd_scope_change_reaches_cached_apps(git_repo, cli):
    repo = git_repo(
        {
            **app_files("frontend"),
            "crds/widgets/crd.yaml": CRD.format(scope="Namespaced"),
            "tools/widget/widget.yaml": WIDGET,
        }
    )
    assert cli("render", repo).returncode == 0
    shown = git(repo, "show", "rendered:tools/widget/widget.example.com-w.yaml")
    assert "namespace: default" in shown
    # Only the CRD's app changes; the widget's app is in the cache.
    edit(repo, {"crds/widgets/crd.yaml": CRD.format(scope="Cluster")})
    commit_all(repo)
    assert cli("render", repo).returncode == 0
    shown = git(repo, "show", "rendered:tools/widget/widget.example.com-w.yaml")
    assert "namespace:" not in shown
    assert cli("render", repo, "--no-cache", "--branch", "full").returncode == 0
    cached, full = tree_of(repo, "rendered"), tree_of(repo, "full")
    cached.pop("gitkube-inventory.yaml")
    full.pop("gitkube-inventory.yaml")
    assert cached == full


def test_partly_cached_render_equals_a_full_render(git_repo, cli):
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec: {ports: [{port: 9000}]}\n"
    )
    repo = git_repo(
        {
            **app_files("frontend"),
            "web/frontend/app.yaml": "external: {address: frontend-ip, ports: [80]}\n",
            "web/frontend/other.yaml": service,
            **app_files("ghost"),
        }
    )
    assert cli("render", repo).returncode == 0
    edit(repo, app_files("frontend", replicas=3))  # frontend re-renders, ghost is cached
    commit_all(repo)
    assert cli("render", repo).returncode == 0
    assert cli("render", repo, "--no-cache", "--branch", "full").returncode == 0
    assert tree_of(repo, "rendered") == tree_of(repo, "full")
    assert "annotations" not in git(repo, "show", "full:web/frontend/service-other.yaml")


def test_file_over_the_limit_is_never_read(git_repo, cli, monkeypatch):
    from gitkube.primitives.gitstore import GitStore

    repo = git_repo(app_files("frontend"))
    edit(
        repo,
        {"gitkube.yaml": (repo / "gitkube.yaml").read_text() + "render: {maxFileBytes: 4096}\n"},
    )
    (repo / "web/frontend/huge.yaml").write_bytes(b"# " + b"x" * 100_000 + b"\n")
    commit_all(repo)
    huge = git(repo, "rev-parse", "HEAD:web/frontend/huge.yaml")
    asked: list[str] = []
    real_read = GitStore.read_blobs

    def read_blobs(self, oids, **kwargs):
        oids = list(oids)
        asked.extend(oids)
        return real_read(self, oids, **kwargs)

    monkeypatch.setattr(GitStore, "read_blobs", read_blobs)
    result = cli("render", repo)
    assert result.returncode == 1
    assert "web/frontend/huge.yaml" in result.stderr and "over the limit of 4,096" in result.stderr
    assert huge not in asked
