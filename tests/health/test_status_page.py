"""The agent's status page: /api/status matches gitkube status, / renders in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT, require_tool
from tests.health.conftest import GHOST_DEPLOYMENT
from tests.sync.conftest import CONFIGMAP
from tests.sync.test_agent import AgentProcess, agent_args, pushed_to_a_bare_remote, wait_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,760",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = require_tool("chromium")
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_status_page_shows_apps_health_and_commits(sync_repo, tmp_path, monkeypatch, cli):
    repo = sync_repo(
        {
            "web/frontend/config.yaml": CONFIGMAP.format(name="frontend", value="v1"),
            "web/ghost/deploy.yaml": GHOST_DEPLOYMENT,
        }
    )
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    agent = AgentProcess(agent_args(repo, bare, "status-page"), tmp_path / "agent.log")
    try:
        document = wait_for(
            lambda: (d := json.loads(agent.get("/api/status")[1]))["lastRun"] and d,
            "the agent's first run on its status page",
        )
        run = document["lastRun"]
        status = cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
        (mine,) = [s for s in json.loads(status.stdout) if s["name"].endswith(repo.cluster)]
        assert run["renderedCommit"] == mine["rendered_commit"]
        assert run["sourceCommit"] == mine["source_commit"]
        states = {a["app"]: a["state"] for a in run["apps"]}
        assert states == {"web/frontend": "Healthy", "web/ghost": "Progressing"}
        assert set(mine["health"]["problems"]) == {"web/ghost"}
        assert {(c["kind"], c["action"]) for c in run["changes"]} == {
            ("ConfigMap", "create"),
            ("Deployment", "create"),
        }

        _, page = agent.get("/")
        assert "<script" not in page and "<form" not in page  # read-only, no JavaScript

        dom = chromium(tmp_path, "--dump-dom", agent.url + "/")
        assert dom.returncode == 0, dom.stderr[-2000:]
        for text in (
            "web/frontend",
            "web/ghost",
            "Progressing",
            "Healthy",
            run["renderedCommit"][:12],
        ):
            assert text in dom.stdout, text
        shot = tmp_path / "status-page.png"
        taken = chromium(tmp_path, f"--screenshot={shot}", agent.url + "/")
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("GITKUBE_UPDATE_DOCS_SCREENSHOT"):
            shutil.copy(shot, REPO_ROOT / "docs" / "status-page.png")
    finally:
        assert agent.stop() == 0
