"""The ApplySet parent: read once, refused when it is another ApplySet's or another tool's."""

from __future__ import annotations

import pytest

from gitkube.domain.applyset_parent import ApplySetParent
from gitkube.domain.keys import (
    ADDITIONAL_NAMESPACES_ANNOTATION,
    APPLYSET_ID_LABEL,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    TOOLING_ANNOTATION,
)
from gitkube.domain.ownership import ApplySet
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApiError
from gitkube.sync.desired import load_desired
from gitkube.sync.run import SyncOptions, prepare
from gitkube.sync.source import open_source
from tests.sync.conftest import CONFIGMAP

APPLYSET = ApplySet(name="gitkube-prod")


def _body(labels=None, annotations=None, data=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": APPLYSET.name,
            "namespace": APPLYSET.namespace,
            "labels": {APPLYSET_ID_LABEL: APPLYSET.id} if labels is None else labels,
            "annotations": annotations or {},
        },
        **({"data": data} if data else {}),
    }


def test_the_parents_annotations_become_fields():
    parent = ApplySetParent.parse(
        _body(
            annotations={
                TOOLING_ANNOTATION: "gitkube/1.0.0",
                CONTAINS_GROUP_KINDS_ANNOTATION: "ConfigMap,Deployment.apps",
                ADDITIONAL_NAMESPACES_ANNOTATION: "a,b",
            },
            data={"ConfigMap.core.a.x": "hash"},
        ),
        APPLYSET,
    )
    assert parent.exists
    assert parent.group_kinds == {"ConfigMap", "Deployment.apps"}
    assert parent.namespaces == {"a", "b"}
    assert parent.legacy_record == {"ConfigMap.core.a.x": "hash"}


def test_another_applysets_parent_is_refused():
    with pytest.raises(GitkubeError, match="is not gitkube's ApplySet parent"):
        ApplySetParent.parse(
            _body(labels={APPLYSET_ID_LABEL: ApplySet(name="gitkube-other").id}), APPLYSET
        )


def test_another_tools_parent_is_refused():
    with pytest.raises(GitkubeError, match=r"another tool \(.*tooling: kubectl/v1.30\)"):
        ApplySetParent.parse(_body(annotations={TOOLING_ANNOTATION: "kubectl/v1.30"}), APPLYSET)


def test_the_written_parent_reads_back_as_written():
    parent = ApplySetParent(APPLYSET)
    body = parent.manifest({"Service", "ConfigMap"}, {"web", APPLYSET.namespace}, {"x": "y"})
    again = ApplySetParent.parse(body, APPLYSET)
    assert again.group_kinds == {"ConfigMap", "Service"}
    assert again.namespaces == {"web"}  # the parent's own namespace is implied
    assert again.annotations[TOOLING_ANNOTATION].startswith("gitkube/")
    assert again.annotations["x"] == "y"


def test_sync_refuses_a_parent_another_tool_made(sync_repo, kube):
    repo = sync_repo({"web/a/cm.yaml": CONFIGMAP.format(name="a", value="1")})
    desired = load_desired(open_source(str(repo.path)), SyncOptions().ref)
    kube.ensure_namespace(desired.applyset.namespace)
    kube.apply(
        f"/api/v1/namespaces/{desired.applyset.namespace}/configmaps/{desired.applyset.name}",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": desired.applyset.name,
                "namespace": desired.applyset.namespace,
                "labels": {APPLYSET_ID_LABEL: desired.applyset.id},
                "annotations": {TOOLING_ANNOTATION: "kubectl/v1.30"},
            },
        },
        manager="kubectl",
        force=True,
    )
    result = repo.sync()
    assert result.returncode == 1
    assert "ApplySet parent of another tool" in result.stderr
    assert "tooling: kubectl/v1.30" in result.stderr
    with pytest.raises(KubeApiError) as caught:  # nothing was applied
        kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/a")
    assert caught.value.status == 404


def test_every_target_of_a_run_shares_one_kubernetes_client(sync_repo, kube):
    repo = sync_repo({"web/a/cm.yaml": CONFIGMAP.format(name="a", value="1")})
    run = prepare(SyncOptions(repo=str(repo.path), kubeconfig=str(repo.kubeconfig)), api=kube)
    assert run.state.kube is kube
    clients = {
        target.name: getattr(target, "_api", getattr(target, "_kube", None))
        for target in run.targets
    }
    assert clients["kubernetes"] is kube
    assert clients["gce"] in (None, kube)  # a run without GCE objects never needs it
