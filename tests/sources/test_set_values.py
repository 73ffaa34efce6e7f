"""``gitkube set image`` / ``gitkube set``: one value changes, every other byte stays."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_tree

pytestmark = pytest.mark.usefixtures("git_identity")


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in {
        "GIT_AUTHOR_NAME": "CI",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "CI",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(key, value)


def only_change(before: str, after: str, old: str, new: str) -> None:
    """``after`` is ``before`` with exactly the one occurrence of ``old`` at the
    changed place replaced by ``new``: byte for byte everywhere else."""
    assert before.count(old) >= 1
    at = (
        next(i for i in range(len(before)) if before[i] != after[i : i + 1])
        if before != after
        else -1
    )
    assert at >= 0, "nothing changed"
    start = before.rfind(old, 0, at + len(old))
    assert start >= 0 and start <= at
    assert after == before[:start] + new + before[start + len(old) :], after


ODD_MANIFEST = """\
# the web tier; keep the comments
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # named after the app
  labels: {tier: "front"}

spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: 'registry.example/web:1.0'   # bumped by CI
          env:
            - {name: MODE, value: "prod"}
        - &sidecar
          name: proxy
          image: "registry.example/proxy:2.1"
      initContainers:
        - <<: *sidecar
          name: proxy-init
"""


def test_set_image_in_a_manifest_keeps_every_other_byte(cli, make_repo):
    repo = make_repo({"web/deployment.yaml": ODD_MANIFEST})
    result = cli("set", "image", "web", "registry.example/web=1.1", "-C", repo)
    assert result.returncode == 0, result.stderr
    after = (repo / "web/deployment.yaml").read_text()
    only_change(ODD_MANIFEST, after, "'registry.example/web:1.0'", "'registry.example/web:1.1'")


def test_set_image_through_an_anchor_edits_the_anchored_value(cli, make_repo):
    repo = make_repo({"web/deployment.yaml": ODD_MANIFEST})
    digest = "sha256:" + "ab" * 32
    result = cli("set", "image", "web", f"registry.example/proxy={digest}", "-C", repo)
    assert result.returncode == 0, result.stderr
    after = (repo / "web/deployment.yaml").read_text()
    only_change(
        ODD_MANIFEST,
        after,
        '"registry.example/proxy:2.1"',
        f'"registry.example/proxy@{digest}"',
    )


APP_YAML = """\
# app settings
name: web

images:
- name: registry.example/web   # the app image
  newTag: "1.0"
- name: nginx
  newTag: 1.25-alpine
labels: {team: blue}
"""


def test_set_image_updates_the_app_yaml_entry(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML, "web/deployment.yaml": ODD_MANIFEST})
    result = cli("set", "image", "web", "nginx=1.27-alpine", "-C", repo)
    assert result.returncode == 0, result.stderr
    only_change(APP_YAML, (repo / "web/app.yaml").read_text(), "1.25-alpine", "1.27-alpine")
    assert (repo / "web/deployment.yaml").read_text() == ODD_MANIFEST


def test_a_tag_that_reads_as_a_number_is_quoted(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML})
    assert cli("set", "image", "web", "nginx=1.10", "-C", repo).returncode == 0
    only_change(APP_YAML, (repo / "web/app.yaml").read_text(), "1.25-alpine", '"1.10"')


def test_set_image_writes_a_kustomization_like_kustomize_edit(cli, make_repo):
    kustomization = (
        "resources: [deployment.yaml]  # the app\nimages:\n"
        "  - name: registry.example/web\n    newTag: v1  # CI writes this\n"
    )
    repo = make_repo({"web/kustomization.yaml": kustomization, "web/deployment.yaml": ODD_MANIFEST})
    assert cli("set", "image", "web", "registry.example/web=v2", "-C", repo).returncode == 0
    only_change(kustomization, (repo / "web/kustomization.yaml").read_text(), "v1", "v2")
    assert (repo / "web/deployment.yaml").read_text() == ODD_MANIFEST


def test_set_image_adds_an_entry_when_nothing_names_the_image(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML, "web/deployment.yaml": ODD_MANIFEST})
    assert cli("set", "image", "web", "redis=7.2", "-C", repo).returncode == 0
    after = (repo / "web/app.yaml").read_text()
    assert after.startswith("# app settings\nname: web\n\nimages:\n")
    assert (
        "- name: redis\n  newTag: '7.2'\n" in after or '- name: redis\n  newTag: "7.2"\n' in after
    )
    assert "# the app image" in after


def test_set_value_in_app_yaml(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML})
    assert cli("set", "web", "labels.team=red", "-C", repo).returncode == 0
    only_change(APP_YAML, (repo / "web/app.yaml").read_text(), "blue", "red")


def test_set_value_refuses_what_the_schema_refuses_and_writes_nothing(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML})
    result = cli("set", "web", "namespace=Not_A_Name", "-C", repo)
    assert result.returncode == 1
    assert "web/app.yaml" in result.stderr and "namespace" in result.stderr
    result = cli("set", "web", "replicaz=3", "-C", repo)
    assert result.returncode == 1 and "unknown key" in result.stderr
    assert (repo / "web/app.yaml").read_text() == APP_YAML


def test_bad_reference_is_one_error(cli, make_repo):
    repo = make_repo({"web/app.yaml": APP_YAML})
    result = cli("set", "image", "web", "nginx=sha256:nothex", "-C", repo)
    assert result.returncode == 1 and "digest" in result.stderr
    assert (repo / "web/app.yaml").read_text() == APP_YAML


def test_commit_makes_a_conventional_commit_of_the_file_only(cli, tmp_path):
    repo = write_tree(tmp_path / "repo", {"web/app.yaml": APP_YAML, "other.txt": "x\n"})
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "start"], cwd=repo, check=True)
    (repo / "other.txt").write_text("changed, not staged for the set commit\n")
    result = cli("set", "image", "web", "nginx=1.27", "--commit", "-C", repo)
    assert result.returncode == 0, result.stderr
    log = subprocess.run(
        ["git", "show", "--stat", "--format=%s", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert log.startswith("chore(web): set image nginx to 1.27\n")
    assert "web/app.yaml" in log and "other.txt" not in log
