"""``gitkube diff`` of a repo with ``clusters:``: which clusters a change reaches."""

from __future__ import annotations

import json

from tests.clusters.test_clusters_render import FILES, git_repo
from tests.conftest import write_tree
from tests.sync.conftest import git


def commit(repo, files, message="change"):
    write_tree(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_a_prod_only_change_reaches_prod_alone(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    assert cli("render", "-C", repo).returncode == 0  # base read from the rendered branches
    git(repo, "checkout", "-q", "-b", "scale")
    commit(
        repo,
        {"web/clusters/prod/scale.yaml": FILES["web/clusters/prod/scale.yaml"].replace("3", "5")},
    )
    result = cli("diff", "-C", repo, "main", "HEAD")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()[0] == "staging: unchanged; prod: 1 changed; prod-eu: unchanged"
    )
    assert "== cluster prod" in result.stdout and "== cluster staging" not in result.stdout
    report = json.loads(cli("diff", "-C", repo, "main", "HEAD", "-o", "json").stdout)
    assert report["summary"]["text"] == "staging: unchanged; prod: 1 changed; prod-eu: unchanged"
    assert [(c["cluster"], c["path"], c["action"]) for c in report["changes"]] == [
        ("prod", "web/deployment-web.yaml", "changed")
    ]
    assert "-  replicas: 3\n+  replicas: 5" in report["changes"][0]["diff"]


def test_a_shared_file_shows_every_cluster_it_reaches(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    git(repo, "checkout", "-q", "-b", "bump")
    commit(repo, {"web/deploy.yaml": FILES["web/deploy.yaml"].replace("nginx", "httpd")})
    report = json.loads(cli("diff", "-C", repo, "main", "HEAD", "-o", "json").stdout)
    assert sorted(c["cluster"] for c in report["changes"]) == ["prod", "prod-eu", "staging"]
    markdown = cli("diff", "-C", repo, "main", "HEAD", "-o", "markdown").stdout
    assert "- **staging: 1 changed**" in markdown
    assert "#### cluster `prod-eu`" in markdown


def test_moving_an_app_and_risks_per_cluster(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    git(repo, "checkout", "-q", "-b", "move")
    commit(repo, {"tools/app.yaml": "clusters: [prod]\n"})
    report = json.loads(cli("diff", "-C", repo, "main", "HEAD", "-o", "json").stdout)
    assert report["summary"]["clusters"]["staging"]["removed"] == 1
    assert report["summary"]["clusters"]["prod"]["added"] == 1
    assert report["summary"]["clusters"]["prod-eu"] == {"added": 0, "removed": 0, "changed": 0}
    # staging prunes its only other object: more than maxPruneFraction, a risk there alone
    assert {r["cluster"] for r in report["risks"]} == {"staging"}
    assert cli("diff", "-C", repo, "main", "HEAD", "--fail-on", "risk").returncode == 3


def test_the_work_tree_against_main(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", FILES)
    write_tree(repo, {"web/clusters/staging/app.yaml": "images:\n- {name: nginx, newTag: '2.0'}\n"})
    result = cli("diff", "-C", repo, "--exit-code")
    assert result.returncode == 1
    assert (
        result.stdout.splitlines()[0] == "staging: 1 changed; prod: unchanged; prod-eu: unchanged"
    )
