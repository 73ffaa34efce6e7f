"""Bad input gets one readable message naming the file, a non-zero exit and no output."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gitkube.plugin_api import hookimpl
from tests.conftest import MINIMAL_CONFIG

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: "busybox:1.36"}]}
"""


def render_fails(cli, repo: Path, out: Path, *expected: str) -> str:
    """Render, expect failure, and check the message and that nothing was written."""
    result = cli("render", repo, "--out", out)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert message.startswith("error: ")
    assert len(message.splitlines()) == 1 or "\n" not in expected[0], message
    for text in expected:
        assert text in message, message
    assert not out.exists(), "a failed render must leave no output"
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == [], leftovers
    return message


def test_malformed_yaml_names_file_and_line(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [p\n"})
    render_fails(cli, repo, tmp_path / "out", "web/a/pod.yaml:", "malformed YAML")


def test_duplicate_mapping_keys(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD + "kind: Service\n"})
    render_fails(cli, repo, tmp_path / "out", "web/a/pod.yaml:5", "duplicate")


def test_document_without_kind(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/cm.yaml": POD + "---\napiVersion: v1\nmetadata: {name: x}\n"})
    render_fails(cli, repo, tmp_path / "out", "web/a/cm.yaml", "document 2", "no kind")


def test_alias_bomb_is_refused_quickly(make_repo, cli, tmp_path):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        bomb += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  " + bomb.replace(
        "\n", "\n  "
    )
    repo = make_repo({"web/a/bomb.yaml": doc})
    started = time.monotonic()
    render_fails(cli, repo, tmp_path / "out", "web/a/bomb.yaml", "alias")
    # Not a timing assertion on speed: an unbounded walk would take hours.
    assert time.monotonic() - started < 60


def test_symlink_leaving_the_repo(make_repo, cli, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(POD)
    repo = make_repo({"web/a/pod.yaml": POD.replace("name: p", "name: q")})
    os.symlink(outside, repo / "web/a/stolen.yaml")
    render_fails(cli, repo, tmp_path / "out", "web/a/stolen.yaml", "symlink leaves the repository")


def test_symlink_inside_the_repo_is_read(make_repo, cli, tmp_path):
    repo = make_repo({"shared/pod.yaml": POD})
    (repo / "web/a").mkdir(parents=True)
    os.symlink(repo / "shared/pod.yaml", repo / "web/a/pod.yaml")
    result = cli("render", repo, "--out", tmp_path / "out")
    # Both directories hold the same Pod: the duplicate check names both files.
    assert result.returncode == 1
    assert "shared/pod.yaml" in result.stderr and "web/a/pod.yaml" in result.stderr


def test_unknown_plugin_in_config(make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/pod.yaml": POD}, config=MINIMAL_CONFIG + "plugins: {disable: [lables]}\n"
    )
    render_fails(cli, repo, tmp_path / "out", "gitkube.yaml", 'unknown plugin "lables"', '"labels"')


def test_unknown_plugin_in_environment(make_repo, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GITKUBE_DISABLE_PLUGINS", "nosuch")
    repo = make_repo({"web/a/pod.yaml": POD})
    render_fails(cli, repo, tmp_path / "out", "GITKUBE_DISABLE_PLUGINS", "nosuch")


class Exploding:
    @hookimpl
    def gitkube_transform(self, resource, ctx):
        raise ZeroDivisionError("boom")


def test_plugin_that_raises_is_named(make_repo, cli, tmp_path, gitkube_plugin):
    gitkube_plugin(Exploding(), name="exploding")
    repo = make_repo({"web/a/pod.yaml": POD})
    render_fails(
        cli,
        repo,
        tmp_path / "out",
        "plugin exploding",
        "web/a/pod.yaml",
        "app web/a",
        "ZeroDivisionError",
    )


def test_unknown_app_key_suggests_the_closest(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/app.yaml": "imagse: []\n", "web/a/pod.yaml": POD})
    render_fails(cli, repo, tmp_path / "out", "web/a/app.yaml", 'unknown key "imagse"', '"images"')


def test_app_key_with_wrong_shape_names_plugin(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/app.yaml": "external: {address: x}\n", "web/a/pod.yaml": POD})
    render_fails(cli, repo, tmp_path / "out", "web/a/app.yaml", "plugin external", "ports")


def test_unknown_config_key(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD}, config=MINIMAL_CONFIG + "namesapce: x\n")
    render_fails(cli, repo, tmp_path / "out", "gitkube.yaml", '"namespace"')


def test_plaintext_secret_refused_with_advice(make_repo, cli, tmp_path):
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n"
    repo = make_repo({"web/a/secret.yaml": secret})
    message = render_fails(cli, repo, tmp_path / "out", "web/a/secret.yaml", "plaintext Secret")
    assert "kubectl create secret" in message


def test_duplicate_identity_names_both_files(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD, "web/b/pod.yaml": POD})
    render_fails(cli, repo, tmp_path / "out", "web/a/pod.yaml", "web/b/pod.yaml", "defined twice")


def test_conflicting_app_label_is_not_overwritten(make_repo, cli, tmp_path):
    pod = POD.replace("metadata: {name: p}", "metadata: {name: p, labels: {app: other}}")
    # Without app.yaml the label would name the app; name: says otherwise.
    repo = make_repo({"web/a/pod.yaml": pod, "web/a/app.yaml": "name: a\n"})
    render_fails(cli, repo, tmp_path / "out", "web/a/pod.yaml", 'app: "other"', "set name:")


def test_failed_render_keeps_previous_output(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD})
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (repo / "web/a/bad.yaml").write_text("kind: [\n")
    result = cli("render", repo, "--out", out)
    assert result.returncode == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_refuses_to_replace_a_foreign_directory(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD})
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = cli("render", repo, "--out", out)
    assert result.returncode == 1 and "not written by gitkube" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"


def test_latest_image_is_a_warning_not_an_error(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD.replace("busybox:1.36", "busybox")})
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 0
    assert "warning:" in result.stderr and "busybox" in result.stderr


@pytest.mark.parametrize(
    "manifest", ["- just\n- a list\n", "apiVersion: v1\nkind: Pod\nmetadata: {}\n"]
)
def test_documents_that_are_not_named_objects(make_repo, cli, tmp_path, manifest):
    repo = make_repo({"web/a/x.yaml": manifest})
    render_fails(cli, repo, tmp_path / "out", "web/a/x.yaml")


class CountKey:
    """A plugin owning the app.yaml key ``count``: a whole number."""

    @hookimpl
    def gitkube_app_keys(self):
        return {"count": {"type": "integer"}}


def test_a_setting_checked_once_is_still_checked_for_every_other_value(monkeypatch):
    import jsonschema

    from gitkube.plugin_api import GitkubeError
    from gitkube.testing.plugin_fixtures import render_files

    checked = []
    real = jsonschema.exceptions.best_match

    def counting(errors, *args, **kwargs):
        checked.append(1)
        return real(errors, *args, **kwargs)

    monkeypatch.setattr(jsonschema.exceptions, "best_match", counting)
    apps = {f"web/a{i}/pod.yaml": POD.replace("name: p", f"name: p{i}") for i in range(6)}
    same = {f"web/a{i}/app.yaml": "count: 1\n" for i in range(6)}
    render_files(
        {"web/a0/pod.yaml": apps["web/a0/pod.yaml"], "web/a0/app.yaml": "count: 1\n"},
        plugins=[("count", CountKey())],
    )
    one_app = len(checked)
    checked.clear()
    render_files({**apps, **same}, plugins=[("count", CountKey())])
    assert len(checked) == one_app  # six apps, one value: its schema is asked once
    # true == 1 in Python: only the value as JSON tells them apart.
    with pytest.raises(GitkubeError, match="count") as refused:
        render_files(
            {**apps, **same, "web/a5/app.yaml": "count: true\n"}, plugins=[("count", CountKey())]
        )
    assert "web/a5/app.yaml" in str(refused.value)
