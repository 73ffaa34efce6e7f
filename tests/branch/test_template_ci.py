"""The repo-template's CI workflow: diff on pull requests, render + push on the default branch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / "repo-template" / ".github" / "workflows" / "gitkube.yaml"


def _steps(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_diffs_pull_requests_and_pushes_renders():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert "pull_request" in triggers and "push" in triggers
    diff, render = workflow["jobs"]["diff"], workflow["jobs"]["render"]
    assert "pull_request" in diff["if"] and "push" in render["if"]
    for job in (diff, render):
        assert 'pip install "$GITKUBE_PIP"' in _steps(job)
        assert "gitkube plugins --required" in _steps(job)
    assert workflow["env"]["GITKUBE_PIP"] == "${{ vars.GITKUBE_PIP }}"
    assert "gitkube diff" in _steps(diff) and "-o markdown" in _steps(diff)
    assert "gh pr comment" in _steps(diff)
    assert "gitkube render" in _steps(render) and "--push origin" in _steps(render)
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}


INSTALL_STEP = "Install gitkube and the plugins gitkube.yaml requires"


def _install_script(job: str) -> str:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (step,) = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == INSTALL_STEP]
    return step["run"]


@pytest.mark.parametrize("job", ["diff", "render"])
def test_install_step_installs_gitkube_then_the_required_plugins(job, cli, tmp_path):
    """The step's script, run by bash with a recording `pip` and the real gitkube."""
    repo = tmp_path / "cfg"
    assert cli("init", repo).returncode == 0
    config = (repo / "gitkube.yaml").read_text()
    (repo / "gitkube.yaml").write_text(
        config.replace("  require: []", '  require: ["gitkube-hpa>=1.0,<2", "other-plugin"]')
    )
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "pip.log"
    pip = shims / "pip"
    pip.write_text(
        f'#!/bin/sh\necho "pip $*" >> {log}\n'
        f'if [ "$1 $2" = "install -r" ]; then cat "$3" >> {log}; fi\n'
    )
    pip.chmod(0o755)
    env = {
        "PATH": f"{shims}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path),
        "HOME": str(tmp_path),
    }
    script = _install_script(job)
    unset = subprocess.run(
        ["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True, text=True
    )
    assert unset.returncode == 1
    assert "set the repository variable GITKUBE_PIP" in unset.stdout
    assert not log.exists()

    env["GITKUBE_PIP"] = "gitkube @ https://example.com/gitkube-0.1.0-py3-none-any.whl"
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "pip install gitkube @ https://example.com/gitkube-0.1.0-py3-none-any.whl",
        f"pip install -r {tmp_path}/gitkube-plugins.txt",
        "gitkube-hpa<2,>=1.0",
        "other-plugin",
    ]
