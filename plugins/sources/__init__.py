"""The built-in sources (``gitkube_source``): plain manifests, kustomize, helm.

``plain`` is the default: the first non-None result wins and it runs last.
``kustomize`` and ``helm`` run those tools on a private copy of the repo,
offline (the core refused remote bases and charts before they run), with
nothing of the user's configuration in their environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gitkube.plugin_api import GitkubeError

TOOL_TIMEOUT_SECONDS = 300


def find_tool(name: str) -> str | None:
    return shutil.which(name)


def run_tool(argv: list[str], *, cwd: Path, what: str, file: str, app: str) -> str:
    """Run a source tool; its failure is one error naming the file and app."""
    with tempfile.TemporaryDirectory(prefix="gitkube-tool-home-") as home:
        env = {
            "PATH": os.environ.get("PATH", ""),
            # nothing of the user's: no kubeconfig, helm repositories or logins
            "HOME": home,
            "KUBECONFIG": str(Path(home) / "no-kubeconfig"),
            "HELM_CACHE_HOME": str(Path(home) / "helm-cache"),
            "HELM_CONFIG_HOME": str(Path(home) / "helm-config"),
            "HELM_DATA_HOME": str(Path(home) / "helm-data"),
            "XDG_CONFIG_HOME": str(Path(home) / "config"),
        }
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=TOOL_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitkubeError(
                f"{what} did not finish in {TOOL_TIMEOUT_SECONDS}s", file=file, app=app
            ) from None
        except OSError as exc:
            raise GitkubeError(f"cannot run {what}: {exc}", file=file, app=app) from None
    if done.returncode != 0:
        # The tool names paths in the private copy: show them as repo paths.
        message = " ".join(done.stderr.replace(str(cwd) + "/", "").split())
        raise GitkubeError(f"{what} failed: {message[:1500]}", file=file, app=app)
    return done.stdout
