"""Generated YAML files that stress a reader the way users' files do.

Used by gitkube's differential tests against :mod:`gitkube.testing.yamlpeer`
(kubectl's own reader); shipped so that a plugin author who reads YAML can
hold a reader to the same standard.

* :func:`plain_scalars`: text that looks like numbers, booleans, nulls, dates,
  times and merge keys in every notation YAML 1.1, YAML 1.2 and Go know of.
* :func:`yaml_files`: whole files: nested block and flow collections, anchors
  and aliases (also redefined, unknown and recursive ones), merge keys in any
  position and number, tags of every kind, comments, several documents with
  every separator form, byte-order marks, line-break styles and encodings.

Files are built by a seeded :class:`random.Random` rather than by composing
Hypothesis strategies: a thousand files take a fraction of a second instead
of a minute, which is what lets CI check thousands of them on every run. A
failing file is printed whole; keep it as a regression example.
"""

from __future__ import annotations

import decimal
import random
from typing import Any

from hypothesis import strategies as st

NUMBERISH = "0123456789+-._xXoObBeEaAfF:"
WORDISH = "yYnNtTrRuUeEfFaAlLsSoOnN~"
SCALAR_CORPUS = [
    "y",
    "n",
    "Y",
    "N",
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "False",
    "TRUE",
    "null",
    "Null",
    "~",
    "08",
    "0800",
    "02139",
    "0o17",
    "0O17",
    "0x1F",
    "0X1f",
    "0b11",
    "0B11",
    "-0b11",
    "1e3",
    "3e-2",
    "+.5",
    ".5",
    "0e0",
    "1_000",
    "1__0",
    "0x_1F",
    "+5",
    "-0",
    "-0.0",
    "12:30",
    "1:2:3",
    "2026-01-01",
    "2026-1-1",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2026-13-01",
    "=",
    "<<",
    ".inf",
    "-.Inf",
    "+.INF",
    ".nan",
    ".NaN",
    "0x10000000000000000",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "1.0e+400",
    "1e-400",
    ".5e400",
    "1e21",
    "1e20",
    "123456789012345678901234",
    "0.1",
    "1.",
    "1.e5",
    "0x1p-2",
    "inf",
    "nan",
    "Infinity",
    "0.0000001",
    "1_0.5",
    "._5",
    "0_",
    "+",
    "-",
    "+.",
    "0x",
    "0b",
    "0o",
    "00",
    "007",
    "0.",
    "-.5",
    "1E5",
    "1e+5",
    "1e5_0",
    "a b",
    "é",
    "日本",
    "😀",
    "web",
    "nginx:1.25",
    "/etc/x",
    "a.b-c_d",
]
TAGS = [
    "!",
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!binary",
    "!!timestamp",
    "!foo",
    "!!set",
    "!!omap",
    "!!merge",
    "!<tag:yaml.org,2002:str>",
]
SEPARATORS = [
    "---\n",
    "--- # next\n",
    "\n---\n",
    "...\n---\n",
    "---\r\n",
    "\r---\r",
    "\x85---\x85",
    "\u2028---\u2028",
    "--- \n",
    "---\t\n",
    "...\n",
    "\n---\n\n---\n",
]
BAD_SEPARATORS = ["---x\n", "--- {a: 1}\n", "--- |\n"]
ANCHOR_NAMES = ["a", "b", "c"]
HOSTILE_STRINGS = [
    "---",
    "--- a",
    "...",
    "- a",
    "? a",
    "a: b",
    "#x",
    "%YAML",
    "😀\t",
    "a\u2028b",
    "\x85",
    "\ufeff",
    "line\nline\n",
    "  lead",
    "trail  ",
    "x" * 1100,
    "\\",
    '"',
    "'",
    "\r\n",
    "\t",
    "\x00",
    "\x7f",
    "\ud7ff",
    "\ue000",
    "\ufffe",
    "a\n\n",
    "\n",
    " \n",
    "|",
    ">",
    "@",
    "`",
]


def plain_scalar(rng: random.Random) -> str:
    """Plain scalar text, biased to what resolvers disagree on."""
    pick = rng.random()
    if pick < 0.5:
        return rng.choice(SCALAR_CORPUS)
    alphabet = NUMBERISH if pick < 0.85 else WORDISH
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
    return text if _plain_safe(text) else rng.choice(SCALAR_CORPUS)


def _plain_safe(text: str) -> bool:
    return (
        text[0] not in "-?:,[]{}#&*!|>'\"%@`"
        and not text.endswith(":")
        and ": " not in text
        and " #" not in text
    )


class _Writer:
    """Writes one document; remembers the anchors defined so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.anchors: list[str] = []

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def scalar(self, flow: bool) -> str:
        rng = self.rng
        text = plain_scalar(rng)
        style = rng.choice("ppp'\"") if text not in ("-", "+") else '"'
        if style == "p" and (flow and any(c in text for c in ",[]{}")):
            style = '"'
        if style == "'":
            written = "'" + text.replace("'", "''") + "'"
        elif style == '"':
            written = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            written = text
        if self.chance(0.12):
            written = f"{rng.choice(TAGS)} {written}"
        return self.anchored(written, 0.1)

    def anchored(self, written: str, p: float) -> str:
        if self.chance(p):
            name = self.rng.choice(ANCHOR_NAMES)
            self.anchors.append(name)
            return f"&{name} {written}"
        return written

    def alias(self) -> str:
        if self.anchors and self.chance(0.95):
            return f"*{self.rng.choice(self.anchors)}"
        if self.chance(0.9):
            return self.scalar(flow=True)  # nothing to refer to yet
        return f"*{self.rng.choice(ANCHOR_NAMES)}"  # an unknown anchor: refused by both

    def key(self) -> str:
        return self.rng.choice(["replicas", "z", "name", plain_scalar(self.rng)])

    def merge_value(self) -> str:
        pick = self.rng.random()
        if pick < 0.45:
            return self.alias()
        if pick < 0.75:
            return "[" + ", ".join(self.alias() for _ in range(self.rng.randint(1, 3))) + "]"
        if pick < 0.95:
            return self.flow(1, mapping=True)
        return self.rng.choice(["~", "1", "[1]", "[{a: 1}, *a]"])

    def flow(self, depth: int, mapping: bool | None = None) -> str:
        rng = self.rng
        mapping = rng.random() < 0.6 if mapping is None else mapping
        items = []
        for _ in range(rng.randint(0, 3)):
            if depth > 0 and self.chance(0.3):
                value = self.flow(depth - 1)
            elif self.chance(0.1):
                value = self.alias()
            else:
                value = self.scalar(flow=True)
            if mapping:
                if self.chance(0.12):
                    items.append(f"<<: {self.merge_value()}")
                    continue
                items.append(f"{self.scalar(flow=True)}: {value}")
            else:
                items.append(value)
        text = "{" + ", ".join(items) + "}" if mapping else "[" + ", ".join(items) + "]"
        return self.anchored(text, 0.15)

    def block(self, depth: int, indent: int) -> str:
        rng = self.rng
        pad = " " * indent
        mapping = rng.random() < 0.75
        lines = []
        for _ in range(rng.randint(1, 4)):
            if mapping and self.chance(0.1):
                lines.append(f"{pad}<<: {self.merge_value()}")
                continue
            head = f"{pad}{self.key()}:" if mapping else f"{pad}-"
            pick = rng.random()
            if depth > 0 and pick < 0.3:
                properties = self.anchored("", 0.15)  # an anchor sits before the block
                lines.append(f"{head} {properties.rstrip()}\n{self.block(depth - 1, indent + 2)}")
            elif pick < 0.45:
                lines.append(f"{head} {self.flow(depth)}")
            elif pick < 0.52:
                lines.append(f"{head} {self.alias()}")
            elif pick < 0.56:
                lines.append(f"{head} |\n{pad}  line one\n{pad}  line two")
            else:
                lines.append(f"{head} {self.scalar(flow=False)}")
            if self.chance(0.08):
                lines.append(f"{pad}# a comment")
        return "\n".join(lines)


def yaml_block(rng: random.Random, indent: int) -> str:
    """A block mapping at ``indent`` (a field of a manifest), with the same tricks."""
    writer = _Writer(rng)
    text = writer.block(rng.randint(0, 3), indent)
    return text if text.lstrip().split(":", 1)[0] != "-" else f"{' ' * indent}k: v"


def manifests_with_fields() -> st.SearchStrategy[str]:
    """Hypothesis strategy: a custom-resource manifest whose ``spec.fields`` is a generated block."""
    return st.integers(0, 2**64 - 1).map(
        lambda seed: (
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
            "  namespace: default\nspec:\n  fields:\n" + yaml_block(random.Random(seed), 4) + "\n"
        )
    )


def yaml_file(rng: random.Random) -> bytes:
    """One whole file, as bytes, in one of the encodings kubectl accepts."""
    documents = []
    for _ in range(rng.randint(1, 3)):
        writer = _Writer(rng)
        body = writer.flow(2) if rng.random() < 0.1 else writer.block(rng.randint(0, 3), 0)
        documents.append(body + "\n")
    text = documents[0]
    for document in documents[1:]:
        separators = BAD_SEPARATORS if rng.random() < 0.03 else SEPARATORS
        text += rng.choice(separators) + document
    if rng.random() < 0.15:
        heads = ["---\n", "%YAML 1.1\n---\n", "# head\n", "\n\n", "...\n", "  \n", "\ufeff"]
        text = rng.choice(heads) + text
    if rng.random() < 0.15:
        text = text.replace("\n", "\r\n")
    if rng.random() < 0.1:
        text = text.rstrip("\n")
    encoding = rng.choice(["utf-8"] * 7 + ["utf-8-sig", "utf-16-le", "utf-16-be"])
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    if encoding == "utf-16-le":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode("utf-8")


def yaml_files() -> st.SearchStrategy[bytes]:
    """Hypothesis strategy: whole YAML files (see :func:`yaml_file`)."""
    return st.integers(0, 2**64 - 1).map(lambda seed: yaml_file(random.Random(seed)))


def plain_scalars() -> st.SearchStrategy[str]:
    """Hypothesis strategy: plain scalar text (see :func:`plain_scalar`)."""
    return st.integers(0, 2**64 - 1).map(lambda seed: plain_scalar(random.Random(seed)))


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """JSON values of the kind Kubernetes objects are made of, with hostile strings."""
    strings = st.one_of(st.text(max_size=20), plain_scalars(), st.sampled_from(HOSTILE_STRINGS))
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False).map(_as_go_writes_it),
        strings,
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _as_go_writes_it(value: float) -> float | int:
    # Go writes integral floats below 1e21 as integers (its shortest digits,
    # then zeros); gitkube's reader reads them so.
    if abs(value) < 1e21 and value == int(value):
        return int(decimal.Decimal(repr(value)))
    return value
