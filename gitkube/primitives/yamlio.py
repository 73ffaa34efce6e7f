"""YAML in and out: one parser, one emitter, the same bytes every time.

Parsing uses ruamel.yaml's safe loader on its C parser (about five times
faster than the pure-Python one); duplicate keys are errors, as Kubernetes'
own decoder treats them. Documents are checked for alias bombs before anyone
walks them, since a few hundred bytes of anchors can expand to billions of
nodes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gitkube.primitives.errors import GitkubeError

# A manifest of this many nodes after alias expansion is not a hand-written
# Kubernetes object; it is a billion-laughs document.
MAX_EXPANDED_NODES = 1_000_000


def _loader() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = False
    return yaml


def _dumper() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep the author's key order
    yaml.width = 4096  # no folding of long strings: stable diffs
    yaml.allow_unicode = True
    return yaml


_LOAD = _loader()
_DUMP = _dumper()


def load_documents(text: str | bytes, path: str) -> list[Any]:
    """Parse every document of a YAML stream; empty documents are dropped.

    Raises :class:`GitkubeError` naming ``path`` and the line of the problem.
    """
    try:
        docs = [doc for doc in _LOAD.load_all(text) if doc is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in str(problem):
            problem = f"duplicate mapping key ({problem})"
        raise GitkubeError(f"malformed YAML: {problem}", file=path, line=line) from None
    except YAMLError as exc:
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
    """Serialise one document in gitkube's canonical block style."""
    stream = io.StringIO()
    _DUMP.dump(obj, stream)
    return stream.getvalue()
