"""The incremental render (render/incremental.py): a commit patched from the cached index of
a tree rendered before renders only its changed apps, writes only their objects, and gives
byte for byte the tree a full --no-cache render gives; whatever it cannot prove falls back."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gitkube.render.incremental as incremental
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_to_branch
from gitkube.render.diff import diff_refs
from tests.branch.conftest import DEPLOYMENT, SERVICE, app_files, commit_all, edit, git
from tests.branch.test_render_cache_safety import CRD
from tests.conftest import MINIMAL_CONFIG, write_tree

EXAMPLES = 8
STEPS = 8
APPS = ["web/frontend", "web/frontend/admin", "web/ghost", "tools/job", "minecraft"]


class Spy:
    """Counts incremental renders that answered, and whole-tree listings and hashes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.patched = 0
        self.listed = 0
        self.hashed = 0
        real_changes = incremental.render_changes
        real_ls, real_tree_id = GitStore.ls_tree, GitStore.tree_id

        def changes(*args: Any, **kwargs: Any) -> Any:
            found = real_changes(*args, **kwargs)
            self.patched += found is not None
            return found

        def ls_tree(store: GitStore, treeish: str) -> Any:
            self.listed += 1
            return real_ls(store, treeish)

        def tree_id(store: GitStore, files: Any) -> Any:
            self.hashed += 1
            return real_tree_id(store, files)

        monkeypatch.setattr(incremental, "render_changes", changes)
        monkeypatch.setattr(GitStore, "ls_tree", ls_tree)
        monkeypatch.setattr(GitStore, "tree_id", tree_id)


def rendered_tree(repo: Path, branch: str, use_cache: bool) -> str:
    try:
        render_to_branch(repo, branch=branch, use_cache=use_cache)
    except GitkubeError as exc:
        return f"error: {exc}"
    return git(repo, "rev-parse", f"{branch}^{{tree}}")


@pytest.fixture
def apps_repo(git_repo) -> Path:
    files: dict[str, str] = {}
    for name in ("alpha", "beta", "gamma"):
        files.update(app_files(name))
    return git_repo(files)


def test_one_app_change_is_patched_without_listing_or_hashing_the_tree(apps_repo, monkeypatch):
    render_to_branch(apps_repo)  # the cache holds the tree's index, the branch its render
    edit(apps_repo, app_files("beta", replicas=4))
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = rendered_tree(apps_repo, "rendered", use_cache=True)
    assert (spy.patched, spy.listed, spy.hashed) == (1, 0, 0)
    assert cached == rendered_tree(apps_repo, "full", use_cache=False)
    assert "replicas: 4" in git(apps_repo, "show", "rendered:web/beta/deployment-beta.yaml")


def test_added_removed_and_renamed_apps_are_patched(apps_repo, monkeypatch):
    render_to_branch(apps_repo)
    git(apps_repo, "rm", "-q", "-r", "web/alpha")
    (apps_repo / "more").mkdir()
    git(apps_repo, "mv", "web/gamma", "more/gamma")
    edit(apps_repo, app_files("epsilon", where="more"))
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = rendered_tree(apps_repo, "rendered", use_cache=True)
    assert spy.patched == 1
    assert cached == rendered_tree(apps_repo, "full", use_cache=False)
    files = git(apps_repo, "ls-tree", "-r", "--name-only", "rendered").split()
    assert "more/gamma/service-gamma.yaml" in files and "more/epsilon/service-epsilon.yaml" in files
    assert not any(f.startswith(("web/alpha/", "web/gamma/")) for f in files)


@pytest.mark.parametrize(
    "change",
    [
        {"gitkube.yaml": MINIMAL_CONFIG.replace("default", "prod")},  # config
        {"web/beta/service.yaml": SERVICE.format(name="alpha")},  # alpha's identity, twice
        {"web/beta/app.yaml": "dependsOn: [web/nowhere]\n"},  # a dependency on no app
        {"web/beta/kustomization.yaml": "resources: [service.yaml]\n"},  # a tool-built app
    ],
)
def test_what_the_index_cannot_prove_is_rendered_the_full_way(apps_repo, monkeypatch, change):
    render_to_branch(apps_repo)
    edit(apps_repo, change)
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = rendered_tree(apps_repo, "rendered", use_cache=True)
    assert spy.patched == 0
    assert cached == rendered_tree(apps_repo, "full", use_cache=False)


def test_diff_of_a_new_commit_renders_only_its_change(apps_repo, monkeypatch):
    render_to_branch(apps_repo)
    base = git(apps_repo, "rev-parse", "HEAD")
    edit(apps_repo, app_files("gamma", replicas=3))
    head = commit_all(apps_repo)
    spy = Spy(monkeypatch)
    report = diff_refs(apps_repo, base, head)
    assert spy.patched == 1
    assert [c.path for c in report.changes] == ["web/gamma/deployment-gamma.yaml"]
    assert report.as_dict() == diff_refs(apps_repo, base, head, use_cache=False).as_dict()


def edit_randomly(rng: random.Random, root: Path) -> None:
    """One random edit: apps changed, added, removed, renamed, made to clash or depend."""
    present = [a for a in APPS if (root / a / "deployment.yaml").exists()]
    app = rng.choice(APPS)
    name = app.rsplit("/", 1)[-1]
    pick = rng.random()
    if pick < 0.3 or not present:
        write_tree(
            root,
            {
                f"{app}/deployment.yaml": DEPLOYMENT.format(name=name, replicas=rng.randint(1, 3)),
                f"{app}/service.yaml": SERVICE.format(name=name),
            },
        )
    elif pick < 0.4:
        git(root, "rm", "-q", "-r", "--ignore-unmatch", rng.choice(present))
    elif pick < 0.5:
        moved = rng.choice(present)
        target = f"moved/{rng.randint(0, 3)}/{moved.rsplit('/', 1)[-1]}"  # the app keeps its name
        if not (root / target).exists():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            git(root, "mv", moved, target)
    elif pick < 0.65:
        deps = rng.choice(["", "dependsOn: [web/ghost]\n", f"dependsOn: [{app}]\n"])
        path = root / app / "app.yaml"
        if deps:
            write_tree(root, {f"{app}/app.yaml": deps})
        elif path.exists():
            path.unlink()
    elif pick < 0.75:
        other = rng.choice(["shared", f"{name}-conf"])  # "shared" clashes across apps
        write_tree(
            root,
            {
                f"{app}/config.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {other}}}\n"
            },
        )
    elif pick < 0.85:
        scope = rng.choice(["Namespaced", "Cluster"])
        write_tree(
            root,
            {
                "crds/widget/crd.yaml": CRD.format(scope=scope),
                f"{app}/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\n"
                f"metadata: {{name: {name}}}\n",
            },
        )
    elif pick < 0.92:
        write_tree(root, {".notes/todo.yaml": f"n: {rng.random()}\n", "README.md": "x\n"})
    else:
        extra = rng.choice(["", "registry: gcr.io/my-proj\n"])
        write_tree(root, {"gitkube.yaml": MINIMAL_CONFIG + extra})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_incremental_render_equals_full_render_after_every_edit(
    seed: int, tmp_path_factory, monkeypatch
) -> None:
    root = tmp_path_factory.mktemp("repo")
    write_tree(root, {"gitkube.yaml": MINIMAL_CONFIG, **app_files("frontend")})
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "start")
    rng = random.Random(seed)
    with monkeypatch.context() as patch:
        spy = Spy(patch)
        for step in range(STEPS):
            cached = rendered_tree(root, "rendered", use_cache=True)
            full = rendered_tree(root, "full", use_cache=False)
            assert cached == full, f"seed {seed}, step {step}"
            if step == 0:  # one patched render at least: a plain one-app change
                edit(root, app_files("frontend", replicas=5))
            else:
                edit_randomly(rng, root)
            git(root, "add", "-A")
            git(root, "commit", "-q", "--allow-empty", "-m", f"edit {step}")
        assert spy.patched >= 1


def test_an_index_made_by_other_code_is_not_patched_from(apps_repo, monkeypatch):
    import gitkube.render.cache as render_cache
    from gitkube.plugin_api import hookimpl

    version = {"tier": "one"}

    class Tier:
        @hookimpl
        def gitkube_transform(self, resource):
            resource.body["metadata"].setdefault("labels", {})["tier"] = version["tier"]

    plugins = [("tier", Tier())]
    render_to_branch(apps_repo, plugins=plugins)  # the tree indexed under this code
    version["tier"] = "two"  # the plugin edited in place: its code stamp says so
    real = render_cache._code_stamp
    monkeypatch.setattr(render_cache, "_code_stamp", lambda hooks: [*real(hooks), "edited"])
    edit(apps_repo, app_files("alpha", replicas=3))
    commit_all(apps_repo)
    render_to_branch(apps_repo, plugins=plugins)
    rendered = git(apps_repo, "grep", "-h", "tier:", "rendered", "--", "web").splitlines()
    assert len(rendered) == 6 and all(line.strip() == "tier: two" for line in rendered)
