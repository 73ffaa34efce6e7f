"""The agent's watches (gitkube.sync.watch) against the real control plane: idle
cycles served from informers, drift woken by a watch, resume after an API server
restart, relist on 410 Gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.sync.watch import Informer, WatchingKubeApi, meaningful_change, parse_path
from tests.sync.conftest import CONFIGMAP
from tests.sync.test_agent import wait_for

HOUR = 3600.0


def lists(api: KubeApi) -> int:
    """The LISTs sent to the API server: GETs of a collection."""
    return sum(
        1
        for method, path in api.log.entries
        if method == "GET" and (where := parse_path(path)) is not None and where.name is None
    )


def configmap(kube: KubeApi, namespace: str, name: str) -> dict | None:
    try:
        return kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    except KubeApiError:
        return None


def test_idle_cycles_make_no_list_once_the_kinds_are_watched(sync_repo, running_agent, kube):
    repo = sync_repo(
        {
            "apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1"),
            "apps/api/config.yaml": CONFIGMAP.format(name="api-conf", value="v1"),
        }
    )
    agent = running_agent(repo, interval=0.2, poll=0.2)  # a full sync every cycle
    wait_for(lambda: agent.syncs >= 1, "the first sync")
    assert isinstance(agent.api, WatchingKubeApi)
    wait_for(lambda: agent.api.informers and agent.api.wait_synced(1), "the watches")
    listed = lists(agent.api)
    assert listed >= 2  # the first run listed ConfigMaps and Namespaces
    done, writes, puts = agent.syncs, agent.api.log.writes, agent.api.log.verbs["PUT"]
    wait_for(lambda: agent.syncs >= done + 3, "three more full syncs")
    assert lists(agent.api) == listed  # none of them listed anything
    assert agent.api.served_from_cache >= 6
    # No-ops: the only writes are lease renewals.
    assert agent.api.log.writes - writes == agent.api.log.verbs["PUT"] - puts


def test_a_watch_repairs_drift_without_waiting_for_the_interval(sync_repo, running_agent, kube):
    repo = sync_repo({"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value="v1")})
    agent = running_agent(repo)  # interval and poll an hour: only a watch can wake it
    wait_for(lambda: configmap(kube, repo.namespace, "web-conf"), "the first sync")
    wait_for(lambda: agent.metrics.watches._value.get() >= 1, "the watches")
    assert isinstance(agent.api, WatchingKubeApi)
    wait_for(lambda: agent.api.wait_synced(1), "the watches to list")
    listed = lists(agent.api)

    # Deleted by hand: back, from a run that listed nothing.
    kube.request("DELETE", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    wait_for(lambda: configmap(kube, repo.namespace, "web-conf"), "the ConfigMap to come back")
    # Edited by hand (a value removed; one changed would be a field-manager
    # conflict, which sync refuses without --force-conflicts): put back.
    kube.request(
        "PATCH",
        f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf",
        body={"data": {"key": None, "other": "by-hand"}},
        content_type="application/merge-patch+json",
    )
    wait_for(
        lambda: (
            (configmap(kube, repo.namespace, "web-conf") or {}).get("data", {}).get("key") == "v1"
        ),
        "the hand edit to be reverted",
    )
    assert lists(agent.api) == listed, "\n".join(
        f"{m} {p}" for m, p in agent.api.log.entries if m == "GET"
    )
    assert agent.metrics.wakeups.labels(cause="drift")._value.get() >= 2


def test_only_another_hands_change_to_a_member_is_drift(kube, kube_namespace):
    woken: list[str] = []
    api = WatchingKubeApi(kube, woken.append)
    api.member_ids = frozenset({"applyset-x"})
    path = "/api/v1/configmaps"
    api.request("GET", path, query={"labelSelector": None, "continue": None})
    api.watch_listed()
    try:
        assert api.wait_synced(30)
        informer = api.informers[(path, "")]
        cms = f"/api/v1/namespaces/{kube_namespace}/configmaps"
        member = {
            "metadata": {"name": "m", "labels": {"applyset.kubernetes.io/part-of": "applyset-x"}}
        }
        kube.request("POST", cms, body=member)  # a member, made by another hand
        kube.request("POST", cms, body={"metadata": {"name": "not-ours"}})
        wait_for(lambda: (kube_namespace, "not-ours") in informer.items, "the watch events")
        assert api.take_drift() == [f"added configmaps {kube_namespace}/m"]
        # Written through the watching client: its own write, not drift.
        api.request(
            "PATCH",
            f"{cms}/m",
            body={"data": {"a": "b"}},
            content_type="application/merge-patch+json",
        )
        wait_for(lambda: informer.items[(kube_namespace, "m")].get("data"), "the patch event")
        assert api.take_drift() == []
        assert woken  # the agent was woken each time; it asks take_drift() what happened
    finally:
        api.close()


def test_a_status_only_change_is_not_drift():
    live = {"metadata": {"name": "d", "resourceVersion": "5"}, "spec": {"replicas": 1}}
    status = {**live, "metadata": {"name": "d", "resourceVersion": "6"}, "status": {"ready": 1}}
    assert not meaningful_change(live, status)
    assert meaningful_change(live, {**status, "spec": {"replicas": 2}})
    assert meaningful_change(live, None)


@pytest.fixture
def own_controlplane() -> Iterator:
    """A control plane of this test's own: it restarts the API server."""
    from gitkube.testing.controlplane import ControlPlane

    with ControlPlane() as plane:
        yield plane


def test_a_watch_resumes_after_an_api_server_restart_and_relists_on_410(own_controlplane):
    kube = KubeApi(own_controlplane.api_client())
    kube.ensure_namespace("watched")
    seen: list[tuple[str, str]] = []
    informer = Informer(
        KubeApi(own_controlplane.api_client()),
        "/api/v1/configmaps",
        "team=web",
        lambda _, kind, old, new: seen.append((kind, (new or old or {})["metadata"]["name"])),
    ).start()
    try:
        assert informer.synced.wait(30)
        for name in ("a", "b"):
            body = {"metadata": {"name": name, "labels": {"team": "web"}}}
            kube.request("POST", "/api/v1/namespaces/watched/configmaps", body=body)
        wait_for(lambda: len(informer.items) == 2, "the watch to see both")
        # Other writes move etcd's revision past the watch's: the restarted API
        # server's cache starts after it, so resuming answers 410 Gone.
        kube.request("POST", "/api/v1/namespaces/watched/secrets", body={"metadata": {"name": "s"}})
        watches_before = informer.resumes
        own_controlplane.restart_apiserver()
        kube.request("DELETE", "/api/v1/namespaces/watched/configmaps/a")
        body = {"metadata": {"name": "c", "labels": {"team": "web"}}}
        kube.request("POST", "/api/v1/namespaces/watched/configmaps", body=body)
        wait_for(
            lambda: set(informer.items) == {("watched", "b"), ("watched", "c")},
            "the informer to follow the restarted server",
        )
        assert informer.resumes > watches_before  # the watch was opened again
        assert informer.gone >= 1 and informer.lists == 2  # 410 Gone: one relist
        assert ("DELETED", "a") in seen and ("ADDED", "c") in seen
    finally:
        informer.stop()


def test_paths_are_taken_apart_by_resource_namespace_and_name():
    assert parse_path("/api/v1/namespaces") == parse_path("/api/v1/namespaces")
    ns = parse_path("/api/v1/namespaces/web")
    assert ns is not None and (ns.resource, ns.namespace, ns.name) == ("namespaces", None, "web")
    cm = parse_path("/api/v1/namespaces/web/configmaps/conf")
    assert cm is not None and (cm.resource, cm.namespace, cm.name) == ("configmaps", "web", "conf")
    deploy = parse_path("/apis/apps/v1/deployments")
    assert deploy is not None and deploy.collection == "/apis/apps/v1/deployments"
    assert parse_path("/apis/apps/v1") is None and parse_path("/api") is None
    assert parse_path("/api/v1/namespaces/web/pods/p/status") is None
