"""The git processes a render starts for every commit: a work tree's repository is opened,
a commit and its tree resolved, a branch tip read, each by one process; odd cases still
get the careful answer (a bare repository, a missing branch, a ref that looks like an option)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gitkube.primitives.gitstore as gitstore
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_to_branch
from tests.branch.conftest import git


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
