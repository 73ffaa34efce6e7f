"""gitkube sync against the real kube-apiserver: create, no-op, drift, prune, ownership."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from tests.conftest import require_tool
from tests.sync.conftest import (
    CONFIGMAP,
    DEPLOYMENT,
    RECORD_KEYS,
    git,
    kubectl_diff_rendered,
    record_requests,
)


def app_files(name: str) -> dict[str, str]:
    return {
        f"apps/{name}/deploy.yaml": DEPLOYMENT.format(name=name),
        f"apps/{name}/config.yaml": CONFIGMAP.format(name=f"{name}-conf", value="v1"),
    }


def get(kube: KubeApi, path: str) -> dict | None:
    try:
        return kube.request("GET", path)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise


def test_first_sync_creates_second_is_a_noop(sync_repo, kube):
    repo = sync_repo({**app_files("web"), **app_files("api")})
    rendered = git(repo.path, "rev-parse", "refs/heads/rendered")
    first = repo.sync_json()
    assert (first["created"], first["updated"], first["deleted"]) == (6, 0, 0)
    assert first["commit"] == rendered
    deployment = kube.request("GET", f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web")
    assert deployment["metadata"]["labels"]["app"] == "web"
    managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
    assert managers == {"gitkube"}
    second = repo.sync_json()
    assert second["changes"] == [], [(c["name"], c["fields"]) for c in second["changes"]]
    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 0)
    assert second["unchanged"] == 6


def test_noop_sync_makes_no_writes_and_one_list_per_kind(sync_repo, monkeypatch):
    repo = sync_repo({**app_files("web"), **app_files("api")})
    repo.sync_json()
    calls = record_requests(monkeypatch)
    assert repo.sync_json()["unchanged"] == 6
    writes = [c for c in calls if c[0] != "GET"]
    assert writes == []
    lists = [
        p
        for m, p, _query in calls
        if m == "GET" and p.count("/") <= 4 and not p.endswith(("/api", "/apis"))
    ]
    # Deployment, Service, ConfigMap and the Namespaces they go in: one LIST each;
    # plus discovery (2) and the parent (1).
    assert sorted(lists) == sorted({p for p in lists}), calls
    assert len(calls) <= 4 + 3, calls


def test_kubectl_diff_shows_only_the_record_after_sync(sync_repo, controlplane, tmp_path):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    result, changed = kubectl_diff_rendered(repo, controlplane.kubeconfig, tmp_path / "rendered")
    # The only difference: gitkube's record of what it applied, which the
    # rendered files do not carry (it is added in the same apply as the object),
    # and the generation a Deployment's metadata change would bump.
    assert changed, result.stdout
    for text in changed:
        assert text.startswith((*RECORD_KEYS, "annotations:", "generation:")), result.stdout
    assert result.returncode in (0, 1), result.stderr


def test_kubectl_sees_the_applyset(sync_repo, controlplane):
    kubectl = require_tool("kubectl")
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    parent = json.loads(
        subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(controlplane.kubeconfig),
                "get",
                "configmap",
                "-n",
                "gitkube-system",
                f"gitkube-{repo.cluster}",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    applyset_id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
    kinds = set(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"].split(",")
    )
    assert kinds == {"ConfigMap", "Deployment.apps", "Service"}
    members = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(controlplane.kubeconfig),
            "get",
            "deploy,svc,cm",
            "-n",
            repo.namespace,
            "-l",
            f"applyset.kubernetes.io/part-of={applyset_id}",
            "-o",
            "name",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(members) == sorted(["deployment.apps/web", "service/web", "configmap/web-conf"])


def test_removed_field_is_drift_planned_with_its_field_and_healed(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    path = f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf"
    kube.request(
        "PATCH", path, body={"data": {"key": None}}, content_type="application/merge-patch+json"
    )
    plan = repo.plan_json()
    (change,) = plan["changes"]
    assert change["action"] == "update" and change["name"] == "web-conf"
    assert change["fields"] == ["data"]
    assert change["blocked"] is None
    assert repo.sync_json()["updated"] == 1
    assert kube.request("GET", path)["data"]["key"] == "v1"


def test_deleted_object_is_recreated(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    path = f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web"
    kube.request("DELETE", path)
    result = repo.sync_json()
    assert (result["created"], result["updated"]) == (1, 0)
    assert get(kube, path) is not None


def test_field_changed_by_another_manager_is_a_reported_conflict(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    path = f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf"
    kube.request(
        "PATCH",
        path,
        query={"fieldManager": "kubectl-edit"},
        body={"data": {"key": "hand-edited"}},
        content_type="application/merge-patch+json",
    )
    (change,) = repo.plan_json()["changes"]
    assert change["blocked"] and "kubectl-edit" in change["blocked"]
    assert "--force-conflicts" in change["blocked"]
    refused = repo.sync()
    assert refused.returncode == 1
    assert kube.request("GET", path)["data"]["key"] == "hand-edited"
    assert repo.sync_json("--force-conflicts")["updated"] == 1
    assert kube.request("GET", path)["data"]["key"] == "v1"


def test_other_managers_fields_are_not_drift(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    path = f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf"
    kube.request(
        "PATCH",
        path,
        body={"metadata": {"annotations": {"someone.else/note": "hi"}}},
        content_type="application/merge-patch+json",
    )
    result = repo.sync_json()
    assert (result["created"], result["updated"], result["deleted"]) == (0, 0, 0)
    assert kube.request("GET", path)["metadata"]["annotations"]["someone.else/note"] == "hi"


def test_removed_app_is_pruned_unowned_lookalike_is_kept(sync_repo, kube):
    repo = sync_repo(
        {**app_files("web"), **app_files("api"), **app_files("db"), **app_files("cache")}
    )
    repo.sync_json()
    # An object with the same labels that gitkube did not create.
    kube.request(
        "POST",
        f"/api/v1/namespaces/{repo.namespace}/configmaps",
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "api-handmade",
                "labels": {"app": "api", "app.kubernetes.io/managed-by": "gitkube"},
            },
        },
    )
    repo.remove("apps/api")
    repo.commit_and_render("drop api")
    result = repo.sync_json()
    assert result["deleted"] == 3
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/api") is None
    assert get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/api-handmade") is not None
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web") is not None


def test_mass_prune_is_refused_with_exit_2(sync_repo, kube):
    repo = sync_repo({**app_files("web"), **app_files("api")})
    repo.sync_json()
    repo.remove("apps/api")
    repo.commit_and_render("drop half")
    result = repo.sync()
    assert result.returncode == 2
    assert "maxPruneFraction" in result.stderr and "--allow-mass-prune" in result.stderr
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/api") is not None
    allowed = repo.sync_json("--allow-mass-prune")
    assert allowed["deleted"] == 3


def test_empty_rendered_commit_is_refused(sync_repo):
    repo = sync_repo(app_files("web"))
    repo.sync_json()
    repo.remove("apps")
    repo.commit_and_render("empty")
    result = repo.sync()
    assert result.returncode == 2 and "no objects" in result.stderr


def test_unowned_object_in_the_way_is_reported_not_taken(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    path = f"/api/v1/namespaces/{repo.namespace}/configmaps"
    kube.request(
        "POST",
        path,
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-conf"},
            "data": {"key": "theirs"},
        },
    )
    result = repo.sync()
    assert result.returncode == 1
    assert "web-conf" in result.stderr and "--adopt" in result.stderr
    # Nothing at all was written: not even the objects that were free.
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web") is None
    assert kube.request("GET", f"{path}/web-conf")["data"]["key"] == "theirs"
    adopted = repo.sync_json("--adopt")
    assert adopted["created"] == 2 and adopted["updated"] == 1
    assert kube.request("GET", f"{path}/web-conf")["data"]["key"] == "v1"


def test_immutable_field_is_a_blocked_replace_unless_allowed(sync_repo, kube):
    job = """\
apiVersion: batch/v1
kind: Job
metadata: {{name: migrate}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: m, image: "busybox:{tag}", command: ["true"]}}]
"""
    repo = sync_repo({"apps/jobs/job.yaml": job.format(tag="1.36")})
    repo.sync_json()
    repo.write({"apps/jobs/job.yaml": job.format(tag="1.37")})
    repo.commit_and_render("new job image")
    plan = repo.plan_json()
    (change,) = plan["changes"]
    assert change["action"] == "replace" and change["blocked"]
    assert "--allow-replace" in change["blocked"]
    refused = repo.sync()
    assert refused.returncode == 1
    live = kube.request("GET", f"/apis/batch/v1/namespaces/{repo.namespace}/jobs/migrate")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    replaced = repo.sync_json("--allow-replace")
    assert replaced["updated"] == 1
    live = kube.request("GET", f"/apis/batch/v1/namespaces/{repo.namespace}/jobs/migrate")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_tampered_rendered_commit_is_refused_whole(sync_repo, kube):
    repo = sync_repo(app_files("web"))
    # Edit one rendered file behind gitkube's back, committed on the branch.
    worktree = repo.path.parent / "tamper"
    git(repo.path, "worktree", "add", "-q", str(worktree), "rendered")
    target = worktree / "apps/web/configmap-web-conf.yaml"
    target.write_text(target.read_text().replace("v1", "evil"))
    git(worktree, "commit", "-q", "-am", "tamper")
    result = repo.sync()
    assert result.returncode == 1
    assert "inventory" in result.stderr and "configmap-web-conf.yaml" in result.stderr
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web") is None


def test_status_reports_the_last_sync(sync_repo):
    repo = sync_repo(app_files("web"))
    rendered = git(repo.path, "rev-parse", "refs/heads/rendered")
    source = git(repo.path, "rev-parse", "HEAD")
    repo.sync_json()
    result = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    assert result.returncode == 0, result.stderr
    (mine,) = [s for s in json.loads(result.stdout) if s["name"] == f"gitkube-{repo.cluster}"]
    assert mine["rendered_commit"] == rendered
    assert mine["source_commit"] == source
    assert mine["result"] == "synced"
    assert mine["objects"] == 3


def _summary_events(kube: KubeApi, cluster: str) -> list[str]:
    events = kube.request("GET", "/api/v1/namespaces/gitkube-system/events")["items"]
    return sorted(
        e["message"]
        for e in events
        if e["involvedObject"]["name"] == f"gitkube-{cluster}" and e["reason"] == "Synced"
    )


def test_one_summary_event_per_app_per_run(sync_repo, kube):
    repo = sync_repo({**app_files("web"), **app_files("api")})
    first = git(repo.path, "rev-parse", "refs/heads/rendered")
    repo.sync_json()
    assert _summary_events(kube, repo.cluster) == [
        f"app apps/api: 3 created from {first}",
        f"app apps/web: 3 created from {first}",
    ]
    # No Event per object any more: they were a third of a first sync's requests.
    in_namespace = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/events")["items"]
    assert [e for e in in_namespace if e["source"].get("component") == "gitkube"] == []

    repo.write({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
    repo.remove("apps/api")
    second = repo.commit_and_render()
    repo.sync_json("--allow-mass-prune")
    assert _summary_events(kube, repo.cluster) == sorted(
        [
            f"app apps/api: 3 created from {first}",
            f"app apps/web: 3 created from {first}",
            f"app apps/api: 3 deleted from {second}",
            f"app apps/web: 1 updated from {second}",
        ]
    )
    repo.sync_json()  # a no-op run posts nothing
    assert len(_summary_events(kube, repo.cluster)) == 4


@pytest.mark.parametrize("flag", ["--dry-run"])
def test_dry_run_writes_nothing(sync_repo, kube, flag):
    repo = sync_repo(app_files("web"))
    result = repo.sync_json(flag)
    assert result["created"] == 3 and result["applied"] is False
    assert get(kube, f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web") is None


def test_plan_shows_what_sync_would_refuse(sync_repo):
    repo = sync_repo({**app_files("web"), **app_files("api")})
    repo.sync_json()
    repo.remove("apps/api")
    repo.commit_and_render("drop half")
    plan = repo.plan_json()
    assert len([c for c in plan["changes"] if c["action"] == "delete"]) == 3
    assert "maxPruneFraction" in plan["refused"]
    text = repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig)
    assert text.returncode == 0 and "sync would refuse this plan" in text.stdout
