"""``gitkube init DIR``: a new config repo from the bundled repo-template."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from gitkube.commands.secret import seed_secrets
from gitkube.primitives.errors import GitkubeError

TEMPLATE_PACKAGE = "gitkube_repo_template"


def template_root() -> Path:
    """The installed repo-template (a data-only package, so no importlib.resources)."""
    spec = importlib.util.find_spec(TEMPLATE_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location, "gitkube.yaml").is_file():
            return Path(location)
    raise GitkubeError(f"the {TEMPLATE_PACKAGE} package is missing; reinstall gitkube")


def init_repo(target: Path, age_key_file: Path | None = None) -> list[str]:
    """Copy the template into ``target`` (new or empty); return the files written.

    The template's SOPS Secrets are encrypted to a public demo key; with
    ``age_key_file`` a fresh age identity is appended there and the secrets get
    new random values encrypted to it (``secrets.age`` and ``.sops.yaml`` follow).
    """
    if target.exists() and any(target.iterdir()):
        raise GitkubeError(
            "directory is not empty; gitkube init only fills a new directory", file=str(target)
        )
    source = template_root()
    shutil.copytree(
        source,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "*.pyc"),
    )
    if age_key_file is not None:
        seed_secrets(target, age_key_file)
    return sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
