"""The CLI a new user and a plugin author meet: explain, --debug."""

from __future__ import annotations

import json

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n"


class Broken:
    """A plugin with a bug: it guesses an attribute App does not have."""

    @staticmethod
    def gitkube_generate(app, ctx):
        return app.resources


def _broken():
    from gitkube.plugin_api import hookimpl

    plugin = Broken()
    plugin.gitkube_generate = hookimpl(Broken.gitkube_generate)  # type: ignore[method-assign]
    return plugin


def test_explain_an_app_key_with_its_fields(cli):
    result = cli("explain", "external")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("app.yaml: `external`")
    assert "owner: external" in result.stdout
    assert "address: frontend-ip" in result.stdout  # the example
    assert "  ports" in result.stdout and "list of integer, required" in result.stdout


def test_explain_a_nested_gitkube_yaml_key_as_json(cli):
    result = cli("explain", "sync.maxPruneFraction", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["file"] == "gitkube.yaml" and data["key"] == "sync.maxPruneFraction"
    assert data["schema"]["default"] == 0.3


def test_explain_unknown_key_suggests_one(cli):
    result = cli("explain", "disks.sizeGB")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'error: no key "disks.sizeGB" in gitkube.yaml or app.yaml (did you mean '
        '"disks[].sizeGb"?); see docs/reference.md or `gitkube plugins`'
    ]


def test_a_plugin_bug_is_one_line_without_debug(gitkube_plugin, make_repo, cli, tmp_path):
    gitkube_plugin(_broken(), "broken")
    repo = make_repo({"web/a/pod.yaml": POD})
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: app web/a, plugin broken: plugin raised AttributeError: "
        "'App' object has no attribute 'resources'"
    ]


def test_debug_prints_the_plugins_traceback(gitkube_plugin, make_repo, cli, tmp_path):
    gitkube_plugin(_broken(), "broken")
    repo = make_repo({"web/a/pod.yaml": POD})
    result = cli("--debug", "render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "return app.resources" in result.stderr  # the plugin's own line
    assert result.stderr.strip().splitlines()[-1].startswith("error: app web/a, plugin broken")
    assert not (tmp_path / "out").exists()


def test_plugins_required_prints_requirement_lines(make_repo, cli):
    repo = make_repo(
        {}, config="cluster: {name: home}\nplugins: {require: ['gitkube-hpa >= 1.0, < 2', b]}\n"
    )
    result = cli("plugins", repo, "--required")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "gitkube-hpa<2,>=1.0\nb\n"
    assert cli("plugins", repo, "--required", "-o", "json").stdout.split() == [
        "[",
        '"gitkube-hpa<2,>=1.0",',
        '"b"',
        "]",
    ]


def test_plugins_of_a_missing_directory_fails(cli, tmp_path):
    result = cli("plugins", tmp_path / "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such directory"
