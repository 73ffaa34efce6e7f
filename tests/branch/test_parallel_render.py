"""A cold render of many apps runs in worker processes (render/prerender.py) and
gives exactly what one serial render gives: the same objects, the same
inventory, the same warnings, the same first error, and a cache that the
renders after it use as their own.

$GITKUBE_WORKERS=2 makes even a small repo take the parallel path; the
serial reference is a ``--no-cache`` render, which never forks.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gitkube.render.prerender as prerender_module
from gitkube.domain.plugin_manager import build_plugin_manager
from gitkube.plugin_api import hookimpl
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import DirectoryTree
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_commit, render_to_directory
from tests.branch.conftest import DEPLOYMENT, SERVICE, commit_all, git
from tests.branch.test_render_cache_safety import CRD
from tests.conftest import MINIMAL_CONFIG, write_tree

EXAMPLES = max(int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "3000")) // 200, 8)

WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: {name}}}\n"


class PrerenderSpy:
    """Counts the parallel renders tried, and how many of them were used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tried = 0
        self.used = 0
        real = prerender_module.prerender

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.tried += 1
            result = real(*args, **kwargs)
            self.used += result is not None
            return result

        monkeypatch.setattr(prerender_module, "prerender", spy)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> PrerenderSpy:
    monkeypatch.setenv("GITKUBE_WORKERS", "2")
    return PrerenderSpy(monkeypatch)


def outcome(store: GitStore, use_cache: bool) -> tuple[dict[str, str], bytes, list[str]] | str:
    try:
        commit, _tree, rendered = render_commit(store, "HEAD", use_cache=use_cache)
    except GitkubeError as exc:
        return str(exc)
    warnings = [str(w.message) + str(w.app) for w in rendered.warnings]
    return dict(rendered.object_ids), rendered.inventory_bytes(commit), warnings


def many_apps(root: Path, count: int) -> None:
    files = {"gitkube.yaml": MINIMAL_CONFIG}
    for index in range(count):
        name = f"app{index}"
        files[f"group{index % 3}/{name}/deployment.yaml"] = DEPLOYMENT.format(name=name, replicas=1)
        files[f"group{index % 3}/{name}/service.yaml"] = SERVICE.format(name=name)
    write_tree(root, files)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "start")


def test_apps_are_rendered_by_other_processes_into_the_same_tree(tmp_path, workers, monkeypatch):
    pids_file = tmp_path / "pids"

    class WhoRenders:
        @hookimpl
        def gitkube_transform(self, resource):
            with pids_file.open("a") as out:
                out.write(f"{os.getpid()}\n")

    root = tmp_path / "repo"
    many_apps(root, 12)
    store = GitStore(root)
    parallel = render_commit(store, "HEAD", plugins=[("who", WhoRenders())])
    assert workers.used == 1
    pids = set(pids_file.read_text().split())
    assert str(os.getpid()) not in pids and len(pids) == 2  # two workers, not this process
    serial = render_commit(store, "HEAD", use_cache=False, plugins=[("who", WhoRenders())])
    assert parallel[2].object_ids == serial[2].object_ids
    assert parallel[2].inventory_bytes(parallel[0]) == serial[2].inventory_bytes(serial[0])
    assert parallel[2].files == serial[2].files


def test_a_small_repo_is_rendered_in_this_process(tmp_path, monkeypatch):
    monkeypatch.delenv("GITKUBE_WORKERS", raising=False)
    spy = PrerenderSpy(monkeypatch)
    root = tmp_path / "repo"
    many_apps(root, 12)
    render_commit(GitStore(root), "HEAD")
    assert spy.tried == 0  # below prerender.MIN_APPS, workers cost more than they save


def test_gitkube_workers_0_renders_serially(tmp_path, monkeypatch):
    monkeypatch.setenv("GITKUBE_WORKERS", "0")
    monkeypatch.setattr(prerender_module, "MIN_APPS", 2)
    spy = PrerenderSpy(monkeypatch)
    root = tmp_path / "repo"
    many_apps(root, 12)
    render_commit(GitStore(root), "HEAD")
    assert spy.tried == 0


@pytest.mark.parametrize("scope", ["Namespaced", "Cluster"])
def test_a_crd_in_one_slice_decides_the_namespace_of_its_objects_in_another(
    tmp_path, workers, monkeypatch, scope
):
    rounds = []
    real_fork_map = prerender_module.fork_map

    def counting(*args: Any) -> Any:
        rounds.append(1)
        return real_fork_map(*args)

    monkeypatch.setattr(prerender_module, "fork_map", counting)
    root = tmp_path / "repo"
    many_apps(root, 8)
    # "aaa" sorts first, "zzz" last: the CRD and its objects land in different slices.
    write_tree(root, {"aaa/crd/crd.yaml": CRD.format(scope=scope)})
    write_tree(root, {"zzz/widgets/widget.yaml": WIDGET.format(name="w1")})
    commit_all(root)
    store = GitStore(root)
    parallel = outcome(store, use_cache=True)
    assert workers.used == 1 and len(rounds) == 2  # the second round knew the CRD
    assert parallel == outcome(store, use_cache=False)
    assert isinstance(parallel, tuple)
    widget = next(o for o in yaml.safe_load(parallel[1])["objects"] if o["kind"] == "Widget")
    assert widget["namespace"] == ("default" if scope == "Namespaced" else None)


def test_a_warning_is_the_serial_renders_own(tmp_path, workers):
    root = tmp_path / "repo"
    many_apps(root, 8)
    deployment = root / "group1/app4/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("nginx:1.25", "nginx:latest"))
    commit_all(root)
    store = GitStore(root)
    parallel = outcome(store, use_cache=True)
    assert workers.tried == 1 and workers.used == 0  # a slice found something: serial
    assert isinstance(parallel, tuple) and parallel[2]
    assert parallel == outcome(store, use_cache=False)


def test_an_error_is_the_serial_renders_own_and_nothing_is_written(tmp_path, workers):
    root = tmp_path / "repo"
    many_apps(root, 8)
    write_tree(root, {"group2/app5/broken.yaml": "kind: [unclosed\n"})
    write_tree(root, {"group0/app0/nameless.yaml": "apiVersion: v1\nkind: ConfigMap\n"})
    commit_all(root)
    store = GitStore(root)
    parallel = outcome(store, use_cache=True)
    assert workers.used == 0
    assert isinstance(parallel, str) and "broken.yaml" in parallel and "nameless.yaml" in parallel
    assert parallel == outcome(store, use_cache=False)
    assert git(root, "branch", "--list", "rendered") == ""


def test_the_cache_a_parallel_render_leaves_serves_the_next_render(tmp_path, workers):
    root = tmp_path / "repo"
    many_apps(root, 10)
    store = GitStore(root)
    render_commit(store, "HEAD")
    assert workers.used == 1
    deployment = root / "group1/app7/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 1", "replicas: 3"))
    commit_all(root)
    _commit, _tree, patched = render_commit(store, "HEAD")
    assert patched.cache_hits == 9  # every other app came from the parallel render's cache
    assert outcome(store, use_cache=True) == outcome(store, use_cache=False)


def random_repo(rng: random.Random, root: Path) -> None:
    files = {"gitkube.yaml": MINIMAL_CONFIG + rng.choice(["", "registry: gcr.io/my-proj\n"])}
    for index in range(rng.randint(2, 14)):
        name = f"a{index}"
        where = f"{rng.choice(['web', 'tools', 'z'])}/{name}"
        files[f"{where}/deployment.yaml"] = DEPLOYMENT.format(name=name, replicas=rng.randint(1, 3))
        extra = rng.random()
        if extra < 0.15:
            files[f"{where}/app.yaml"] = rng.choice(
                [
                    "labels: {tier: web}\n",
                    f"external: {{address: {name}-ip, ports: [80]}}\n",
                    "volumes: [{name: cache, mount: /cache, emptyDir: {}}]\n",
                    f"name: {name}x\n",
                    "dependsOn: [web/a0]\n",
                    "unknownKey: 1\n",
                ]
            )
        elif extra < 0.25:
            files[f"{where}/config.yaml"] = (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n"  # may clash
                f"data: {{k: {rng.choice(['a', 'y', '02139', '12:30', '0x1F', '~'])}}}\n"
            )
        elif extra < 0.3:
            files[f"{where}/crd.yaml"] = CRD.format(scope=rng.choice(["Namespaced", "Cluster"]))
        elif extra < 0.4:
            files[f"{where}/widget.yaml"] = WIDGET.format(name=name)
        elif extra < 0.45:
            files[f"{where}/deployment.yaml"] = files[f"{where}/deployment.yaml"].replace(
                "nginx:1.25", "nginx"
            )
        elif extra < 0.5:
            files[f"{where}/service.yaml"] = SERVICE.format(name=name) + "---\n- not a map\n"
    write_tree(root, files)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_parallel_render_equals_serial_render(seed: int, tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("GITKUBE_WORKERS", "2")
    root = tmp_path_factory.mktemp("repo")
    random_repo(random.Random(seed), root)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "start")
    store = GitStore(root)
    assert outcome(store, use_cache=True) == outcome(store, use_cache=False), f"seed {seed}"


# -- gitkube render --out: the work tree rendered by workers ---------------------


def rendered_out(root: Path, out: Path, workers: str, monkeypatch) -> tuple[dict, list] | str:
    monkeypatch.setenv("GITKUBE_WORKERS", workers)
    try:
        summary = render_to_directory(root, out)
    except GitkubeError as exc:
        return str(exc)
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return files, [str(w) for w in summary.warnings]


def test_render_out_by_workers_writes_what_the_serial_render_writes(tmp_path, monkeypatch):
    used = []
    real = prerender_module.render_in_workers

    def spy(*args: Any) -> Any:
        result = real(*args)
        used.append(result is not None)
        return result

    monkeypatch.setattr(prerender_module, "render_in_workers", spy)
    root = tmp_path / "repo"
    many_apps(root, 10)
    write_tree(root, {"aaa/crd/crd.yaml": CRD.format(scope="Namespaced")})
    write_tree(root, {"zzz/widgets/widget.yaml": WIDGET.format(name="w1")})
    parallel = rendered_out(root, tmp_path / "parallel", "2", monkeypatch)
    serial = rendered_out(root, tmp_path / "serial", "0", monkeypatch)
    assert used == [True, False]
    assert parallel == serial


@pytest.mark.parametrize(
    "extra",
    [
        {"stray.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
        {"group1/app4/kustomization.yaml": "resources: [deployment.yaml]\n"},
        {"group1/app4/app.yaml": "source: {kind: kustomize}\n"},
        {"group2/app5/broken.yaml": "kind: [unclosed\n"},
    ],
    ids=["manifest at the root", "kustomization", "source key", "broken file"],
)
def test_render_out_leaves_to_the_serial_render_what_a_slice_cannot_settle(
    tmp_path, monkeypatch, extra
):
    monkeypatch.setenv("GITKUBE_WORKERS", "2")
    root = tmp_path / "repo"
    many_apps(root, 8)
    write_tree(root, extra)
    tree = DirectoryTree(root)
    assert prerender_module.render_in_workers(tree, lambda config: build_plugin_manager(())) is None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_render_out_by_workers_equals_serial_render(
    seed: int, tmp_path_factory, monkeypatch
) -> None:
    root = tmp_path_factory.mktemp("repo")
    random_repo(random.Random(seed), root)
    out = tmp_path_factory.mktemp("out")
    parallel = rendered_out(root, out / "parallel", "2", monkeypatch)
    serial = rendered_out(root, out / "serial", "0", monkeypatch)
    assert parallel == serial, f"seed {seed}"
