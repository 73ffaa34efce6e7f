"""gitkube's YAML emitter: whatever it writes loads back as exactly what it was given."""

from __future__ import annotations

import random
import string

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitkube.primitives.filetree import DirectoryTree
from gitkube.primitives.yamlio import dump_document, dump_list_item, load_documents
from gitkube.render.pipeline import render_tree
from tests.conftest import REPO_ROOT

TRICKY = [
    "",
    " ",
    "a ",
    " a",
    "true",
    "True",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "1",
    "1.0",
    "-1",
    "0o12",
    "012",
    "0x1F",
    "1_000",
    "1e3",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "12:30",
    "1:2:3",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "=",
    "<<",
    "a: b",
    "a:b",
    "a:",
    ":a",
    "a #b",
    "a#b",
    "#a",
    "-",
    "--",
    "- a",
    "-a",
    "--flag=x",
    "?",
    "? a",
    "?a",
    "*x",
    "&x",
    "!x",
    "|",
    ">",
    "%x",
    "@x",
    "`x",
    "'q'",
    '"q"',
    "{a}",
    "[a]",
    "a,b",
    "a[0]",
    "é",
    "日本",
    "a\tb",
    "line1\nline2",
    "line\n",
    "\n",
    "\nlead",
    " lead\nx",
    "x\n\n",
    "x\n\n\n",
    "trail \nx",
    "a\r\nb",
    "\x00",
    "nul\x00",
    "\u2028",
    "\ufeffbom",
    "tab\tin\nblock",
    "  indented\nblock",
    "path/to/file.yaml",
    "gcr.io/proj/nginx:1.25",
    "sha256:" + "a" * 64,
    "http://x:80/y?q=1",
    "applyset-M5Pg_oyv-v1",
    "$(VAR)",
    "a=b",
    "key.with.dots",
    "100m",
    "1Gi",
    "0.5",
    "+1",
]


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_strings_round_trip(text):
    doc = {"value": text, "list": [text], text or "empty-key-guard": {"nested": text}}
    assert yaml.safe_load(dump_document(doc)) == doc


def _random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        choice = rng.randrange(7)
        if choice == 0:
            return rng.choice(TRICKY)
        if choice == 1:
            return rng.randrange(-1000, 1000)
        if choice == 2:
            return rng.choice([True, False, None])
        if choice == 3:
            return rng.choice([0.5, 1.25, -3.0, 1e-7])
        alphabet = string.printable + "é日\u00a0"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
    if roll < 0.7:
        return {
            "".join(
                rng.choice(string.ascii_letters + ".-/ :") for _ in range(rng.randrange(1, 8))
            ): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 4))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


def test_random_documents_round_trip():
    rng = random.Random(20261127)
    for _ in range(3000):
        doc = {"root": _random_value(rng)}
        text = dump_document(doc)
        assert yaml.safe_load(text) == doc, text


def test_rendered_template_round_trips_and_keeps_text_readable():
    result = render_tree(DirectoryTree(REPO_ROOT / "repo-template"))
    for resource in result.resources:
        path = next(
            p
            for p in result.files
            if p.endswith(f"{resource.kind.lower()}-{resource.name}.yaml")
            or f"-{resource.name}." in p
        )
        assert yaml.safe_load(result.files[path]) is not None
    for path, data in result.files.items():
        (loaded,) = load_documents(data, path)
        assert dump_document(loaded).encode() == data, path  # stable: a fixed point
    conf = result.files["web/frontend/configmap-frontend-conf.yaml"].decode()
    assert "  default.conf: |\n    server {\n" in conf


_flat_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["apps/v1", "default", "null", "y", "0x1F", "- a", "a: b", "?x", "12:30"]),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(), _flat_values, max_size=8))
def test_a_list_item_is_written_as_the_general_emitter_writes_it(item):
    assert dump_list_item(item) == dump_document([item])


def test_a_list_item_with_a_very_long_key_is_written_as_the_general_emitter_writes_it():
    item = {"k" * 2000: "v", "path": "a/b.yaml"}
    assert dump_list_item(item) == dump_document([item])


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_./-]{0,8}", fullmatch=True),
        st.sampled_from(["yes", "No", "TRUE", "off", "Null", "y", "N", "On", "e5", "inf"]),
    )
)
def test_the_word_shortcut_agrees_with_the_full_plain_scalar_check(word):
    import re

    from gitkube.primitives import yamlio

    shortcut = yamlio._is_plain(word)
    saved, yamlio._WORD = yamlio._WORD, re.compile("(?!)")  # never matches: the full check
    yamlio._plain_cache.pop(word, None)
    try:
        assert yamlio._is_plain(word) == shortcut
    finally:
        yamlio._WORD = saved
