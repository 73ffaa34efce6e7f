"""Every hook is documented: in its docstring (pytest's shape) and in docs/plugins.md."""

from __future__ import annotations

import inspect

import pytest

from gitkube.domain import hookspec
from tests.conftest import REPO_ROOT

HOOKS = [
    (name, fn)
    for name, fn in vars(hookspec).items()
    if name.startswith("gitkube_") and callable(fn)
]


def test_there_are_hooks():
    assert len(HOOKS) >= 6


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hook_docstring_says_when_what_and_returns(name, fn):
    doc = inspect.getdoc(fn) or ""
    assert "Called" in doc, f"{name}: say when it is called"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}: document parameter {param}"
    assert ":return:" in doc, f"{name}: document the return value"
    first_result = getattr(fn, "gitkube_spec", {}).get("firstresult", False)
    assert ("first non-none result wins" in doc.lower()) == first_result, (
        f"{name}: say whether the first result wins (and only then)"
    )


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hook_is_typed(name, fn):
    signature = inspect.signature(fn)
    assert signature.return_annotation is not inspect.Signature.empty, name
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hook_is_in_the_plugin_guide(name, fn):
    guide = (REPO_ROOT / "docs" / "plugins.md").read_text()
    assert f"`{name}`" in guide
