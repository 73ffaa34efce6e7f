"""YAML in and out: kubectl's reading, one emitter, the same bytes every time.

Reading is :mod:`gitkube.primitives.kubeyaml`: every file means what kubectl
reads from it (document splitting, scalars, anchors, merge keys, tags), built
on libyaml's C parser. Writing is a small emitter for the JSON data model
whose output Go's ``sigs.k8s.io/yaml``, YAML 1.2 readers and PyYAML all read
back as the same value (tests/yaml/ proves both against kubectl's own reader).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeyaml import read_documents, resolves_to_itself, room_for_nesting


class _CanonicalDumper(yaml.CSafeDumper):
    """Block style, the author's key order, no line folding: stable diffs."""


def load_documents(text: str | bytes, path: str) -> list[Any]:
    """Parse every document of a file as kubectl reads it; empty documents are dropped.

    Raises :class:`GitkubeError` naming ``path`` and the line of the problem.
    """
    return read_documents(text, path)


def load_one(text: str | bytes, path: str) -> Any:
    """Parse a file that must hold at most one document (``None`` when empty)."""
    docs = load_documents(text, path)
    if len(docs) > 1:
        raise GitkubeError("expected one YAML document, found several", file=path)
    return docs[0] if docs else None


def dump_document(obj: Any) -> str:
    """Serialise one document in gitkube's canonical block style.

    A small emitter for the JSON data model (mappings, lists, strings,
    numbers, booleans, null) that Kubernetes objects are made of: block
    style, the author's key order, plain scalars where every reader reads
    them back as the same string, literal blocks for multi-line text (so a
    ConfigMap's nginx.conf stays readable in a pull-request diff), double
    quotes otherwise. Keys too long for YAML's implicit keys are written as
    explicit ``? key`` entries, and nesting past :data:`FLOW_AFTER_DEPTH`
    levels in flow style on one line, so the file stays small. It is several
    times faster than PyYAML's Python representer.
    """
    try:
        return _dump(obj)
    except RecursionError:
        # Nesting up to Kubernetes' limit is valid; Python needs more room for it.
        with room_for_nesting():
            return _dump(obj)


def _dump(obj: Any) -> str:
    if isinstance(obj, dict) and obj:
        lines = _mapping_lines(obj, 0)
    elif isinstance(obj, list) and obj:
        lines = _sequence_lines(obj, 0)
    else:
        lines = [_scalar(obj)]
    return "\n".join(lines) + "\n"


# Deeper than this, collections are written in flow style: block indentation
# would grow the file with the square of the depth.
FLOW_AFTER_DEPTH = 64
# libyaml and go-yaml refuse implicit keys longer than 1024 characters.
MAX_IMPLICIT_KEY = 1000


def _mapping_lines(mapping: dict[Any, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    deep = indent >= 2 * FLOW_AFTER_DEPTH
    for key, value in mapping.items():
        written_key = _key(key)
        if len(written_key) > MAX_IMPLICIT_KEY or written_key.startswith("?"):
            lines.append(f"{pad}? {written_key}")
            lines.append(f"{pad}: {_flow(value)}")
            continue
        head = f"{pad}{written_key}:"
        if deep and isinstance(value, (dict, list)):
            lines.append(f"{head} {_flow(value)}")
        elif isinstance(value, dict) and value:
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
    deep = indent >= 2 * FLOW_AFTER_DEPTH
    for item in items:
        if deep and isinstance(item, (dict, list)):
            lines.append(f"{pad}- {_flow(item)}")
        elif isinstance(item, (dict, list)) and item:
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


def _flow(value: Any) -> str:
    """A value on one line in flow style (every plain scalar there is flow-safe)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"? {_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_FIRST = re.compile(r"[A-Za-z0-9_./$(=+]|-(?=[^ ])")
_PLAIN_REST = re.compile(r"[A-Za-z0-9_./$()=+,@:;~<>^*%&!?\[\]{}'\"-]|[ ](?!#)|[^\x00-\x7f]")
# The rest of a plain scalar in one match: one regex call, not one per character.
_PLAIN_TAIL = re.compile(f"(?:{_PLAIN_REST.pattern})*\\Z")
# What a YAML 1.2 core-schema reader resolves to something other than a
# string; digits may hold underscores, as ruamel.yaml's 1.2 resolver allows.
_YAML12_CORE = re.compile(
    r"(?:null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9_]+|0o[0-7_]+|0x[0-9a-fA-F_]+"
    r"|[-+]?(?:\.[0-9_]+|[0-9_]+(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9_]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)\Z"
)
_plain_cache: dict[str, bool] = {}
# Most scalars are names and paths: a letter, then letters, digits and "_./-".
# Every reader resolves such a word to itself except the few below (booleans
# and null in YAML 1.1, 1.2 and Go, in any case: a word seen here in another
# case goes through the full check): no number, date, tag or indicator starts
# with a letter, and none of the characters is special.
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")
_RESOLVED_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null"})


def _is_plain(text: str) -> bool:
    """Whether ``text`` may be written unquoted and read back as this very string
    by Go's reader (kubectl), a YAML 1.2 core reader and PyYAML alike."""
    if _WORD.match(text) is not None and text.lower() not in _RESOLVED_WORDS:
        return True
    cached = _plain_cache.get(text)
    if cached is not None:
        return cached
    ok = (
        bool(text)
        and text == text.strip(" ")
        and _PLAIN_FIRST.match(text) is not None
        and _PLAIN_TAIL.match(text, 1) is not None
        and ": " not in text
        and not text.endswith(":")
        and not any(c in text for c in "[]{},#")
        and not text.startswith(("---", "..."))  # document markers at column 0
        and text.isprintable()
        and resolves_to_itself(text)
        and _YAML12_CORE.match(text) is None
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG
    )
    if len(_plain_cache) < 100_000:
        _plain_cache[text] = ok
    return ok


def _scalar(value: Any) -> str:
    if isinstance(value, str):  # most scalars: asked first
        return value if _is_plain(value) else double_quoted(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise GitkubeError(f"cannot write {value} as JSON: Kubernetes objects have no NaN")
        # PyYAML writes 1.0e-07: a float for Go, YAML 1.2 and PyYAML (which needs the dot).
        return yaml.dump(value, Dumper=_CanonicalDumper).split("\n", 1)[0]
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise GitkubeError(f"cannot write a {type(value).__name__} as YAML")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}
# Escaped in double quotes: what YAML 1.1 deems unprintable, the line breaks
# NEL, LS and PS, and the byte-order mark (a reader may drop it).
_NEEDS_ESCAPE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff\\\\"]')


def double_quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that Go, YAML 1.2 and PyYAML read alike.

    Unlike ``json.dumps``, characters outside the BMP are written as they are
    (Go's YAML reader refuses JSON's surrogate-pair escapes).
    """
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\\uFFFD"  # a lone surrogate: what Go's decoder makes of it
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"


def _key(key: Any) -> str:
    return _scalar(key) if not isinstance(key, (dict, list)) else double_quoted(str(key))


def dump_list_item(item: dict[str, Any]) -> str:
    """``dump_document([item])`` for a mapping of one-line scalars (an inventory
    item): the same text, without the general walk, for thousands of items."""
    lines = []
    for key, value in item.items():
        if type(key) is not str or isinstance(value, (dict, list)):
            return dump_document([item])
        if isinstance(value, str) and "\n" in value:  # a literal block
            return dump_document([item])
        written_key = _key(key)
        if len(written_key) > MAX_IMPLICIT_KEY or written_key.startswith("?"):
            return dump_document([item])
        lines.append(f"{written_key}: {_scalar(value)}")
    if not lines:
        return dump_document([item])
    return "- " + "\n  ".join(lines) + "\n"


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
