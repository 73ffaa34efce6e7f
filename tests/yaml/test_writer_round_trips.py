"""Whatever gitkube writes, kubectl, a YAML 1.2 reader and PyYAML read back unchanged."""

from __future__ import annotations

import os
from typing import Any

import pytest
import ruamel.yaml
import yaml
from hypothesis import HealthCheck, given, settings

from gitkube.primitives.kubeyaml import room_for_nesting
from gitkube.primitives.yamlio import dump_document, load_documents
from gitkube.testing.yamlgen import HOSTILE_STRINGS, json_values
from gitkube.testing.yamlpeer import YamlPeer

EXAMPLES = int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "3000"))
YAML12 = ruamel.yaml.YAML(typ="safe", pure=True)  # YAML 1.2 core rules


def readers_disagree(peer: YamlPeer, document: dict[str, Any]) -> str | None:
    text = dump_document(document)
    theirs = peer.read(text.encode("utf-8"))
    with room_for_nesting():
        if theirs.refused or theirs.documents != [document]:
            return f"kubectl reads {theirs.error or theirs.documents!r} from {text!r}"
        if yaml.safe_load(text) != document:
            return f"PyYAML reads another value from {text!r}"
        if YAML12.load(text) != document:
            return f"a YAML 1.2 reader reads another value from {text!r}"
        if load_documents(text, "x.yaml") != [document]:
            return f"gitkube reads another value from {text!r}"
    return None


@settings(
    max_examples=max(EXAMPLES // 3, 100),  # three readers each, one of them pure Python
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=json_values())
def test_generated_values_read_back_unchanged(kubectl_reader: YamlPeer, value: Any) -> None:
    assert readers_disagree(kubectl_reader, {"data": value, "list": [value]}) is None


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_hostile_strings_read_back_unchanged_as_keys_and_values(
    kubectl_reader: YamlPeer, text: str
) -> None:
    assert readers_disagree(kubectl_reader, {text: text, "k": [text, {text: [text]}]}) is None


def test_emoji_and_control_characters_are_not_written_as_surrogate_pairs(
    kubectl_reader: YamlPeer,
) -> None:
    text = dump_document({"data": {"smile": "😀\t"}})
    assert "\\ud83d" not in text.lower()
    assert readers_disagree(kubectl_reader, {"data": {"smile": "😀\t"}}) is None


@pytest.mark.parametrize(
    "document",
    [
        {"k" * 1100: "long key"},
        {"é" * 600: {"nested": "value"}},
        {"---key": "a top-level key that looks like a document marker"},
        {"...": "end marker", "--- a": ["x"]},
        {"data": "x" * 2_000_000},
        {"1e3": "a key Go would read as a number", "y": "and one it reads as true"},
    ],
    ids=[
        "long-key",
        "long-multibyte-key",
        "marker-key",
        "end-marker-key",
        "huge-value",
        "numeric-keys",
    ],
)
def test_keys_and_values_at_the_readers_limits(
    kubectl_reader: YamlPeer, document: dict[str, Any]
) -> None:
    assert readers_disagree(kubectl_reader, document) is None


@pytest.mark.parametrize("depth", [1_500, 9_999])
def test_nesting_that_kubernetes_accepts_is_written_compactly(
    kubectl_reader: YamlPeer, depth: int
) -> None:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    text = dump_document(value)
    assert len(text) < 40 * depth  # flow style deep down: no quadratic indentation
    assert readers_disagree(kubectl_reader, value) is None
