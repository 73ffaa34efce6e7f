"""What a command imports before it works: `--version` no command line, a render no
Compute Engine client (both are seconds of start-up on a small machine)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules), file=sys.stderr)\n"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return set(proc.stderr.split())


def test_version_answers_without_importing_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "gitkube", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith("gitkube ")
    modules = _modules_after(
        "import sys\nsys.argv = ['gitkube', '--version']\nfrom gitkube.__main__ import main\nmain()"
    )
    assert "gitkube.cli" not in modules
    assert "typer" not in modules


def test_other_arguments_reach_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "gitkube", "--version", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("gitkube "), proc.stdout  # typer's eager --version


def test_building_the_plugins_leaves_the_compute_client_unimported():
    modules = _modules_after(
        "from gitkube.domain.plugin_manager import build_plugin_manager\n"
        "build_plugin_manager(builtins_only=True)"
    )
    assert "gitkube_plugins.gce.client" in modules  # the GCE target is registered
    assert "google.cloud.compute_v1" not in modules


def test_a_render_leaves_http_and_decryption_unimported():
    # Every render builds the plugins (notify among them) and the pipeline (which knows
    # SOPS files); only a notification posts, only a SOPS file decrypts.
    modules = _modules_after(
        "from gitkube.domain.plugin_manager import build_plugin_manager\n"
        "import gitkube.render.pipeline, gitkube.render.overlays\n"
        "build_plugin_manager(builtins_only=True)"
    )
    assert "gitkube.primitives.sops" in modules and "gitkube_plugins.notify" in modules
    for heavy in ("urllib.request", "http.client", "cryptography", "difflib"):
        assert heavy not in modules, heavy
