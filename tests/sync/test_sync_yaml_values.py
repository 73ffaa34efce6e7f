"""Values that YAML readers disagree on reach the cluster exactly as written (real API server)."""

from __future__ import annotations

import subprocess

from tests.conftest import require_tool
from tests.sync.conftest import git

TRICKY_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: tricky}
data:
  smile: "😀\\t"
  zip: "02139"
  flag: "y"
  version: "1e3"
  mode: "0o755"
  time: "12:30"
  date: 2026-01-01
  separator: "a\\u2028b"
  marker: "--- a"
  equals: =
"""
EXPECTED = {
    "smile": "😀\t",
    "zip": "02139",
    "flag": "y",
    "version": "1e3",
    "mode": "0o755",
    "time": "12:30",
    "date": "2026-01-01",
    "separator": "a\u2028b",
    "marker": "--- a",
    "equals": "=",
}


def test_tricky_strings_sync_exactly_and_then_nothing_changes(
    sync_repo, kube, controlplane, tmp_path
):
    repo = sync_repo({"web/tricky/config.yaml": TRICKY_CONFIGMAP})
    first = repo.sync_json()
    assert first["created"] == 1
    live = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/tricky")
    assert live["data"] == EXPECTED
    assert repo.sync_json()["changes"] == []

    kubectl = require_tool("kubectl")
    out = tmp_path / "rendered"
    git(repo.path, "worktree", "add", "-q", "--detach", str(out), "refs/heads/rendered")
    result = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(controlplane.kubeconfig),
            "diff",
            "--server-side",
            "--field-manager=gitkube",
            "-f",
            str(out / "web/tricky/configmap-tricky.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr
    # kubectl reads every value of the rendered file as the cluster holds it:
    # the only lines that may differ are gitkube's record (added at apply time).
    changed = [
        line[1:].strip()
        for line in result.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    record = ("gitkube.dev/app:", "gitkube.dev/content-hash:", "gitkube.dev/source:")
    assert all(line.startswith((*record, "annotations:")) for line in changed), result.stdout
