"""The git processes a render starts for every commit: a work tree's repository is opened,
a commit and its tree resolved, a branch tip read, each by one process; odd cases still
get the careful answer (a bare repository, a missing branch, a ref that looks like an option)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gitkube.primitives.gitstore as gitstore
import gitkube.render.branch as branch
from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_to_branch
from gitkube.render.quick_answer import unchanged_render_line
from tests.branch.conftest import app_files, commit_all, edit, git


def count_processes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    real = gitstore.run_git

    def counting(*args: str, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(gitstore, "run_git", counting)
    return calls


def test_open_resolve_and_tip_take_one_process_each(git_repo, monkeypatch):
    repo = git_repo()
    render_to_branch(repo)
    calls = count_processes(monkeypatch)
    store = GitStore(repo / "web")
    assert len(calls) == 1 and store.cwd == repo and not store.bare
    assert store.resolve_commit("HEAD") == (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "rev-parse", "HEAD^{tree}"),
    )
    assert len(calls) == 2
    tip = store.branch_tip("rendered")
    assert tip == (git(repo, "rev-parse", "rendered"), git(repo, "rev-parse", "rendered^{tree}"))
    assert len(calls) == 4  # check-ref-format, then one rev-parse
    assert store.branch_tip("rendered") == tip
    assert len(calls) == 5  # the name checked once per store


def test_odd_cases_get_the_careful_answer(git_repo, tmp_path: Path):
    repo = git_repo()
    store = GitStore(repo)
    assert store.branch_tip("nowhere") is None
    for ref in ("nowhere", "--help", "-1"):
        with pytest.raises(GitkubeError, match="names no commit"):
            store.resolve_commit(ref)
    git(tmp_path, "clone", "-q", "--bare", str(repo), "bare.git")
    bare = GitStore(tmp_path / "bare.git")
    assert bare.bare and bare.cwd == tmp_path / "bare.git"
    assert bare.resolve_commit("main") == store.resolve_commit("HEAD")


def record_git(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    """Every git process, in order: ("run", args) waited for, ("start", args) left running."""
    events: list[tuple[str, tuple[str, ...]]] = []
    for name in ("run_git", "start_git"):
        real = getattr(gitstore, name)
        for module in (gitstore, branch):

            def recording(*args: str, _name: str = name, _real: Any = real, **kw: Any) -> Any:
                events.append((_name.removesuffix("_git"), args))
                return _real(*args, **kw)

            monkeypatch.setattr(module, name, recording)
    return events


def test_a_patched_render_runs_git_status_beside_the_render(git_repo, monkeypatch):
    repo = git_repo()
    render_to_branch(repo)
    edit(repo, app_files("frontend", replicas=3))
    commit_all(repo)
    (repo / "web" / "frontend" / "extra.yaml").write_text("kind: ConfigMap\n")
    monkeypatch.chdir(repo)
    events = record_git(monkeypatch)
    line = unchanged_render_line(Path("."))
    assert line is not None and "committed" in line
    commands = [(how, next(a for a in args if not a.startswith("-"))) for how, args in events]
    assert ("run", "status") not in commands
    # started before the render's first git process, read after its commit is written
    assert commands.index(("start", "status")) < commands.index(("run", "diff-tree"))
    assert "replicas: 3" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


def test_a_status_the_quick_answer_started_is_read_by_the_command_line(git_repo, monkeypatch):
    repo = git_repo()
    (repo / "web" / "frontend" / "extra.yaml").write_text("kind: ConfigMap\n")
    events = record_git(monkeypatch)
    branch.start_uncommitted_note(repo)
    assert branch.uncommitted_note(repo / "web" / "..") == branch.uncommitted_note(repo)
    assert "1 uncommitted change left out (e.g. web/frontend/extra.yaml)" in (
        branch.uncommitted_note(repo) or ""
    )
    statuses = [how for how, args in events if "status" in args]
    assert statuses == ["start", "run", "run"]  # the one started, read once


def test_a_tip_the_cache_knows_is_not_read_again(git_repo, monkeypatch):
    repo = git_repo()
    render_to_branch(repo)
    edit(repo, app_files("frontend", replicas=3))
    commit_all(repo)
    reads: list[bytes] = []
    real = gitstore.run_git

    def reading(*args: str, **kw: Any) -> Any:
        if "cat-file" in args:
            reads.append(kw.get("input") or b"")
        return real(*args, **kw)

    monkeypatch.setattr(gitstore, "run_git", reading)
    assert render_to_branch(repo).changed
    assert reads and not any(INVENTORY_FILE.encode() in request for request in reads)


def test_a_store_asks_one_kept_cat_file_for_few_objects(git_repo, monkeypatch):
    repo = git_repo()
    store = GitStore(repo)
    events = record_git(monkeypatch)
    _commit, tree = store.resolve_commit("HEAD")
    config = store.read_blobs([f"{tree}:gitkube.yaml"])[f"{tree}:gitkube.yaml"]
    assert config == (repo / "gitkube.yaml").read_bytes()
    web = store.read_trees([f"{tree}:web", f"{tree}:nowhere"])
    assert list(web) == [f"{tree}:web"] and "frontend" in web[f"{tree}:web"]
    assert store.read_blobs([f"{tree}:nowhere"], missing_ok=True) == {}
    with pytest.raises(GitkubeError, match="missing"):
        store.read_blobs([f"{tree}:nowhere"])
    cat_files = [(how, args) for how, args in events if "cat-file" in args]
    assert cat_files == [("start", ("cat-file", "--batch"))]

    # many objects at once: a process of their own, the kept one left as it is
    entries = store.ls_tree(tree)
    assert len(entries) > 2
    many = [e.oid for e in entries] + [str(n) for n in range(70)]
    blobs = store.read_blobs(many, missing_ok=True)
    assert blobs == {e.oid: (repo / e.path).read_bytes() for e in entries}
    assert [how for how, args in events if "cat-file" in args] == ["start", "run"]

    # a kept process that died is replaced (the request answered the one-shot way first)
    assert store._batch is not None
    store._batch.proc.kill()
    store._batch.proc.wait()
    assert store.read_blobs([f"{tree}:gitkube.yaml"]) == {f"{tree}:gitkube.yaml": config}
    assert store.read_blobs([f"{tree}:gitkube.yaml"]) == {f"{tree}:gitkube.yaml": config}
    assert [how for how, args in events if "cat-file" in args] == ["start", "run", "start"]


def test_a_commit_id_is_resolved_once_a_name_every_time(git_repo, monkeypatch):
    repo = git_repo()
    store = GitStore(repo)
    calls = count_processes(monkeypatch)
    head = store.resolve_commit("HEAD")
    assert store.resolve_commit(head[0]) == store.resolve_commit(head[0]) == head
    assert len(calls) == 2  # HEAD, then the id once
    edit(repo, app_files("frontend", replicas=3))
    moved = commit_all(repo)
    assert store.resolve_commit("HEAD")[0] == moved != head[0]


def test_the_inventory_is_handed_to_git_before_the_rest_is_worked_out(git_repo, monkeypatch):
    repo = git_repo()
    render_to_branch(repo)
    edit(repo, app_files("frontend", replicas=3))
    commit_all(repo)
    events = record_git(monkeypatch)
    assert render_to_branch(repo).changed
    commands = [
        (how, next(a for a in args if not a.startswith("-") and "=" not in a))
        for how, args in events
    ]
    imports = [c for c in commands if c[1] == "fast-import"]
    assert imports == [("start", "fast-import")]  # one process, started early
    # started before the commit's message, the tip and the new tree are worked out
    assert commands.index(("start", "fast-import")) < commands.index(("run", "log"))
    assert git(repo, "show", f"rendered:{INVENTORY_FILE}").startswith("apiVersion")
    assert "replicas: 3" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")


def test_a_clean_work_tree_gets_no_note_without_asking_for_head(git_repo, monkeypatch):
    repo = git_repo()
    events = record_git(monkeypatch)
    assert branch.uncommitted_note(repo) is None
    assert [args[0] for _how, args in events] == ["status"]
    (repo / "notes.txt").write_text("draft\n")
    assert "1 uncommitted change left out" in (branch.uncommitted_note(repo) or "")
    fresh = repo.parent / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    (fresh / "gitkube.yaml").write_text("namespace: default\n")
    assert branch.uncommitted_note(fresh) is None  # nothing committed: the render says so
