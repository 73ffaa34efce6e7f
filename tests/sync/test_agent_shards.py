"""Sharded agents (gitkube.sync.shard) against the real control plane: resharding
2 -> 3 -> 1 moves apps by adoption and release, never by delete and re-create,
and two shards never write the same object."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

import pytest

from gitkube.domain.keys import PART_OF_LABEL
from gitkube.domain.targets import Action
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi
from gitkube.sync.desired import load_desired
from gitkube.sync.lease import Lease
from gitkube.sync.run import SyncOptions, sync
from gitkube.sync.shard import (
    Shard,
    applyset_of,
    lease_of,
    ordinal_from_hostname,
    record_count,
    shard_of,
    sharded,
)
from gitkube.sync.source import open_source
from gitkube.sync.watch import Informer
from tests.sync.conftest import CONFIGMAP
from tests.sync.test_agent import wait_for

APPS = [f"apps/a{i}" for i in range(10)]


class Write(NamedTuple):
    phase: int
    shard: int
    method: str
    path: str


class RecordingApi(KubeApi):
    """One shard's client: every write it sends, in one log shared by all shards."""

    def __init__(self, api: KubeApi, shard: int, writes: list[Write], phase: list[int]) -> None:
        super().__init__(api.api_client, api.where)
        self.shard = shard
        self.writes = writes
        self.phase = phase  # which shard count holds now: 0 (two), 1 (three), 2 (one)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET" and not (kwargs.get("query") or {}).get("dryRun"):
            self.writes.append(Write(self.phase[0], self.shard, method, path))
        return super().request(method, path, **kwargs)


def test_rendezvous_moves_only_what_must_move():
    apps = [f"team/app-{i}" for i in range(3000)]
    two = {a: shard_of(a, 2) for a in apps}
    three = {a: shard_of(a, 3) for a in apps}
    moved = [a for a in apps if two[a] != three[a]]
    assert all(three[a] == 2 for a in moved)  # 2 -> 3: only to the new shard
    assert 0.28 < len(moved) / len(apps) < 0.39  # about a third
    assert all(shard_of(a, 1) == 0 for a in apps)
    assert {shard_of(a, 3) for a in apps} == {0, 1, 2}
    assert [shard_of("team/app-1", 3)] * 3 == [shard_of("team/app-1", 3) for _ in range(3)]


def test_the_shard_comes_from_the_statefulset_ordinal():
    assert ordinal_from_hostname("gitkube-agent-2") == 2
    assert ordinal_from_hostname("gitkube-agent-5f7d9c-abcde") is None
    with pytest.raises(GitkubeError, match="not one of the 3 shards"):
        Shard(3, 3)


@pytest.fixture
def configmaps_deleted(controlplane, kube_namespace):
    """Every ConfigMap deletion in the test's namespace, seen by a real watch."""
    deleted: list[str] = []

    def seen(_: Informer, kind: str, old: Any, new: Any) -> None:
        meta = (old or new or {}).get("metadata", {})
        if kind == "DELETED" and meta.get("namespace") == kube_namespace:
            deleted.append(meta["name"])

    informer = Informer(KubeApi(controlplane.api_client()), "/api/v1/configmaps", "", seen)
    informer.start()
    assert informer.synced.wait(30)
    yield informer, deleted
    informer.stop()


def test_resharding_2_3_1_adopts_and_releases_and_never_deletes(
    sync_repo, controlplane, kube, configmaps_deleted
):
    assert {shard_of(a, 2) for a in APPS} == {0, 1} and {shard_of(a, 3) for a in APPS} == {0, 1, 2}
    repo = sync_repo(
        {f"{app}/config.yaml": CONFIGMAP.format(name=f"cm-{app[5:]}", value="v1") for app in APPS}
    )
    desired = load_desired(open_source(str(repo.path)), "refs/heads/rendered")
    base = desired.applyset
    lease_base = f"agent-{repo.cluster}"
    writes: list[Write] = []
    phase = [0]
    leases: dict[int, Lease] = {}
    kube.ensure_namespace("gitkube-system")  # as the agent does first

    def run(index: int, count: int) -> dict[str, str]:
        """One sync of shard ``index`` of ``count``, as its agent makes it; the notes
        of the changes by ConfigMap."""
        api = RecordingApi(kube, index, writes, phase)
        if index not in leases:
            leases[index] = Lease(api, lease_of(lease_base, index), f"shard-{index}", 300)
        assert leases[index].try_acquire()
        shard = Shard(index, count)
        record_count(api, shard, base)
        options, mine = sharded(
            SyncOptions(repo=str(repo.path), kubeconfig=str(repo.kubeconfig)),
            desired,
            api,
            shard,
            lease_base,
        )
        result = sync(options, desired=mine, api=api)
        assert not result.count(Action.DELETE)
        return {c.id.name: c.note or c.action.value for c in result.changes}

    def owners() -> dict[str, int]:
        ids = {applyset_of(base, i).id: i for i in range(3)}
        listed = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps")
        return {
            cm["metadata"]["name"]: ids[cm["metadata"]["labels"][PART_OF_LABEL]]
            for cm in listed["items"]
            if cm["metadata"]["name"].startswith("cm-")
        }

    def expected(count: int) -> dict[str, int]:
        return {f"cm-{app[5:]}": shard_of(app, count) for app in APPS}

    def uids() -> dict[str, str]:
        listed = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps")
        return {cm["metadata"]["name"]: cm["metadata"]["uid"] for cm in listed["items"]}

    # Two shards.
    run(0, 2)
    run(1, 2)
    assert owners() == expected(2)
    first = uids()
    moving = sorted(name for name, shard in expected(3).items() if shard == 2)
    assert moving

    phase[0] = 1
    # Shard 2 starts with 3 while 0 and 1 still run with 2: it adopts nothing yet.
    notes = run(2, 3)
    assert all(notes[name].startswith("not adopted yet from shard") for name in moving)
    assert owners() == expected(2)
    # 0 and 1 restart with 3: they release what moves (kept, not pruned) ...
    released = {**run(0, 3), **run(1, 3)}
    assert all(released[name].startswith("released to shard 2") for name in moving)
    # ... and shard 2 adopts it in place.
    notes = run(2, 3)
    assert all(notes[name].startswith("adopt from shard") for name in moving)
    assert owners() == expected(3)

    phase[0] = 2
    # Down to one: shards 1 and 2 stop (their Leases are let go); shard 0 adopts all.
    leases.pop(1).release()
    leases.pop(2).release()
    notes = run(0, 1)
    assert owners() == {name: 0 for name in expected(1)}
    assert run(0, 1) and owners() == {name: 0 for name in expected(1)}  # settled

    # Never deleted, never re-created: the same objects throughout.
    informer, deleted = configmaps_deleted
    wait_for(
        lambda: all(
            item["metadata"]["labels"].get(PART_OF_LABEL) == base.id
            for (namespace, name), item in list(informer.items.items())
            if namespace == repo.namespace and name.startswith("cm-")
        ),
        "the watch to see the last adoption",
    )
    assert deleted == []
    assert {k: v for k, v in uids().items() if k.startswith("cm-")} == {
        k: v for k, v in first.items() if k.startswith("cm-")
    }
    assert not [w for w in writes if w.method == "DELETE"]
    # While one shard count holds (the shards of both counts running side by side
    # included), each object has one writer.
    writers: dict[tuple[int, str], set[int]] = defaultdict(set)
    for write in writes:
        if f"/namespaces/{repo.namespace}/configmaps/cm-" in write.path:
            writers[(write.phase, write.path)].add(write.shard)
    assert writers and all(len(shards) == 1 for shards in writers.values()), writers
    # And in each phase the object was written by the shard it hashes to.
    for (number, path), shards in writers.items():
        name = path.rsplit("/", 1)[1]
        assert shards == {expected((2, 3, 1)[number])[name]}, (number, name, shards)


def test_a_shard_outside_the_count_is_one_clear_error(cli, tmp_path):
    result = cli("agent", "--repo", tmp_path, "--shards", "3", "--shard", "5")
    assert result.returncode == 1
    assert "--shard 5 is not one of the 3 shards (0 to 2)" in result.stderr
