"""The shape of the code: no import circles (import-linter checks the layers and halves)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

REPO_ROOT = Path(__file__).resolve().parent.parent


def _circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's strongly
    connected components), TYPE_CHECKING imports included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circles():
    graph = grimp.build_graph("gitkube", "gitkube_plugins", include_external_packages=False)
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _circles(graph) == [["a.x", "a.y"]]


def test_the_halves_are_independent_and_the_layers_point_down():
    """import-linter's contracts hold (pre-commit runs them too; this keeps them in the suite)."""
    config = (REPO_ROOT / ".importlinter").read_text()
    assert "type = independence" in config and "render | sync" in config
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "The two halves never import each other" in result.stdout


def test_every_command_is_registered_where_it_is_defined():
    import inspect

    from gitkube.cli import app

    for command in app.registered_commands:
        callback = command.callback
        assert callback is not None
        source = inspect.getsource(inspect.getmodule(callback))
        # (name=...) where the command's name is a Python keyword or builtin: set, import
        assert re.search(rf"@app\.command\([^)]*\)\ndef {callback.__name__}\(", source), (
            callback.__name__
        )
    init = (REPO_ROOT / "gitkube" / "cli" / "__init__.py").read_text()
    assert "app.command()(" not in init
