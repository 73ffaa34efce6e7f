"""One changed app is checked against the others' cached summaries, never their objects;
whenever the summaries cannot prove the repo clean, the full check runs and the
result (objects, warnings, error) is the full render's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gitkube.render.cache as render_cache
from gitkube.plugin_api import hookimpl
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_commit
from tests.branch.conftest import app_files, commit_all, edit

NAMES = ("alpha", "beta", "gamma", "delta")


class Spy:
    """Counts cached apps parsed back into objects and full repo-wide checks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed = 0
        self.full_checks = 0
        parse, check = render_cache.app_from_line, render_cache.check_repo

        def counting_parse(raw: bytes) -> Any:
            self.parsed += 1
            return parse(raw)

        def counting_check(*args: Any, **kwargs: Any) -> Any:
            self.full_checks += 1
            return check(*args, **kwargs)

        monkeypatch.setattr(render_cache, "app_from_line", counting_parse)
        monkeypatch.setattr(render_cache, "check_repo", counting_check)


def outcome(repo: Path, use_cache: bool, plugins: Any = ()) -> tuple[Any, ...] | str:
    try:
        commit, _tree, rendered = render_commit(
            GitStore(repo), "HEAD", use_cache=use_cache, plugins=plugins
        )
    except GitkubeError as exc:
        return str(exc)
    return (
        dict(rendered.object_ids),
        rendered.inventory_bytes(commit),
        [str(w) for w in rendered.warnings],
    )


@pytest.fixture
def apps_repo(git_repo) -> Path:
    files: dict[str, str] = {}
    for name in NAMES:
        files.update(app_files(name))
    return git_repo(files)


def test_one_changed_app_is_checked_from_the_summaries(apps_repo, monkeypatch):
    outcome(apps_repo, use_cache=True)  # fills the cache
    edit(apps_repo, app_files("beta", replicas=3))
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = outcome(apps_repo, use_cache=True)
    assert (spy.parsed, spy.full_checks) == (0, 0)
    assert cached == outcome(apps_repo, use_cache=False)


def test_a_dependency_on_a_cached_app_holds_and_its_removal_is_the_full_error(
    apps_repo, monkeypatch
):
    edit(apps_repo, {"web/beta/app.yaml": "dependsOn: [web/alpha]\n"})
    commit_all(apps_repo)
    outcome(apps_repo, use_cache=True)
    edit(apps_repo, app_files("beta", replicas=2))
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = outcome(apps_repo, use_cache=True)
    assert (spy.parsed, spy.full_checks) == (0, 0)  # the graph came from the summaries
    assert cached == outcome(apps_repo, use_cache=False)

    edit(apps_repo, {"web/gamma/app.yaml": "dependsOn: [web/nowhere]\n"})
    commit_all(apps_repo)
    cached = outcome(apps_repo, use_cache=True)
    assert isinstance(cached, str) and "web/nowhere" in cached
    assert cached == outcome(apps_repo, use_cache=False)


def test_a_duplicate_across_apps_is_the_full_render_error(apps_repo):
    outcome(apps_repo, use_cache=True)
    copy = app_files("alpha", where="copy")  # web/alpha's objects again, in another app
    edit(apps_repo, copy)
    commit_all(apps_repo)
    cached = outcome(apps_repo, use_cache=True)
    assert isinstance(cached, str) and "defined twice" in cached
    assert cached == outcome(apps_repo, use_cache=False)


def test_a_cached_app_with_a_warning_keeps_it_as_the_full_render_does(apps_repo, monkeypatch):
    floating = app_files("gamma")
    floating["web/gamma/deployment.yaml"] = floating["web/gamma/deployment.yaml"].replace(
        '"nginx:1.25"', "nginx"
    )
    edit(apps_repo, floating)
    commit_all(apps_repo)
    outcome(apps_repo, use_cache=True)
    edit(apps_repo, app_files("beta", replicas=5))
    commit_all(apps_repo)
    spy = Spy(monkeypatch)
    cached = outcome(apps_repo, use_cache=True)
    assert spy.full_checks == 1  # gamma's summary is not clean: the full check runs
    assert spy.parsed == len(NAMES) - 1  # over every cached app's objects
    assert isinstance(cached, tuple) and any("without a fixed tag" in w for w in cached[2])
    assert cached == outcome(apps_repo, use_cache=False)


class EveryObject:
    """A third-party validator: it may look across apps, so it sees every object."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @hookimpl
    def gitkube_validate(self, resources: list[Any], ctx: Any) -> list[Any]:
        self.seen.append(len(resources))
        return []


def test_a_third_party_validator_gets_every_object(apps_repo):
    plugin = EveryObject()
    plugins = [("every-object", plugin)]
    outcome(apps_repo, use_cache=True, plugins=plugins)
    edit(apps_repo, app_files("delta", replicas=2))
    commit_all(apps_repo)
    outcome(apps_repo, use_cache=True, plugins=plugins)
    assert plugin.seen == [2 * len(NAMES), 2 * len(NAMES)]
