"""The repo-template's CI workflow: diff on pull requests, render + push on the default branch."""

from __future__ import annotations

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
    assert "pip install gitkube" in _steps(diff) and "pip install gitkube" in _steps(render)
    assert "gitkube diff" in _steps(diff) and "-o markdown" in _steps(diff)
    assert "gh pr comment" in _steps(diff)
    assert "gitkube render" in _steps(render) and "--push origin" in _steps(render)
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
