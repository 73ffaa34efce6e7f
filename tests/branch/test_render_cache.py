"""The render cache: reused when inputs match, ignored when damaged, never changes the output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import gitkube.render.cache as render_cache
import gitkube.render.entries as render_entries
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import cache_dir, render_commit, render_to_branch
from tests.branch.conftest import app_files, commit_all, edit, git
from tests.conftest import REPO_ROOT


def _template_files() -> tuple[dict[str, str], str]:
    template = REPO_ROOT / "repo-template"
    files = {
        str(p.relative_to(template)): p.read_text()
        for p in template.rglob("*.yaml")
        if not any(part.startswith(".") for part in p.relative_to(template).parts)
        and p.name != "gitkube.yaml"
    }
    return files, (template / "gitkube.yaml").read_text()


@pytest.fixture
def big_repo(git_repo):
    files, config = _template_files()
    for name in ("alpha", "beta", "gamma"):
        files.update(app_files(name, where="more"))
    files["more/ops/role.yaml"] = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
        "metadata: {name: reader, namespace: kube-system}\nrules: []\n"
    )
    files["more/ops/cm.yaml"] = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "yes"}\n'
    return git_repo(files, config=config)


class RenderSpy:
    """Records which files each render_tree call parsed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        real = render_cache.render_tree

        def spy(tree, **kwargs):
            self.calls.append(tree.files())
            return real(tree, **kwargs)

        monkeypatch.setattr(render_cache, "render_tree", spy)
        monkeypatch.setattr(render_entries, "render_tree", spy)  # through render_apps


def test_one_app_change_renders_one_app_and_matches_a_full_render(big_repo, monkeypatch):
    render_to_branch(big_repo)  # fills the cache
    edit(big_repo, app_files("beta", replicas=4, where="more"))
    commit_all(big_repo)
    spy = RenderSpy(monkeypatch)
    cached = render_to_branch(big_repo, branch="cached")
    assert spy.calls == [["gitkube.yaml", "more/beta/deployment.yaml", "more/beta/service.yaml"]]
    full = render_to_branch(big_repo, branch="full", use_cache=False)
    assert cached.changed and full.changed
    assert git(big_repo, "rev-parse", "cached^{tree}") == git(big_repo, "rev-parse", "full^{tree}")
    assert "replicas: 4" in git(big_repo, "show", "cached:more/beta/deployment-beta.yaml")


def test_same_tree_again_parses_nothing(big_repo, monkeypatch):
    render_to_branch(big_repo)
    git(big_repo, "commit", "-q", "--allow-empty", "-m", "same tree, new commit")
    spy = RenderSpy(monkeypatch)
    summary = render_to_branch(big_repo)
    assert spy.calls == []
    assert summary.changed  # a new source commit: the inventory names it
    full = render_to_branch(big_repo, branch="full", use_cache=False)
    assert full.changed
    assert git(big_repo, "rev-parse", "rendered^{tree}") == git(
        big_repo, "rev-parse", "full^{tree}"
    )


def test_config_change_invalidates_every_app(big_repo, monkeypatch):
    render_to_branch(big_repo)
    config = (
        (big_repo / "gitkube.yaml").read_text().replace("namespace: default", "namespace: prod")
    )
    (big_repo / "gitkube.yaml").write_text(config)
    commit_all(big_repo)
    spy = RenderSpy(monkeypatch)
    render_to_branch(big_repo)
    assert len(spy.calls) == 1 and "more/beta/service.yaml" in spy.calls[0]
    assert "namespace: prod" in git(big_repo, "show", "rendered:more/beta/service-beta.yaml")


def _damage(root: Path, how: str) -> int:
    count = 0
    for path in root.rglob("*"):
        if path.is_file():
            count += 1
            data = path.read_bytes()
            if how == "truncate":
                path.write_bytes(data[: len(data) // 2])
            elif how == "flip":
                i = len(data) - 10
                path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
            elif how == "garbage":
                path.write_bytes(b"\x00\xff not a cache entry")
            elif how == "empty":
                path.write_bytes(b"")
    return count


@pytest.mark.parametrize("how", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_cache_entries_are_ignored(big_repo, monkeypatch, how):
    render_to_branch(big_repo, branch="first")
    store = GitStore(big_repo)
    assert _damage(cache_dir(store), how) > 0
    spy = RenderSpy(monkeypatch)
    _commit, _tree, rendered = render_commit(store, "HEAD")
    assert rendered.cache_hits == 0
    assert len(spy.calls) == 1  # rendered from scratch
    render_to_branch(big_repo, branch="second")
    assert git(big_repo, "rev-parse", "first^{tree}") == git(big_repo, "rev-parse", "second^{tree}")


def test_flipped_bit_in_an_app_entry_is_never_used(big_repo):
    """A damaged entry whose JSON still parses must fail its checksum, not render stale bytes."""
    render_to_branch(big_repo, branch="first")
    store = GitStore(big_repo)
    for path in (cache_dir(store) / "apps").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes().replace(b"replicas: 1", b"replicas: 9"))
    edit(big_repo, app_files("beta", replicas=2, where="more"))
    commit_all(big_repo)
    render_to_branch(big_repo)
    assert "replicas: 9" not in git(big_repo, "show", "rendered:more/alpha/deployment-alpha.yaml")


def test_cache_lives_in_the_git_dir_and_is_safe_to_delete(big_repo, cli):
    assert cli("render", big_repo).returncode == 0
    store = GitStore(big_repo)
    root = cache_dir(store)
    assert root.is_dir() and root.is_relative_to(big_repo / ".git")
    assert git(big_repo, "status", "--porcelain") == ""
    before = git(big_repo, "rev-parse", "rendered")
    shutil.rmtree(root)
    assert cli("render", big_repo).returncode == 0
    assert git(big_repo, "rev-parse", "rendered") == before


def test_plugin_code_edit_changes_the_key(big_repo, monkeypatch):
    store = GitStore(big_repo)
    render_commit(store, "HEAD")
    _c, _t, again = render_commit(store, "HEAD")
    assert again.cache_hits > 0
    real = render_cache._code_stamp
    monkeypatch.setattr(render_cache, "_code_stamp", lambda hooks: [*real(hooks), "edited"])
    _c, _t, after = render_commit(store, "HEAD")
    assert after.cache_hits == 0


def test_inventory_file_name_matches_the_renderer():
    from gitkube.render import branch as command
    from gitkube.render import pipeline as domain

    assert command.INVENTORY_FILE == domain.INVENTORY_FILE


class NoRender:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import gitkube.render.branch as command

        def refuse(*args, **kwargs):
            raise AssertionError("rendered although nothing changed")

        monkeypatch.setattr(command, "render_commit", refuse)


def test_unchanged_render_answers_from_the_stamp(git_repo, monkeypatch):
    repo = git_repo()
    first = render_to_branch(repo)
    with monkeypatch.context() as patch:
        NoRender(patch)
        again = render_to_branch(repo)
    assert not again.changed and again.commit == first.commit
    assert (again.objects, again.apps, again.output) == (first.objects, first.apps, "rendered")


def test_stamp_not_trusted_when_the_branch_moved(git_repo, monkeypatch):
    repo = git_repo()
    render_to_branch(repo)
    old = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=2))
    commit_all(repo)
    render_to_branch(repo)  # the branch moves on
    summary = render_to_branch(repo, ref=old)  # the old source again: a new commit is due
    assert summary.changed
    assert git(repo, "rev-parse", "rendered") == summary.commit


def test_stamp_not_trusted_when_watched_code_changed(git_repo, monkeypatch, tmp_path):
    import gitkube.render.branch as command

    plugin_file = tmp_path / "plugin.py"
    plugin_file.write_text("v1")
    real = command._watched_paths
    monkeypatch.setattr(command, "_watched_paths", lambda r: [*real(r), str(plugin_file)])
    repo = git_repo()
    render_to_branch(repo)
    assert command.quick_unchanged(repo, "HEAD", None) is not None
    plugin_file.write_text("v2 changed")
    assert command.quick_unchanged(repo, "HEAD", None) is None
    render_to_branch(repo)  # renders (from the cache) and stamps again
    assert command.quick_unchanged(repo, "HEAD", None) is not None
    plugin_file.write_text("v3 changed again")
    assert command.quick_unchanged(repo, "HEAD", None) is None


def test_progress_reports_only_real_work(big_repo):
    notes: list[str] = []
    summary = render_to_branch(big_repo, progress=notes.append)
    apps = summary.apps
    assert notes == [f"HEAD: rendering {apps} of {apps} apps"]
    edit(big_repo, app_files("beta", replicas=3, where="more"))
    commit_all(big_repo)
    render_to_branch(big_repo, progress=notes.append)
    assert notes[1:] == [f"HEAD: rendering 1 of {apps} apps"]
    git(big_repo, "commit", "-q", "--allow-empty", "-m", "same tree")
    render_to_branch(big_repo, progress=notes.append)
    assert len(notes) == 2  # nothing to render: nothing said


def test_noop_stamps_are_bounded(git_repo, monkeypatch):
    import gitkube.render.branch as command

    monkeypatch.setattr(command, "KEEP_STAMPS", 2)
    repo = git_repo()
    for n in range(4):
        edit(repo, app_files("frontend", replicas=n + 2))
        commit_all(repo)
        render_to_branch(repo)
    stamps = list((cache_dir(GitStore(repo)) / "noop").iterdir())
    assert len(stamps) == 2
    assert command.quick_unchanged(repo, "HEAD", None) is not None  # the newest is kept


def test_the_code_stamp_names_modules_that_exist():
    package = Path(render_cache.__file__).resolve().parent.parent
    missing = [m for m in render_cache.RENDER_MODULES if not (package / m).is_file()]
    assert missing == []
