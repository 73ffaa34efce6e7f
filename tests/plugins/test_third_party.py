"""A separately packaged plugin, installed for real, takes part in `gitkube render`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: "busybox:1.36"}]}
"""


@pytest.fixture
def plugin_site(sample_plugin_site: Path) -> Path:
    """The sample distribution pip-installed into its own directory (tests/conftest.py)."""
    assert list(sample_plugin_site.glob("gitkube_sample_plugin-1.2.3.dist-info/entry_points.txt"))
    return sample_plugin_site


def test_entry_point_plugin_runs_in_real_render(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo({"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD})
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out, env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    pod = yaml.safe_load((out / "web/a/pod-p.yaml").read_text())
    assert pod["metadata"]["annotations"]["example.com/greeting"] == "hello"
    inventory = yaml.safe_load((out / "gitkube-inventory.yaml").read_text())
    assert inventory["plugins"]["greeter"] == "1.2.3"


def test_plugins_command_lists_it_after_the_builtins(plugin_site, cli):
    result = cli.subprocess("plugins", "-o", "json", env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    plugins = json.loads(result.stdout)
    names = [p["name"] for p in plugins]
    assert names == [
        "plain",
        "kustomize",
        "helm",
        "labels",
        "image",
        "volumes",
        "disk",
        "external",
        "checks",
        "gce_target",
        "kubernetes_target",
        "health",
        "notify",
        "greeter",
    ]
    greeter = plugins[-1]
    assert greeter == {
        "name": "greeter",
        "version": "1.2.3",
        "builtin": False,
        "hooks": ["gitkube_app_keys", "gitkube_transform"],
        "appKeys": ["greeting"],
        "schemas": {"greeting": {"type": "string"}},
    }


def test_disabled_by_environment(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo({"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD})
    result = cli.subprocess(
        "render",
        repo,
        "--out",
        tmp_path / "out",
        env={"PYTHONPATH": str(plugin_site), "GITKUBE_DISABLE_PLUGINS": "greeter"},
    )
    # With the plugin off, its key is unknown again: the user hears about it.
    assert result.returncode == 1
    assert 'unknown key "greeting"' in result.stderr and "web/a/app.yaml" in result.stderr


def test_disabled_by_config(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/pod.yaml": POD},
        config="cluster: {name: home}\nplugins: {disable: [greeter, labels]}\n",
    )
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out, env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    pod = yaml.safe_load((out / "web/a/pod-p.yaml").read_text())
    assert "app" not in pod["metadata"]["labels"]
    inventory = yaml.safe_load((out / "gitkube-inventory.yaml").read_text())
    assert "greeter" not in inventory["plugins"] and "labels" not in inventory["plugins"]


REQUIRE = "cluster: {{name: home}}\nplugins: {{require: ['{}']}}\n"


def test_required_plugin_present_renders(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD},
        config=REQUIRE.format("gitkube-sample-plugin>=1.2,<2"),
    )
    result = cli.subprocess(
        "render", repo, "--out", tmp_path / "out", env={"PYTHONPATH": str(plugin_site)}
    )
    assert result.returncode == 0, result.stderr


def test_required_plugin_missing_fails_early_naming_it(make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD},
        config=REQUIRE.format("gitkube-sample-plugin>=1.2"),
    )
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: gitkube.yaml: plugins.require: ")
    assert "gitkube-sample-plugin is not installed" in line and "unknown key" not in line
    assert not out.exists()


def test_required_plugin_with_another_version_fails(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD}, config=REQUIRE.format("gitkube-sample-plugin>=2"))
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out, env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 1
    assert (
        '"gitkube-sample-plugin>=2" is required but gitkube-sample-plugin 1.2.3 is installed'
        in (result.stderr)
    )
    assert not out.exists()


def test_required_entry_must_be_a_requirement(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/pod.yaml": POD}, config=REQUIRE.format("gitkube sample >> 1"))
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert 'gitkube.yaml: plugins.require: "gitkube sample >> 1" is not a valid requirement' in (
        result.stderr
    )


def test_unknown_key_without_its_plugin_hints_at_plugins_require(make_repo, cli, tmp_path):
    repo = make_repo({"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD})
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert 'unknown key "greeting"' in result.stderr
    assert "not installed where gitkube runs" in result.stderr
    assert "plugins.require" in result.stderr


def test_options_for_a_plugin_that_is_not_installed(make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/pod.yaml": POD}, config="cluster: {name: home}\nplugins: {options: {lables: {}}}\n"
    )
    result = cli("render", repo, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert 'plugins.options.lables: no plugin "lables" is active (did you mean "labels"?)' in (
        result.stderr
    )


def test_options_for_a_plugin_without_an_options_schema(plugin_site, make_repo, cli, tmp_path):
    repo = make_repo(
        {"web/a/pod.yaml": POD},
        config="cluster: {name: home}\nplugins: {options: {greeter: {a: 1}}}\n",
    )
    result = cli.subprocess(
        "render", repo, "--out", tmp_path / "out", env={"PYTHONPATH": str(plugin_site)}
    )
    assert result.returncode == 1
    assert "plugins.options.greeter: plugin greeter takes no options" in result.stderr


def test_fixture_registers_a_plugin_that_is_also_installed(
    plugin_site, monkeypatch, gitkube_plugin, gitkube_render
):
    """The plugin author's recipe while the plugin is pip-installed (entry point
    ``greeter``): one registration, not "Plugin already registered"."""
    monkeypatch.syspath_prepend(str(plugin_site))
    import gitkube_sample_plugin

    gitkube_plugin(gitkube_sample_plugin)
    rendered = gitkube_render({"web/a/app.yaml": "greeting: hello\n", "web/a/pod.yaml": POD})
    pod = rendered.object("Pod", "p")
    assert pod["metadata"]["annotations"]["example.com/greeting"] == "hello"
