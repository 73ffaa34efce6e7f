"""Values that YAML readers disagree on reach the cluster exactly as written (real API server)."""

from __future__ import annotations

from tests.sync.conftest import RECORD_KEYS, kubectl_diff_rendered

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

    result, changed = kubectl_diff_rendered(
        repo, controlplane.kubeconfig, tmp_path / "rendered", "web/tricky/configmap-tricky.yaml"
    )
    assert result.returncode in (0, 1), result.stderr
    # kubectl reads every value of the rendered file as the cluster holds it:
    # the only lines that may differ are gitkube's record (added at apply time).
    assert all(line.startswith((*RECORD_KEYS, "annotations:")) for line in changed), result.stdout
