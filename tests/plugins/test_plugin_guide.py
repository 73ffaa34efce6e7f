"""docs/plugins.md's worked plugin, taken from the page as written, installed and used.

A reader who copies the three files of the guide gets a plugin that installs,
whose own tests pass with gitkube's fixtures (while it is also installed
through its entry point), and that renders in `gitkube render` with its
options, its requirement in gitkube.yaml and its errors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "plugins.md"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: nginx}]
"""
CONFIG = "cluster: {name: home}\nplugins: {require: ['gitkube-hpa>=1.0,<2'], options: {hpa: {cpuPercent: 70}}}\n"


def guide_files() -> dict[str, str]:
    blocks = re.findall(
        r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL
    )
    return dict(blocks)


@pytest.fixture(scope="module")
def hpa_site(tmp_path_factory) -> tuple[Path, Path]:
    """(the plugin's source directory, where it is pip-installed)."""
    root = tmp_path_factory.mktemp("guide")
    for rel, text in guide_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root / "gitkube-hpa"),
        ],
        check=True,
    )
    return root / "gitkube-hpa", site


def test_the_guide_has_the_three_files():
    assert set(guide_files()) == {
        "gitkube-hpa/gitkube_hpa.py",
        "gitkube-hpa/pyproject.toml",
        "gitkube-hpa/test_gitkube_hpa.py",
    }


def test_the_plugins_own_tests_pass_while_it_is_installed(hpa_site):
    source, site = hpa_site
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_gitkube_hpa.py"],
        cwd=source,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_it_renders_with_its_options(hpa_site, make_repo, cli, tmp_path):
    _, site = hpa_site
    repo = make_repo(
        {"shop/app.yaml": "autoscale: {min: 2, max: 5}\n", "shop/deploy.yaml": DEPLOYMENT},
        config=CONFIG,
    )
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out, env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    hpa = yaml.safe_load((out / "shop/horizontalpodautoscaler-web.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web"
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert 'container "web" requests no CPU' in result.stderr  # the validator's warning
    explained = cli.subprocess("explain", "autoscale.max", env={"PYTHONPATH": str(site)})
    assert explained.returncode == 0, explained.stderr
    assert "Most replicas" in explained.stdout and "hpa" in explained.stdout


def test_a_misspelt_option_is_refused_with_a_suggestion(hpa_site, make_repo, cli, tmp_path):
    _, site = hpa_site
    repo = make_repo(
        {"shop/app.yaml": "autoscale: {max: 5}\n", "shop/deploy.yaml": DEPLOYMENT},
        config="cluster: {name: home}\nplugins: {options: {hpa: {cpuPercnt: 70}}}\n",
    )
    out = tmp_path / "out"
    result = cli.subprocess("render", repo, "--out", out, env={"PYTHONPATH": str(site)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'error: gitkube.yaml, plugin hpa: plugins.options.hpa: unknown key "cpuPercnt" '
        'at top level (did you mean "cpuPercent"?)'
    ]
    assert not out.exists()


def test_a_plugin_error_names_file_app_and_plugin(hpa_site, make_repo, cli, tmp_path):
    _, site = hpa_site
    repo = make_repo({"shop/app.yaml": "autoscale: {min: 5, max: 4}\n", "shop/d.yaml": DEPLOYMENT})
    result = cli.subprocess(
        "render", repo, "--out", tmp_path / "out", env={"PYTHONPATH": str(site)}
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: shop/app.yaml, app shop, plugin hpa: autoscale: min 5 is above max 4"
    )
