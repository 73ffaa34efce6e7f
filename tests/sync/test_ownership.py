"""Ownership against the real kube-apiserver: any valid name, any count, nothing applied unknown.

The record of what gitkube applied lives on each member (annotations sent in
the same server-side apply); the ApplySet parent lists only group-kinds,
namespaces and the last run's status.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from gitkube.domain.keys import (
    APPLYSET_ID_LABEL,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    PART_OF_LABEL,
    RECORD_APP_ANNOTATION,
    RECORD_HASH_ANNOTATION,
    RECORD_SOURCE_ANNOTATION,
    TOOLING_ANNOTATION,
)
from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.sync.desired import load_desired
from gitkube.sync.source import open_source
from tests.sync.conftest import CONFIGMAP, DEPLOYMENT, record_requests

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def get(kube: KubeApi, path: str) -> dict | None:
    try:
        return kube.request("GET", path)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise


def parent_of(kube: KubeApi, cluster: str) -> dict:
    return kube.request("GET", f"/api/v1/namespaces/gitkube-system/configmaps/gitkube-{cluster}")


def writes(calls: list[tuple[str, str, dict]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p, q in calls if m != "GET" and "dryRun" not in q]


# -- 1. any name the API server accepts --------------------------------------


def odd_names_app(namespace: str, tag: str) -> tuple[dict[str, str], dict[str, str]]:
    """Objects of several kinds and groups (core, RBAC, a custom resource whose CRD
    comes in the same commit) whose names use every character class their kind
    allows, one of the longest length (253). Returns files and paths."""
    long_name = ("n" * 61 + ".") * 3 + "x" * (253 - 62 * 3)
    assert len(long_name) == 253
    role = f"system:gitkube-{tag}:reader"
    odd = f"gitkube-{tag} odd:name?#~@é"  # path-segment names: anything but '/', '%', '.', '..'
    widget = f"w.{tag}.with-dots.{'d' * 60}"
    files = {
        "apps/odd/rbac.yaml": f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{role}"}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{odd}"}}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: "{role}"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "{role}"}}
subjects: [{{kind: User, name: "system:gitkube:{tag}"}}]
""",
        "apps/odd/widget.yaml": f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{tag}.gitkube.test}}
spec:
  group: {tag}.gitkube.test
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
---
apiVersion: {tag}.gitkube.test/v1
kind: Widget
metadata: {{name: "{widget}"}}  # custom resources: DNS-1123 subdomains
spec: {{size: 3}}
""",
        "apps/odd/config.yaml": CONFIGMAP.format(name="conf.with.dots-and-1.2.3", value="a")
        + "---\n"
        + CONFIGMAP.format(name=long_name, value="b"),
    }
    paths = {
        "role": f"{RBAC}/clusterroles/{role}",
        "odd": f"{RBAC}/clusterroles/{quote(odd)}",
        "binding": f"{RBAC}/namespaces/{namespace}/rolebindings/{role}",
        "dots": f"/api/v1/namespaces/{namespace}/configmaps/conf.with.dots-and-1.2.3",
        "long": f"/api/v1/namespaces/{namespace}/configmaps/{long_name}",
        "widget": f"/apis/{tag}.gitkube.test/v1/namespaces/{namespace}/widgets/{widget}",
    }
    return files, paths


def test_objects_of_every_valid_name_sync_resync_without_writes_and_prune(
    sync_repo, kube, monkeypatch
):
    tag = uuid.uuid4().hex[:6]
    repo = sync_repo({"apps/keep/config.yaml": CONFIGMAP.format(name="keep", value="k")})
    files, paths = odd_names_app(repo.namespace, tag)
    repo.write(files)
    repo.commit_and_render("odd names")

    first = repo.sync_json()
    assert (first["created"], first["updated"], first["deleted"]) == (8, 0, 0)
    for what, path in paths.items():
        live = get(kube, path)
        assert live is not None, what
        annotations = live["metadata"]["annotations"]
        assert annotations[RECORD_APP_ANNOTATION] == "apps/odd", what
        assert annotations[RECORD_SOURCE_ANNOTATION].startswith("apps/odd/"), what
        assert len(annotations[RECORD_HASH_ANNOTATION]) == 64, what
    parent = parent_of(kube, repo.cluster)
    assert "data" not in parent  # no key derived from any name
    assert set(parent["metadata"]["annotations"][CONTAINS_GROUP_KINDS_ANNOTATION].split(",")) == {
        "ConfigMap",
        "ClusterRole.rbac.authorization.k8s.io",
        "RoleBinding.rbac.authorization.k8s.io",
        "CustomResourceDefinition.apiextensions.k8s.io",
        f"Widget.{tag}.gitkube.test",
    }

    calls = record_requests(monkeypatch)
    again = repo.sync_json()
    assert (again["created"], again["updated"], again["deleted"], again["unchanged"]) == (
        0,
        0,
        0,
        8,
    )
    assert writes(calls) == []
    monkeypatch.undo()

    repo.remove("apps/odd")
    repo.commit_and_render("drop odd names")
    pruned = repo.sync_json("--allow-mass-prune")
    assert pruned["deleted"] == 7
    for what, path in paths.items():
        assert get(kube, path) is None, what
    assert get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/keep") is not None


# -- 2. no limit below the scale goal -----------------------------------------


def test_the_parent_does_not_grow_with_the_members(sync_repo, kube):
    few = {f"apps/a/c{i}.yaml": CONFIGMAP.format(name=f"c{i}", value=f"v{i}") for i in range(2)}
    repo = sync_repo(few)
    repo.sync_json()
    small = len(json.dumps(parent_of(kube, repo.cluster)))
    many = {f"apps/a/c{i}.yaml": CONFIGMAP.format(name=f"c{i}", value=f"v{i}") for i in range(150)}
    repo.write(many)
    repo.commit_and_render("many")
    assert repo.sync_json()["created"] == 148
    parent = parent_of(kube, repo.cluster)
    # The same keys: only digits (the member count, resourceVersion) may differ.
    assert abs(len(json.dumps(parent)) - small) < 20, (small, len(json.dumps(parent)))
    assert parent["metadata"]["annotations"]["status.gitkube.dev/objects"] == "150"


# -- 3. nothing applied is ever unknown ---------------------------------------

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{port: 80}}]
"""

ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}}}
rules: []
"""


def grant_everything_but_writing_services(kube: KubeApi, user: str) -> None:
    """``user`` may read anything and write what a sync writes, except Services."""
    name = f"gitkube-test-{uuid.uuid4().hex[:8]}"
    kube.request(
        "POST",
        f"{RBAC}/clusterroles",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                {
                    "apiGroups": ["", "apps", "rbac.authorization.k8s.io"],
                    "resources": ["configmaps", "events", "deployments", "roles", "namespaces"],
                    "verbs": ["create", "patch", "update", "delete"],
                },
            ],
        },
    )
    kube.request(
        "POST",
        f"{RBAC}/clusterrolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "User", "name": user}],
        },
    )


def fail_applying(monkeypatch, name: str, message: str) -> None:
    """The real apply (not a dry-run) of the object called ``name`` fails, as a lost etcd would."""
    original = KubeApi.apply

    def apply(self, path, obj, **kwargs):
        if not kwargs.get("dry_run") and obj["metadata"]["name"] == name:
            raise KubeApiError(
                f"PATCH {path}: {message}",
                status=500,
                reason="InternalError",
                body={"message": message},
            )
        return original(self, path, obj, **kwargs)

    monkeypatch.setattr(KubeApi, "apply", apply)


def test_a_run_that_fails_midway_records_what_it_applied_and_prunes_nothing(
    sync_repo, kube, controlplane, monkeypatch
):
    repo = sync_repo(
        {
            "apps/web/deploy.yaml": DEPLOYMENT.format(name="web"),
            "apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1"),
            "apps/old/config.yaml": CONFIGMAP.format(name="old-conf", value="v1"),
        }
    )
    assert repo.sync_json()["created"] == 4
    # The next commit drops app old and adds app new (a Role: a group-kind the
    # parent does not list yet).
    repo.remove("apps/old")
    repo.write(
        {
            "apps/new/role.yaml": ROLE.format(name="new-reader"),
            "apps/new/config.yaml": CONFIGMAP.format(name="new-conf", value="v1"),
            "apps/new/deploy.yaml": DEPLOYMENT.format(name="new"),
        }
    )
    repo.commit_and_render("drop old, add new")
    ns = f"/api/v1/namespaces/{repo.namespace}"
    role_path = f"{RBAC}/namespaces/{repo.namespace}/roles/new-reader"

    # A user who may not write Services is refused before any write.
    user = f"limited-{uuid.uuid4().hex[:6]}"
    grant_everything_but_writing_services(kube, user)
    limited = controlplane.user_kubeconfig(user)
    refused = repo.cli("sync", "--repo", repo.path, "--kubeconfig", limited, "-o", "json")
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "nothing was changed" in line and f"Service {repo.namespace}/new" in line, line
    assert "forbidden" in line, line
    assert get(kube, role_path) is None

    # A write that fails midway (injected after two applies): the run stops there.
    fail_applying(monkeypatch, "new", "etcdserver: request timed out")
    failed = repo.sync()
    monkeypatch.undo()
    assert failed.returncode == 1
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(
        f"error: apps/new/service-new.yaml, app apps/new: could not apply Service {repo.namespace}/new:"
    ), line
    assert "request timed out" in line and "2 of 4 writes made, nothing pruned" in line, line
    assert get(kube, f"{ns}/configmaps/old-conf") is not None  # nothing pruned that run
    role = kube.request("GET", role_path)
    assert role["metadata"]["labels"][PART_OF_LABEL]
    assert RECORD_HASH_ANNOTATION in role["metadata"]["annotations"]  # recorded with the apply
    parent = parent_of(kube, repo.cluster)["metadata"]["annotations"]
    assert "Role.rbac.authorization.k8s.io" in parent[CONTAINS_GROUP_KINDS_ANNOTATION]

    status = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine,) = [s for s in json.loads(status.stdout) if s["name"] == f"gitkube-{repo.cluster}"]
    assert mine["result"] == "error" and "could not apply Service" in mine["message"]
    # web (3), old-conf, and the Role and ConfigMap the failed run applied: not the
    # Service and Deployment it never wrote.
    assert mine["objects"] == 6

    # Fault gone: only what was not applied is written, the removal is the one prune.
    healed = repo.sync_json("--allow-mass-prune")
    assert (healed["created"], healed["updated"], healed["deleted"]) == (2, 0, 1)
    assert {(c["kind"], c["name"], c["action"]) for c in healed["changes"]} == {
        ("Service", "new", "create"),
        ("Deployment", "new", "create"),
        ("ConfigMap", "old-conf", "delete"),
    }
    settled = repo.sync_json()
    assert (settled["created"], settled["updated"], settled["deleted"]) == (0, 0, 0)
    status = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    (mine,) = [s for s in json.loads(status.stdout) if s["name"] == f"gitkube-{repo.cluster}"]
    assert mine["result"] == "synced" and mine["objects"] == 7


def test_an_object_the_api_server_refuses_stops_the_sync_before_any_write(sync_repo, kube):
    tag = uuid.uuid4().hex[:6]
    role = f"gitkube-{tag}:first"
    repo = sync_repo(
        {
            "apps/a/rbac.yaml": f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{role}"}}
rules: []
""",
            "apps/a/config.yaml": CONFIGMAP.format(name="fine", value="v"),
            "apps/b/config.yaml": CONFIGMAP.format(name="bad", value="[not, a, string]"),
        }
    )
    result = repo.sync()
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "nothing was changed" in line and "the API server refuses it" in line, line
    assert f"ConfigMap {repo.namespace}/bad" in line, line
    assert get(kube, f"{RBAC}/clusterroles/{role}") is None
    assert get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/fine") is None
    (blocked,) = [c for c in repo.plan_json()["changes"] if c["blocked"]]
    assert blocked["name"] == "bad"


# -- 4. namespaces -------------------------------------------------------------


def in_namespace(doc: str, namespace: str) -> str:
    return doc.replace("metadata: {name:", f"metadata: {{namespace: {namespace}, name:")


def test_missing_namespace_is_created_owned_and_kept_while_others_use_it(sync_repo, kube):
    tag = uuid.uuid4().hex[:6]
    target = f"argocd-{tag}"
    repo = sync_repo(
        {
            "apps/keep/config.yaml": CONFIGMAP.format(name="keep", value="k"),
            "apps/argocd/config.yaml": in_namespace(
                CONFIGMAP.format(name="argocd-cm", value="v"), target
            ),
            "apps/argocd/more.yaml": in_namespace(
                CONFIGMAP.format(name="argocd-rbac-cm", value="v"), target
            ),
        }
    )
    plan = repo.plan_json()
    (created,) = [c for c in plan["changes"] if c["kind"] == "Namespace"]
    assert created["action"] == "create" and created["name"] == target
    assert "does not define it" in created["note"]

    first = repo.sync_json()
    assert first["created"] == 4
    ns = kube.request("GET", f"/api/v1/namespaces/{target}")
    assert ns["metadata"]["labels"][PART_OF_LABEL]
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitkube"
    again = repo.sync_json()
    assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)

    # Someone else's object in it keeps the namespace when the app leaves.
    kube.request(
        "POST",
        f"/api/v1/namespaces/{target}/configmaps",
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handmade"}},
    )
    repo.remove("apps/argocd")
    repo.commit_and_render("drop argocd")
    result = repo.sync_json("--allow-mass-prune")
    assert result["deleted"] == 2
    (kept,) = [c for c in result["changes"] if c["kind"] == "Namespace"]
    assert kept["action"] == "unchanged"
    assert "NamespaceInUseFilter" in kept["note"] and "handmade" in kept["note"]
    live = kube.request("GET", f"/api/v1/namespaces/{target}")
    assert "deletionTimestamp" not in live["metadata"]

    kube.request("DELETE", f"/api/v1/namespaces/{target}/configmaps/handmade")
    last = repo.sync_json("--allow-mass-prune")
    assert [(c["kind"], c["action"]) for c in last["changes"]] == [("Namespace", "delete")]
    gone = get(kube, f"/api/v1/namespaces/{target}")  # no namespace controller: Terminating
    assert gone is None or "deletionTimestamp" in gone["metadata"]


def test_missing_namespaces_refuse_the_sync_when_creating_them_is_off(sync_repo, kube):
    tag = uuid.uuid4().hex[:6]
    role = f"gitkube-{tag}:first"
    repo = sync_repo(
        {
            "apps/first/rbac.yaml": f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{role}"}}
rules: []
""",
            "apps/first/config.yaml": in_namespace(
                CONFIGMAP.format(name="a", value="v"), f"one-{tag}"
            ),
            "apps/second/config.yaml": in_namespace(
                CONFIGMAP.format(name="b", value="v"), f"one-{tag}"
            )
            + "---\n"
            + in_namespace(CONFIGMAP.format(name="c", value="v"), f"two-{tag}"),
        },
        extra_config="sync: {createNamespaces: false}\n",
    )
    result = repo.sync()
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "sync.createNamespaces is false" in line
    assert f"one-{tag} (needed by apps/first, apps/second, first in apps/first/" in line
    assert f"two-{tag} (needed by apps/second, first in apps/second/" in line
    assert get(kube, f"{RBAC}/clusterroles/{role}") is None  # refused before any write
    assert get(kube, f"/api/v1/namespaces/one-{tag}") is None


# -- 5. migration from the parent's record -------------------------------------


def test_a_parent_in_the_old_format_is_adopted_without_deletions(sync_repo, kube, monkeypatch):
    repo = sync_repo(
        {
            "apps/web/deploy.yaml": DEPLOYMENT.format(name="web"),
            "apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1"),
        }
    )
    # What gitkube 0.x left: members applied as rendered, their hashes in the parent's data.
    desired = load_desired(open_source(str(repo.path)), "refs/heads/rendered")
    data = {}
    for obj in desired.objects:
        oid = obj.id
        root = f"/apis/{oid.group}/v1" if oid.group else "/api/v1"
        plural = {"Deployment": "deployments", "Service": "services", "ConfigMap": "configmaps"}
        path = f"{root}/namespaces/{oid.namespace}/{plural[oid.kind]}/{oid.name}"
        kube.request(
            "PATCH",
            path,
            query={"fieldManager": "gitkube", "force": "true"},
            body=dict(obj.body),
            content_type="application/apply-patch+yaml",
        )
        data[f"{oid.kind}.{oid.group or 'core'}.{oid.namespace or '_'}.{oid.name}"] = (
            obj.content_hash
        )
    kube.ensure_namespace("gitkube-system")
    kube.request(
        "PATCH",
        f"/api/v1/namespaces/gitkube-system/configmaps/gitkube-{repo.cluster}",
        query={"fieldManager": "gitkube", "force": "true"},
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"gitkube-{repo.cluster}",
                "namespace": "gitkube-system",
                "labels": {APPLYSET_ID_LABEL: desired.applyset.id},
                "annotations": {
                    TOOLING_ANNOTATION: "gitkube/0.1.0",
                    CONTAINS_GROUP_KINDS_ANNOTATION: "ConfigMap,Deployment.apps,Service",
                    "status.gitkube.dev/result": "synced",
                },
            },
            "data": data,
        },
        content_type="application/apply-patch+yaml",
    )
    uids = {
        p: kube.request("GET", f"{p}")["metadata"]["uid"]
        for p in (
            f"/apis/apps/v1/namespaces/{repo.namespace}/deployments/web",
            f"/api/v1/namespaces/{repo.namespace}/services/web",
            f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf",
        )
    }

    calls = record_requests(monkeypatch)
    migrated = repo.sync_json()
    assert (migrated["created"], migrated["deleted"]) == (0, 0)
    assert migrated["updated"] == 3
    assert all("record moved" in c["note"] for c in migrated["changes"])
    # Taken from the old record: nothing had to be re-checked with a dry-run.
    assert [c for c in calls if "dryRun" in c[2]] == []
    monkeypatch.undo()
    for path, uid in uids.items():
        live = kube.request("GET", path)
        assert live["metadata"]["uid"] == uid  # not re-created
        assert RECORD_HASH_ANNOTATION in live["metadata"]["annotations"]
    assert "data" not in parent_of(kube, repo.cluster)

    settled = repo.sync_json()
    assert (settled["created"], settled["updated"], settled["deleted"]) == (0, 0, 0)
