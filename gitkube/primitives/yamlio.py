"""YAML in and out: one parser, one emitter, the same bytes every time.

Parsing and emitting use PyYAML's libyaml bindings (CSafeLoader and
CSafeDumper): on gitkube's benchmark they load 2x and dump 6x faster than
ruamel.yaml's C-backed safe mode, whose tag handling runs in Python.
Duplicate keys are errors, as Kubernetes' own decoder treats them.
Documents are checked for alias bombs before anyone walks them, since a few
hundred bytes of anchors can expand to billions of nodes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

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
    """Serialise one document in gitkube's canonical block style."""
    return yaml.dump(
        obj,
        Dumper=_CanonicalDumper,
        default_flow_style=False,
        sort_keys=False,
        width=4096,
        allow_unicode=True,
    )


# Below this many items a process pool costs more than it saves.
PARALLEL_THRESHOLD = 400
T = TypeVar("T")
R = TypeVar("R")


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parallel_map(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``map`` over forked worker processes when the work is large enough.

    libyaml holds the GIL, so threads would not help; fork shares the parent's
    imported modules, so starting a worker costs milliseconds.
    """
    workers = min(_workers(), 8)
    if (
        len(items) < PARALLEL_THRESHOLD
        or workers < 2
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return [function(item) for item in items]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(function, items, chunksize=max(1, len(items) // (workers * 4)))


def _load_file(item: tuple[str, bytes]) -> list[Any] | GitkubeError:
    # Errors come back as values, so the first one in file order is reported
    # whichever worker found it first.
    try:
        return load_documents(item[1], item[0])
    except GitkubeError as exc:
        return exc


def load_many(files: Sequence[tuple[str, bytes]]) -> list[list[Any]]:
    """:func:`load_documents` for many ``(path, content)`` files, in parallel when many.

    Raises the error of the first bad file in the given order.
    """
    results = _parallel_map(_load_file, files)
    for result in results:
        if isinstance(result, GitkubeError):
            raise result
    return results  # type: ignore[return-value]


def dump_many(objects: Sequence[Any]) -> list[str]:
    """:func:`dump_document` for many documents, in parallel when many."""
    return _parallel_map(dump_document, objects)
