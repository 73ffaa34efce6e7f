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


# -- CLI conventions -----------------------------------------------------------


def test_dash_h_is_help_everywhere_and_help_ends_with_exit_codes(cli):
    from gitkube.cli import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"render", "diff", "plan", "sync", "version", "explain"} <= set(names)
    for args in ([], *([name] for name in names)):
        result = cli(*args, "-h")
        assert result.returncode == 0, (args, result.stderr)
        assert "Exit codes: 0 done; 1 an error" in " ".join(result.stdout.split()), args


def test_shell_completion_is_offered(cli):
    assert "--install-completion" in cli("--help").stdout


def test_dash_c_and_the_positional_repo_both_work(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD, "web/b/pod.yaml": POD.replace("name: p", "name: q")})
    by_option = cli("render", "-C", repo, "--out", tmp_path / "one")
    by_argument = cli("render", repo, "--out", tmp_path / "two")
    assert by_option.returncode == 0 and by_argument.returncode == 0, by_option.stderr
    assert (tmp_path / "one" / "web/a/pod-p.yaml").is_file()
    assert (tmp_path / "two" / "web/b/pod-q.yaml").is_file()
    assert cli("plugins", "--repo", repo, "--required").returncode == 0
    # With -C every positional is an app (render --out DIR APP...).
    only_a = cli("render", "-C", repo, "--out", tmp_path / "three", "web/a")
    assert only_a.returncode == 0, only_a.stderr
    assert (tmp_path / "three" / "web/a/pod-p.yaml").is_file()
    assert not (tmp_path / "three" / "web/b").exists()


def test_output_yaml_holds_what_json_holds(make_repo, cli, tmp_path):
    import yaml

    repo = make_repo({"web/a/pod.yaml": POD})
    as_json = json.loads(cli("render", repo, "--out", tmp_path / "j", "-o", "json").stdout)
    as_yaml = yaml.safe_load(cli("render", repo, "--out", tmp_path / "y", "-o", "yaml").stdout)
    as_json["output"] = as_yaml["output"] = None
    assert as_yaml == as_json
    assert yaml.safe_load(cli("explain", "disks", "-o", "yaml").stdout)["owner"] == "disk"


def test_version_json_lists_plugin_versions(cli, sample_plugin_site):
    result = cli.subprocess("version", "-o", "json", env={"PYTHONPATH": str(sample_plugin_site)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    from gitkube import __version__

    assert data["gitkube"] == __version__
    assert data["plugins"]["labels"] == __version__
    assert data["plugins"]["greeter"] == "1.2.3"


def _colored(env: dict[str, str]) -> str:
    from typer.testing import CliRunner

    from gitkube.cli import app

    result = CliRunner().invoke(app, ["plugins", "/nonexistent-dir"], color=True, env=env)
    assert result.exit_code == 1
    return result.stderr


def test_errors_are_red_unless_no_color_or_a_dumb_terminal():
    assert "\x1b[" in _colored({"TERM": "xterm"})
    assert "\x1b[" not in _colored({"TERM": "xterm", "NO_COLOR": "1"})
    assert "\x1b[" not in _colored({"TERM": "dumb"})


def test_only_takes_comma_lists():
    from gitkube.cli.sync_cli import _options

    options = _options(".", "rendered", None, None, None, ["kubernetes,gce"])
    assert options.only == frozenset({"kubernetes", "gce"})
    assert _options(".", "r", None, None, None, ["gce", "kubernetes"]).only == options.only


def test_errors_under_json_and_yaml_output_are_documents_too(make_repo, cli, tmp_path):
    import yaml

    repo = make_repo({"web/a/app.yaml": "extrnal: {}\n", "web/a/pod.yaml": POD})
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        result = cli("render", "-C", repo, "--out", tmp_path / fmt, "-o", fmt)
        assert result.returncode == 1
        error = load(result.stdout)["error"]
        assert error["file"] == "web/a/app.yaml" and error["exitCode"] == 1
        assert 'unknown key "extrnal"' in error["message"]
        assert result.stderr.startswith("error: web/a/app.yaml: ")  # the line for people stays
        assert not (tmp_path / fmt).exists()


def test_help_shows_flags_without_type_placeholders(cli):
    assert "<bool>" not in cli("render", "-h").stdout
    assert "--check" in cli("render", "-h").stdout
