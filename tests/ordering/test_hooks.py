"""Hook Jobs against the real API server; the tests play the Job controller.

No controller runs in the test control plane: a hook Job finishes when the
test writes its status (Complete or Failed), as the Job controller would.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.testing.controllers import job_failed_status, job_succeeded_status
from tests.sync.conftest import CONFIGMAP, git

MIGRATION = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {{gitkube.dev/hook: {point}{extra}}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {{name: migrate, image: "ghost:5.0", command: [node, migrate.js]}}
"""


def migration(point: str = "pre-sync", delete: str | None = None) -> str:
    extra = f", gitkube.dev/hook-delete: {delete}" if delete else ""
    return MIGRATION.format(point=point, extra=extra)


class JobController:
    """Finishes the Job ``name`` once it exists (``Complete`` or ``Failed``) and
    remembers the resourceVersion of that status write."""

    def __init__(self, kube: KubeApi, namespace: str, name: str, *, succeed: bool = True):
        self.kube = kube
        self.path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
        self.succeed = succeed
        self.finished_version: int | None = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for _ in range(600):
            try:
                live = self.kube.request("GET", self.path)
            except KubeApiError:
                time.sleep(0.05)
                continue
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            status = job_succeeded_status(now) if self.succeed else job_failed_status(now)
            try:
                written = self.kube.request(
                    "PUT",
                    f"{self.path}/status",
                    body={**live, "status": status},
                )
            except KubeApiError as exc:
                self.error = exc
                return
            self.finished_version = int(written["metadata"]["resourceVersion"])
            return


def configmap_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def get(kube: KubeApi, path: str) -> dict | None:
    try:
        return kube.request("GET", path)
    except KubeApiError as exc:
        assert exc.status == 404
        return None


def jobs(kube: KubeApi, namespace: str) -> list[str]:
    listed = kube.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs")
    return sorted(item["metadata"]["name"] for item in listed["items"])


def test_a_pre_sync_hook_runs_before_its_app_and_is_deleted_on_success(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/migrate.yaml": migration(),
        }
    )
    commit = git(repo.path, "rev-parse", "refs/heads/rendered")
    controller = JobController(kube, repo.namespace, f"migrate-{commit[:8]}")
    result = repo.sync_json("--timeout", "60s")
    controller.thread.join(timeout=30)
    assert controller.error is None and controller.finished_version is not None
    app_object = get(kube, configmap_path(repo.namespace, "ghost"))
    assert app_object is not None
    assert int(app_object["metadata"]["resourceVersion"]) > controller.finished_version
    (hook,) = result["hooks"]
    assert hook["hook"] == "pre-sync" and hook["result"] == "Succeeded"
    assert hook["name"] == f"migrate-{commit[:8]}" and hook["app"] == "web/ghost"
    # on-success (the default): nothing is left behind.
    assert jobs(kube, repo.namespace) == []


def test_re_running_a_sync_with_nothing_changed_runs_no_hook(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/migrate.yaml": migration(delete="on-success"),
        }
    )
    commit = git(repo.path, "rev-parse", "refs/heads/rendered")
    JobController(kube, repo.namespace, f"migrate-{commit[:8]}")
    assert repo.sync_json("--timeout", "60s")["hooks"][0]["result"] == "Succeeded"
    plan = repo.plan_json()
    assert "hooks" not in plan
    again = repo.sync_json("--timeout", "5s")
    assert "hooks" not in again and again["created"] == 0
    assert jobs(kube, repo.namespace) == []


def test_a_failing_pre_sync_hook_applies_nothing_of_its_app_and_prunes_nothing(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/old.yaml": CONFIGMAP.format(name="old", value="v1"),
        }
    )
    assert repo.sync().returncode == 0
    repo.remove("web/ghost/old.yaml")
    repo.write(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v2"),
            "web/ghost/migrate.yaml": migration(),
        }
    )
    commit = repo.commit_and_render("migrate, then v2")
    controller = JobController(kube, repo.namespace, f"migrate-{commit[:8]}", succeed=False)
    result = repo.sync("--timeout", "60s", "--allow-mass-prune")
    controller.thread.join(timeout=30)
    assert controller.error is None
    assert result.returncode != 0
    assert "pre-sync hook Job migrate-" in result.stderr
    assert "BackoffLimitExceeded" in result.stderr
    ghost = get(kube, configmap_path(repo.namespace, "ghost"))
    assert ghost is not None and ghost["data"] == {"key": "v1"}
    assert get(kube, configmap_path(repo.namespace, "old")) is not None
    # A failed run is left behind for its logs (on-success deletes successes only).
    assert jobs(kube, repo.namespace) == [f"migrate-{commit[:8]}"]
    # The next sync of the same commit runs the hook afresh; this time it succeeds.
    failed_uid = kube.request(
        "GET", f"/apis/batch/v1/namespaces/{repo.namespace}/jobs/migrate-{commit[:8]}"
    )["metadata"]["uid"]
    retry = RetryController(kube, repo.namespace, f"migrate-{commit[:8]}", failed_uid)
    again = repo.sync_json("--timeout", "60s", "--allow-mass-prune")
    retry.thread.join(timeout=30)
    assert [h["result"] for h in again["hooks"]] == ["Succeeded"]
    assert get(kube, configmap_path(repo.namespace, "ghost"))["data"] == {"key": "v2"}
    assert get(kube, configmap_path(repo.namespace, "old")) is None
    assert jobs(kube, repo.namespace) == []


class RetryController(JobController):
    """Finishes the Job once a new one (another uid) replaced ``old_uid``."""

    def __init__(self, kube: KubeApi, namespace: str, name: str, old_uid: str):
        self.old_uid = old_uid
        super().__init__(kube, namespace, name)

    def _run(self) -> None:
        for _ in range(600):
            try:
                live = self.kube.request("GET", self.path)
            except KubeApiError:
                live = None
            if live is not None and live["metadata"]["uid"] != self.old_uid:
                break
            time.sleep(0.05)
        super()._run()


def test_a_hook_that_never_finishes_is_reported_as_timed_out(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/migrate.yaml": migration(),
        }
    )
    result = repo.cli(
        "sync", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "--wait", "--timeout", "2s"
    )
    assert result.returncode != 0
    assert "timed out: did not finish within 2s" in result.stderr
    assert get(kube, configmap_path(repo.namespace, "ghost")) is None


def test_a_post_sync_hook_runs_after_its_app_and_never_is_kept(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/migrate.yaml": migration("post-sync", delete="never"),
        }
    )
    commit = git(repo.path, "rev-parse", "refs/heads/rendered")
    name = f"migrate-{commit[:8]}"
    controller = JobController(kube, repo.namespace, name)
    plan = json.loads(
        repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "-o", "json").stdout
    )
    assert [(h["hook"], h["result"]) for h in plan["hooks"]] == [("post-sync", "Planned")]
    repo.sync_json("--timeout", "60s")
    controller.thread.join(timeout=30)
    ghost = get(kube, configmap_path(repo.namespace, "ghost"))
    job = get(kube, f"/apis/batch/v1/namespaces/{repo.namespace}/jobs/{name}")
    assert ghost is not None and job is not None
    assert int(ghost["metadata"]["resourceVersion"]) < (controller.finished_version or 0)
    # Kept (never), and not pruned by the next sync of another commit.
    repo.write({"web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v2")})
    new_commit = repo.commit_and_render("v2")
    JobController(kube, repo.namespace, f"migrate-{new_commit[:8]}")
    repo.sync_json("--timeout", "60s")
    assert jobs(kube, repo.namespace) == sorted([name, f"migrate-{new_commit[:8]}"])


def test_status_and_the_status_page_show_the_last_run_of_each_hook(sync_repo, kube):
    repo = sync_repo(
        {
            "web/ghost/cm.yaml": CONFIGMAP.format(name="ghost", value="v1"),
            "web/ghost/migrate.yaml": migration(),
        }
    )
    commit = git(repo.path, "rev-parse", "refs/heads/rendered")
    JobController(kube, repo.namespace, f"migrate-{commit[:8]}")
    repo.sync_json("--timeout", "60s")
    as_json = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine,) = [s for s in json.loads(as_json.stdout) if s["name"].endswith(repo.cluster)]
    (run,) = mine["hooks"].values()
    assert list(mine["hooks"]) == ["web/ghost pre-sync migrate"]
    assert run["name"] == f"migrate-{commit[:8]}" and run["result"] == "Succeeded"
    assert isinstance(run["seconds"], float)
    text = repo.cli("status", "--kubeconfig", repo.kubeconfig).stdout
    assert f"hook web/ghost pre-sync migrate: migrate-{commit[:8]} Succeeded in" in text
    # A later sync that runs no hook keeps the record of the last run.
    repo.sync_json()
    again = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine_again,) = [s for s in json.loads(again.stdout) if s["name"].endswith(repo.cluster)]
    assert mine_again["hooks"] == mine["hooks"]


def test_the_status_page_lists_the_hooks_of_the_last_run():
    from gitkube.domain.targets import SyncResult
    from gitkube.sync.status_page import AgentStatus, render_page

    status = AgentStatus("agent-1")
    result = SyncResult("c" * 40, "s" * 40, [], applied=True)
    result.hooks = [
        {
            "app": "web/ghost",
            "hook": "pre-sync",
            "name": "migrate-cccccccc",
            "of": "migrate",
            "file": "web/ghost/migrate.yaml",
            "result": "Failed",
            "message": "BackoffLimitExceeded",
            "seconds": 4.2,
        }
    ]
    status.record_run(result)
    page = render_page(status.document())
    assert "<h2>Hooks (last run)</h2>" in page
    assert "migrate-cccccccc" in page and "BackoffLimitExceeded" in page and "4.2s" in page
