"""What gitkube imports at run time is what pyproject.toml declares, and nothing more."""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
OWN = {"gitkube", "gitkube_plugins", "plugins"}


def _imported_modules() -> set[str]:
    """Every absolute import of gitkube's run-time code and the built-in plugins."""
    found: set[str] = set()
    files = [*(REPO_ROOT / "gitkube").rglob("*.py"), *(REPO_ROOT / "plugins").rglob("*.py")]
    for path in files:
        if "testing" in path.relative_to(REPO_ROOT).parts:
            continue  # the test kit's imports are the testing extra's business
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {
        m
        for m in found
        if m.split(".")[0] not in OWN and m.split(".")[0] not in sys.stdlib_module_names
    }


def _distribution_of(module: str, index: dict[Path, str]) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed"
    origin = Path(spec.origin).resolve()
    assert origin in index, f"no distribution ships {module} ({origin})"
    return index[origin]


def test_runtime_imports_are_exactly_the_declared_dependencies():
    index = {
        Path(str(dist.locate_file(file))).resolve(): canonicalize_name(dist.metadata["Name"])
        for dist in distributions()
        for file in dist.files or ()
        if str(file).endswith((".py", ".so"))
    }
    used = {_distribution_of(module, index) for module in _imported_modules()}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert used - declared == set(), "imported but not declared"
    assert declared - used == set(), "declared but never imported"
