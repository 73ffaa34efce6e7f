"""gitkube diff names the risks of a change on top, in every format (real git)."""

from __future__ import annotations

import json

from tests.branch.conftest import DEPLOYMENT, app_files, commit_all, edit, git
from tests.conftest import MINIMAL_CONFIG

MINECRAFT = {
    "minecraft/app.yaml": (
        "disks: [{name: minecraft-world, sizeGb: 50, mount: /world}]\n"
        "external: {address: minecraft-ip, ports: [25565]}\n"
    ),
    "minecraft/deployment.yaml": DEPLOYMENT.format(name="minecraft", replicas=1),
    "minecraft/service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: minecraft}\n"
        "spec:\n  selector: {app: minecraft}\n  ports: [{port: 25565}, {port: 25575, name: rcon}]\n"
    ),
}


def _risks(cli, repo, base, head, *extra):
    result = cli("diff", base, head, "--repo", repo, "-o", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["risks"]


def test_a_selector_change_forces_replacement(git_repo, cli):
    repo = git_repo(app_files("frontend"))
    base = git(repo, "rev-parse", "HEAD")
    deployment = app_files("frontend")["web/frontend/deployment.yaml"]
    edit(
        repo,
        {
            "web/frontend/deployment.yaml": deployment.replace(
                "matchLabels: {app: frontend}", "matchLabels: {app: frontend, tier: web}"
            ).replace("labels: {app: frontend}", "labels: {app: frontend, tier: web}")
        },
    )
    head = commit_all(repo)
    (risk,) = [r for r in _risks(cli, repo, base, head) if r["reason"] == "replacement"]
    assert risk["severity"] == "high"
    assert risk["object"] == "Deployment frontend" and risk["app"] == "web/frontend"
    assert "spec.selector" in risk["message"]


def test_removing_an_app_with_a_disk_and_an_address_destroys_data(git_repo, cli):
    repo = git_repo({**app_files("frontend"), **MINECRAFT})
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "-r", "minecraft")
    head = commit_all(repo)
    risks = _risks(cli, repo, base, head)
    lost = {r["object"] for r in risks if r["reason"] == "data-loss"}
    assert {"ComputeDisk minecraft-world", "ComputeAddress minecraft-ip"} <= lost
    assert "PersistentVolumeClaim minecraft-world" in lost
    markdown = cli("diff", base, head, "--repo", repo, "-o", "markdown").stdout
    block = markdown.split("<details>")[0]
    assert "> [!CAUTION]" in block and "**destroys data**" in block
    assert "static IP is released" in block


def test_a_prune_beyond_max_prune_fraction_is_what_sync_would_refuse(git_repo, cli):
    apps = {k: v for i in range(5) for k, v in app_files(f"app{i}").items()}
    repo = git_repo(apps, config=MINIMAL_CONFIG + "sync: {maxPruneFraction: 0.3}\n")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "-r", "web/app0", "web/app1")  # 4 of 10 objects
    head = commit_all(repo)
    (risk,) = [r for r in _risks(cli, repo, base, head) if r["reason"] == "sync-would-refuse"]
    assert "4 of 10 objects" in risk["message"] and "0.3" in risk["message"]


def test_forwarding_ports_nobody_listed_widens_exposure(git_repo, cli):
    repo = git_repo({**app_files("frontend"), **MINECRAFT})
    base = git(repo, "rev-parse", "HEAD")
    edit(
        repo,
        {
            "minecraft/app.yaml": MINECRAFT["minecraft/app.yaml"].replace(
                "ports: [25565]", "ports: [25565, 25575]"
            )
        },
    )
    head = commit_all(repo)
    exposure = [r for r in _risks(cli, repo, base, head) if r["reason"] == "exposure"]
    firewall = [r for r in exposure if r["object"] == "ComputeFirewall minecraft-external"]
    assert firewall and "tcp/25575 from 0.0.0.0/0" in firewall[0]["message"]
    assert firewall[0]["severity"] == "high"
    (forwarded,) = [r for r in exposure if r["object"].startswith("ComputeForwardingRule")]
    assert "9 ports the app does not list (25566-25574)" in forwarded["message"]


def test_render_warnings_of_the_head_are_risks_and_fail_on_risk_exits_3(git_repo, cli):
    repo = git_repo(app_files("frontend"))
    base = git(repo, "rev-parse", "HEAD")
    deployment = app_files("frontend")["web/frontend/deployment.yaml"]
    edit(repo, {"web/frontend/deployment.yaml": deployment.replace('"nginx:1.25"', "nginx")})
    head = commit_all(repo)
    (warning,) = [r for r in _risks(cli, repo, base, head) if r["reason"] == "render-warning"]
    assert warning["severity"] == "warning" and "nginx" in warning["message"]
    assert cli("diff", base, head, "--repo", repo, "--fail-on", "high").returncode == 0
    failed = cli("diff", base, head, "--repo", repo, "--fail-on", "risk")
    assert failed.returncode == 3
    assert "render-warning" in failed.stdout


def test_a_harmless_change_has_no_risks(git_repo, cli):
    repo = git_repo(app_files("frontend"))
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=3))
    head = commit_all(repo)
    assert _risks(cli, repo, base, head) == []
    assert cli("diff", base, head, "--repo", repo, "--fail-on", "risk").returncode == 0
