"""gitkube diff BASE HEAD: per-app added / removed / changed objects, GCE included."""

from __future__ import annotations

import json

from tests.branch.conftest import app_files, commit_all, edit, git

EXTERNAL_APP = "external: {address: frontend-ip, ports: [80]}\n"


def _two_commits(git_repo):
    repo = git_repo(
        {
            **app_files("frontend"),
            **app_files("ghost"),
            "web/frontend/app.yaml": EXTERNAL_APP,
            "tools/job/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tools}\n",
        }
    )
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=3))  # changed Deployment
    edit(repo, {"web/frontend/app.yaml": "external: {address: frontend-ip, ports: [80, 443]}\n"})
    git(repo, "rm", "-q", "-r", "web/ghost")  # removed app
    edit(
        repo, {"web/vanity/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: vanity}\n"}
    )
    head = commit_all(repo)
    return repo, base, head


def _json(cli, repo, *args):
    result = cli("diff", *args, "--repo", repo, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_lists_every_change_per_app(git_repo, cli):
    repo, base, head = _two_commits(git_repo)
    report = _json(cli, repo, base, head)
    changes = {(c["app"], c["kind"], c["name"]): c for c in report["changes"]}
    deploy = changes[("web/frontend", "Deployment", "frontend")]
    assert deploy["action"] == "changed"
    assert deploy["namespace"] == "default"
    assert "-  replicas: 1\n+  replicas: 3\n" in deploy["diff"]
    assert deploy["diff"].startswith("--- a/web/frontend/deployment-frontend.yaml\n")
    for kind in ("Deployment", "Service"):
        gone = changes[("web/ghost", kind, "ghost")]
        assert gone["action"] == "removed"
        assert "+++ /dev/null" in gone["diff"]
    added = changes[("web/vanity", "Namespace", "vanity")]
    assert added["action"] == "added" and added["namespace"] is None  # cluster-scoped
    firewall = changes[("web/frontend", "ComputeFirewall", "frontend-external")]
    assert firewall["gce"] is True and firewall["namespace"] is None
    assert firewall["action"] == "changed" and '+    - "443"' in firewall["diff"]
    assert ("tools/job", "ConfigMap", "tools") not in changes  # unchanged objects are not listed
    # Port 443 is a new run of ports: its own forwarding rule.
    assert (
        changes[("web/frontend", "ComputeForwardingRule", "frontend-tcp-443")]["action"] == "added"
    )
    assert report["summary"]["removed"] == 2 and report["summary"]["added"] == 2
    assert report["base"]["commit"] == base and report["head"]["commit"] == head
    assert git(repo, "status", "--porcelain") == ""


def test_reads_the_rendered_branch_when_it_has_the_commit(git_repo, cli):
    repo, base, head = _two_commits(git_repo)
    assert cli("render", repo, "--ref", base).returncode == 0
    rendered = git(repo, "rev-parse", "rendered")
    report = _json(cli, repo, base, head)
    assert report["base"]["renderedCommit"] == rendered
    assert report["head"]["renderedCommit"] is None
    # what the branch says wins: doctor the rendered commit and the diff shows it
    git(repo, "checkout", "-q", "rendered")
    path = repo / "web" / "frontend" / "deployment-frontend.yaml"
    path.write_text(path.read_text().replace("replicas: 1", "replicas: 7"))
    git(repo, "commit", "-q", "-am", f"tweak\n\nSource-Commit: {base}")
    git(repo, "checkout", "-q", "main")
    report = _json(cli, repo, base, head)
    deploy = next(c for c in report["changes"] if c["kind"] == "Deployment")
    assert "-  replicas: 7\n" in deploy["diff"]


def test_no_changes_and_exit_code(git_repo, cli):
    repo = git_repo()
    edit(repo, {"README.md": "docs only\n"})
    commit_all(repo)
    same = cli("diff", "HEAD~1", "HEAD", "--repo", repo, "--exit-code")
    assert same.returncode == 0, same.stderr
    assert "no changes" in same.stdout
    edit(repo, app_files("frontend", replicas=2))
    commit_all(repo)
    differs = cli("diff", "HEAD~1", "HEAD", "--repo", repo, "--exit-code")
    assert differs.returncode == 1
    assert "~ changed Deployment default/frontend" in differs.stdout
    assert "\x1b[" not in differs.stdout  # plain when not a terminal
    assert cli("diff", "HEAD~1", "HEAD", "--repo", repo).returncode == 0


def test_markdown_is_a_pr_comment(git_repo, cli):
    repo, base, head = _two_commits(git_repo)
    result = cli("diff", base, head, "--repo", repo, "-o", "markdown")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    lines = md.splitlines()
    assert lines[0] == "### gitkube diff"
    assert lines[2].startswith(f"`{base[:12]}` → `{head[:12]}`: **")
    assert "6 objects differ in 3 apps" in lines[2]  # summary first
    assert md.index("[!WARNING]") < md.index("<details>")  # GCE called out before details
    assert "changed `ComputeFirewall frontend-external` in `web/frontend`" in md
    assert md.count("<details>") == md.count("</details>") == 3
    assert "<summary><code>web/ghost</code>: 2 removed</summary>" in md
    assert "```diff\n--- a/web/frontend/deployment-frontend.yaml" in md


def test_bad_refs_and_render_errors_name_the_ref(git_repo, cli):
    repo = git_repo()
    missing = cli("diff", "nope", "HEAD", "--repo", repo)
    assert missing.returncode == 1 and '"nope" names no commit' in missing.stderr
    edit(repo, {"web/frontend/service.yaml": "kind: [\n"})
    head = commit_all(repo)
    broken = cli("diff", "HEAD~1", "HEAD", "--repo", repo)
    assert broken.returncode == 1
    assert "web/frontend/service.yaml" in broken.stderr and head[:12] in broken.stderr


def test_markdown_stays_under_the_comment_limit(git_repo, cli):
    from gitkube.cli.present import to_markdown
    from gitkube.render.diff import diff_refs

    files = {}
    for n in range(40):
        files.update(app_files(f"app{n}"))
    repo = git_repo(files)
    for n in range(40):
        edit(repo, app_files(f"app{n}", replicas=5))
    commit_all(repo)
    report = diff_refs(repo, "HEAD~1", "HEAD")
    full = to_markdown(report)
    assert "left out" not in full
    medium = to_markdown(report, limit=12000)
    assert len(medium) < 12000
    assert "diffs left out for size" in medium
    assert medium.count("**changed** `Deployment") == 40  # every change still listed
    small = to_markdown(report, limit=3000)
    assert len(small) < 3000
    assert "more apps with changes not shown" in small
    assert small.index("40 objects differ") < 200  # the summary always comes first
