"""Rendered objects parsed once and kept by blob id (gitkube/sync/parsed_cache.py), with real git."""

from __future__ import annotations

import json

import pytest

from gitkube.primitives import yamlio
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.sync import desired as desired_module
from gitkube.sync.desired import load_desired
from gitkube.sync.parsed_cache import CACHE_ENV_OFF, cache_file
from tests.sync.conftest import CONFIGMAP, git


@pytest.fixture
def rendered(make_repo, cli):
    files = {f"apps/a{i}/cm.yaml": CONFIGMAP.format(name=f"cm{i}", value="v1") for i in range(5)}
    repo = make_repo(files)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "one")
    result = cli("render", repo)
    assert result.returncode == 0, result.stderr
    return repo


@pytest.fixture
def parses(monkeypatch):
    """The files load_desired parses (yamlio.load_one, still the real parser)."""
    seen: list[str] = []
    real = yamlio.load_one

    def counting(text, path):  # type: ignore[no-untyped-def]
        seen.append(path.rsplit(":", 1)[-1])
        return real(text, path)

    monkeypatch.setattr(desired_module, "load_one", counting)
    return seen


def test_the_same_commit_is_parsed_once(rendered, parses):
    first = load_desired(GitStore(rendered), "refs/heads/rendered")
    assert len(parses) == 6  # five objects and the inventory
    assert cache_file(GitStore(rendered)).is_file()
    parses.clear()
    second = load_desired(GitStore(rendered), "refs/heads/rendered")
    assert parses == []
    assert [(o.path, o.body, o.app) for o in second.objects] == [
        (o.path, o.body, o.app) for o in first.objects
    ]


def test_a_new_commit_parses_only_the_blobs_it_changed(rendered, parses, cli):
    load_desired(GitStore(rendered), "refs/heads/rendered")
    (rendered / "apps/a3/cm.yaml").write_text(CONFIGMAP.format(name="cm3", value="v2"))
    git(rendered, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qam", "two")
    assert cli("render", rendered).returncode == 0
    parses.clear()
    state = load_desired(GitStore(rendered), "refs/heads/rendered")
    assert sorted(parses) == ["apps/a3/configmap-cm3.yaml", "gitkube-inventory.yaml"]
    (changed,) = [o for o in state.objects if o.path == "apps/a3/configmap-cm3.yaml"]
    assert changed.body["data"] == {"key": "v2"}


def test_a_tampered_file_is_refused_though_the_commit_before_was_cached(rendered):
    load_desired(GitStore(rendered), "refs/heads/rendered")
    work = rendered.parent / "rendered-work"
    git(rendered, "worktree", "add", "-q", str(work), "rendered")
    (work / "apps/a3/configmap-cm3.yaml").write_text(CONFIGMAP.format(name="cm3", value="evil"))
    git(work, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qam", "tamper")
    with pytest.raises(
        GitkubeError, match=r"apps/a3/configmap-cm3\.yaml does not match its inventory hash"
    ):
        load_desired(GitStore(rendered), "refs/heads/rendered")


def test_a_corrupt_or_disabled_cache_is_only_a_cold_one(rendered, parses, monkeypatch):
    path = cache_file(GitStore(rendered))
    expected = load_desired(GitStore(rendered), "refs/heads/rendered").objects
    path.write_text("{not json")
    parses.clear()
    again = load_desired(GitStore(rendered), "refs/heads/rendered").objects
    assert len(parses) == 6
    assert [o.body for o in again] == [o.body for o in expected]
    assert json.loads(path.read_text())["format"] == 1  # written afresh
    monkeypatch.setenv(CACHE_ENV_OFF, "1")
    parses.clear()
    load_desired(GitStore(rendered), "refs/heads/rendered")
    assert len(parses) == 6
