"""YAML in and out: one parser, one emitter, the same bytes every time.

Parsing and emitting use PyYAML's libyaml bindings (CSafeLoader and
CSafeDumper): on gitkube's benchmark they load 2x and dump 6x faster than
ruamel.yaml's C-backed safe mode, whose tag handling runs in Python.
Duplicate keys are errors, as Kubernetes' own decoder treats them.
Documents are checked for alias bombs before anyone walks them, since a few
hundred bytes of anchors can expand to billions of nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from gitkube.primitives.errors import GitkubeError

# A manifest of this many nodes after alias expansion is not a hand-written
# Kubernetes object; it is a billion-laughs document.
MAX_EXPANDED_NODES = 1_000_000


class _StrictLoader(yaml.CSafeLoader):
    """The safe C loader, refusing duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys are compared as written (scalar tag and text): no key is
        # constructed twice, which would cost as much as the parse itself.
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'duplicate mapping key "{key_node.value}"', key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _CanonicalDumper(yaml.CSafeDumper):
    """Block style, the author's key order, no line folding: stable diffs."""


def load_documents(text: str | bytes, path: str) -> list[Any]:
    """Parse every document of a YAML stream; empty documents are dropped.

    Raises :class:`GitkubeError` naming ``path`` and the line of the problem.
    """
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise GitkubeError(f"malformed YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise GitkubeError(f"malformed YAML: {exc}", file=path) from None
    except RecursionError:
        raise GitkubeError("malformed YAML: nesting too deep", file=path) from None
    for doc in docs:
        if expanded_size(doc, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise GitkubeError(
                "YAML aliases expand to more than "
                f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?); write the values out",
                file=path,
            )
    return docs


def load_one(text: str | bytes, path: str) -> Any:
    """Parse a file that must hold at most one document (``None`` when empty)."""
    docs = load_documents(text, path)
    if len(docs) > 1:
        raise GitkubeError("expected one YAML document, found several", file=path)
    return docs[0] if docs else None


def expanded_size(node: Any, limit: int) -> int:
    """Count the nodes ``node`` would have with every alias written out.

    Shared sub-trees (what aliases produce) are counted once per use but
    walked once, so the cost is linear in the parsed size however large the
    expansion; counting stops early past ``limit``.
    """
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if isinstance(value, dict):
            children: Iterator[Any] = iter(value.values())
        elif isinstance(value, list):
            children = iter(value)
        else:
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        sizes[key] = limit + 1  # a cycle counts as too big
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        sizes[key] = total
        return total

    return size(node)


def dump_document(obj: Any) -> str:
    """Serialise one document in gitkube's canonical block style.

    A small emitter for the JSON data model (mappings, lists, strings,
    numbers, booleans, null) that Kubernetes objects are made of: block
    style, the author's key order, plain scalars where YAML reads them back
    as the same string, literal blocks for multi-line text (so a ConfigMap's
    nginx.conf stays readable in a pull-request diff), double quotes
    otherwise. It is several times faster than PyYAML's Python representer;
    tests/render/test_yamlio.py checks that every output loads back equal.
    """
    if isinstance(obj, dict) and obj:
        lines = _mapping_lines(obj, 0)
    elif isinstance(obj, list) and obj:
        lines = _sequence_lines(obj, 0)
    else:
        lines = [_scalar(obj)]
    return "\n".join(lines) + "\n"


def _mapping_lines(mapping: dict[Any, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        head = f"{pad}{_key(key)}:"
        if isinstance(value, dict) and value:
            lines.append(head)
            lines.extend(_mapping_lines(value, indent + 2))
        elif isinstance(value, list) and value:
            lines.append(head)
            lines.extend(_sequence_lines(value, indent))  # PyYAML's indentless sequences
        elif isinstance(value, str) and _is_literal(value):
            lines.append(f"{head} {_literal_header(value)}")
            lines.extend(_literal_lines(value, indent + 2))
        else:
            lines.append(f"{head} {_scalar(value)}")
    return lines


def _sequence_lines(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if isinstance(item, (dict, list)) and item:
            nested = (
                _mapping_lines(item, indent + 2)
                if isinstance(item, dict)
                else _sequence_lines(item, indent + 2)
            )
            lines.append(f"{pad}- {nested[0][indent + 2 :]}")
            lines.extend(nested[1:])
        elif isinstance(item, str) and _is_literal(item):
            lines.append(f"{pad}- {_literal_header(item)}")
            lines.extend(_literal_lines(item, indent + 2))
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines


_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_FIRST = re.compile(r"[A-Za-z0-9_./$(=+]|-(?=[^ ])")
_PLAIN_REST = re.compile(r"[A-Za-z0-9_./$()=+,@:;~<>^*%&!?\[\]{}'\"-]|[ ](?!#)|[^\x00-\x7f]")
_plain_cache: dict[str, bool] = {}


def _is_plain(text: str) -> bool:
    """Whether ``text`` may be written unquoted and still load as this very string."""
    cached = _plain_cache.get(text)
    if cached is not None:
        return cached
    ok = (
        bool(text)
        and text == text.strip(" ")
        and _PLAIN_FIRST.match(text) is not None
        and all(_PLAIN_REST.match(c) for c in text[1:])
        and ": " not in text
        and not text.endswith(":")
        and not any(c in text for c in "[]{},#")
        and text.isprintable()
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG
    )
    if len(_plain_cache) < 100_000:
        _plain_cache[text] = ok
    return ok


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return yaml.dump(value, Dumper=_CanonicalDumper).split("\n", 1)[0]
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, str):
        if _is_plain(value):
            return value
        # JSON strings are YAML double-quoted scalars; escape everything
        # non-ASCII when anything is unprintable (U+2028 would break the line).
        return json.dumps(value, ensure_ascii=not value.isprintable())
    raise GitkubeError(f"cannot write a {type(value).__name__} as YAML")


def _key(key: Any) -> str:
    return _scalar(key) if not isinstance(key, (dict, list)) else json.dumps(str(key))


def _is_literal(text: str) -> bool:
    """Multi-line text that a literal block (``|``) can carry exactly."""
    if "\n" not in text or text[0] in " \n\t":
        return False
    return all(line.isprintable() for line in text.split("\n")) and "\r" not in text


def _literal_header(text: str) -> str:
    if not text.endswith("\n"):
        return "|-"
    return "|+" if text.endswith("\n\n") else "|"


def _literal_lines(text: str, indent: int) -> list[str]:
    pad = " " * indent
    body = text[:-1] if text.endswith("\n") else text
    return [f"{pad}{line}" if line else "" for line in body.split("\n")]


def load_many(files: Sequence[tuple[str, bytes]]) -> list[list[Any]]:
    """:func:`load_documents` for many ``(path, content)`` files, in the given order.

    (Forked worker processes were measured and lost: pickling the parsed
    objects back costs more than parsing them.)
    """
    return [load_documents(data, path) for path, data in files]


def dump_many(objects: Sequence[Any]) -> list[str]:
    """:func:`dump_document` for many documents."""
    return [dump_document(obj) for obj in objects]
