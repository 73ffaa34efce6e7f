"""``gitkube promote``: per-cluster values copied with the rest of the file byte for byte."""

from __future__ import annotations

import json

import pytest

from tests.clusters.test_clusters_render import FILES, git_repo

STAGING = """\
images:
- name: nginx
  newTag: "1.28"
- name: redis
  newTag: '7.2'
"""

PROD = """\
# prod: reviewed by the on-call team
images:
  - name: nginx       # the front end
    newTag: "1.27"    # keep quoted
    newName: 'mirror.example.com/nginx'
namespace: live   # not promoted: staging does not set it
"""


def test_promote_copies_tags_and_keeps_everything_else_byte_for_byte(tmp_path, cli):
    repo = git_repo(
        tmp_path / "repo",
        {
            **FILES,
            "web/clusters/staging/app.yaml": STAGING,
            "web/clusters/prod/app.yaml": PROD,
        },
    )
    result = cli("promote", "web", "--from", "staging", "--to", "prod", "-C", repo)
    assert result.returncode == 0, result.stderr
    assert "copied images from staging to prod in web/clusters/prod/app.yaml" in result.stdout
    after = (repo / "web/clusters/prod/app.yaml").read_text()
    # nginx's tag changed in place (comment and quotes kept), its newName went (staging has
    # none), redis was added; everything else is as it was.
    assert after == (
        "# prod: reviewed by the on-call team\n"
        "images:\n"
        "  - name: nginx       # the front end\n"
        '    newTag: "1.28"    # keep quoted\n'
        "  - name: redis\n"
        "    newTag: '7.2'\n"
        "namespace: live   # not promoted: staging does not set it\n"
    )
    again = cli("promote", "web", "--from", "staging", "--to", "prod", "-C", repo, "-o", "json")
    assert json.loads(again.stdout)["changed"] is False


def test_promote_creates_the_target_file(tmp_path, cli):
    repo = git_repo(tmp_path / "repo", {**FILES, "web/clusters/staging/app.yaml": STAGING})
    (repo / "web/clusters/prod/app.yaml").unlink()
    assert cli("promote", "web", "--from", "staging", "--to", "prod", "-C", repo).returncode == 0
    assert (repo / "web/clusters/prod/app.yaml").read_text() == STAGING
    assert cli("render", "-C", repo, "--out", tmp_path / "out").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("web", "--from", "qa", "--to", "prod"), 'gitkube.yaml: no cluster "qa"'),
        (("nope", "--from", "staging", "--to", "prod"), 'nope: no app "nope"'),
        (
            ("tools", "--from", "staging", "--to", "prod"),
            "tools/clusters/staging/app.yaml: app tools has no values for cluster staging",
        ),
        (("web", "--from", "prod", "--to", "prod"), "--from and --to are both prod"),
    ],
)
def test_promote_errors_are_one_line(tmp_path, cli, args, message):
    repo = git_repo(tmp_path / "repo", FILES)
    before = (repo / "web/clusters/prod/app.yaml").read_text()
    result = cli("promote", *args, "-C", repo)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert (repo / "web/clusters/prod/app.yaml").read_text() == before


def test_promote_to_a_cluster_the_app_skips_is_refused(tmp_path, cli):
    repo = git_repo(
        tmp_path / "repo", {**FILES, "tools/clusters/staging/app.yaml": "namespace: x\n"}
    )
    result = cli("promote", "tools", "--from", "staging", "--to", "prod", "-C", repo)
    assert result.returncode == 1
    assert "tools/app.yaml: app tools does not run on cluster prod" in result.stderr
    assert not (repo / "tools/clusters/prod").exists()
