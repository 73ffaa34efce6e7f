"""Read YAML files exactly as kubectl reads them.

Kubernetes is the judge of what a manifest means: kubectl (and the API
server) read a file through apimachinery's ``YAMLOrJSONDecoder`` and
``sigs.k8s.io/yaml``, which rest on go-yaml v2's YAML 1.1 rules. PyYAML's
resolver disagrees with them on many plain scalars (``y``, ``0o17``,
``12:30``, ``1e3``), on aliases (shared objects instead of copies), on merge
keys (precedence and order) and on tags, so gitkube builds values itself from
libyaml's event stream (the C parser go-yaml v2 was ported from) and follows
the Go code step by step:

* **Decoding**: a UTF-8 or UTF-16 byte-order mark picks the encoding (kubectl's
  ``BOMOverride``). Invalid UTF-8, which kubectl silently replaces with U+FFFD,
  is refused here.
* **Splitting**: a file whose first non-blank character within 4096 bytes is
  ``{`` is read as a stream of JSON values (falling back to YAML as the Go
  decoder does); otherwise it is cut at every ``\\n``-terminated line that
  starts with ``---``, and only the *first* YAML document of each piece is
  read, as ``yaml.Unmarshal`` does. A ``---`` line followed by anything but
  a comment is an error.
* **Scalars** resolve as go-yaml v2's ``resolve``: YAML 1.1 booleans, Go's
  ``ParseInt`` base 0 and ``ParseFloat``, no base 60, dates as strings; the
  non-specific tag ``!`` and unknown tags keep the text as a string.
* **Aliases** are independent copies; **merge keys** apply in order, a later
  one overriding earlier keys, a list of maps with the first map winning.
* **Keys** become strings as ``sigs.k8s.io/yaml`` turns them (``1`` → "1",
  ``y`` → "true"); null, huge integer and collection keys are refused.
* **JSON limits**: NaN and infinities are refused (JSON has none), integral
  floats below 1e21 become integers (Go writes them so), and excessive
  aliasing is refused with go-yaml's own rule.

gitkube is stricter than kubectl in one place, on purpose: a mapping key
written twice is an error (kubectl keeps one silently; the API server's strict
field validation refuses it too), as are two keys that only become equal as
strings (``1`` and ``"1"``), where kubectl keeps either at random.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import ctypes
import decimal
import json
import re
import struct
import sys
from collections.abc import Iterator
from typing import Any

import yaml._yaml as _yaml_extension
from yaml import MarkedYAMLError, YAMLError
from yaml import events as ev
from yaml._yaml import CParser

from gitkube.primitives.errors import GitkubeError

# How far kubectl looks for a ``{`` that makes the file a JSON stream.
JSON_SNIFF_BYTES = 4096
# Nesting deeper than this is refused, as Kubernetes' JSON decoder refuses it.
MAX_DEPTH = 10_000
# go-yaml's alias rule bounds the nodes that aliases add; this bounds their
# text (one alias of a long string copies the whole string into the object).
MAX_ALIAS_TEXT = 16 * 2**20

STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
BINARY_TAG = "tag:yaml.org,2002:binary"
MERGE_TAG = "tag:yaml.org,2002:merge"
_RESOLVABLE_TAGS = frozenset({STR_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG, TIMESTAMP_TAG})

_MERGE = object()  # the value of a plain ``<<``: a merge key when it is a key
_RESOLVE_MAP: dict[str, tuple[str, Any]] = {}
for _values, _tag, _value in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), BOOL_TAG, True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), BOOL_TAG, False),
    (("", "~", "null", "Null", "NULL"), NULL_TAG, None),
    ((".nan", ".NaN", ".NAN"), FLOAT_TAG, float("nan")),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), FLOAT_TAG, float("inf")),
    (("-.inf", "-.Inf", "-.INF"), FLOAT_TAG, float("-inf")),
    (("<<",), MERGE_TAG, _MERGE),
):
    for _text in _values:
        _RESOLVE_MAP[_text] = (_tag, _value)
# go-yaml looks a plain scalar up only when its first byte hints at a non-string.
_HINT_MAP = frozenset("yYnNtTfFoO~")
_HINT_NUMBER = frozenset("+-0123456789")
_HINTED = _HINT_MAP | _HINT_NUMBER | {"."}

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
# strconv.ParseFloat of text starting with '.': Go's decimal syntax, where an
# underscore may stand between two digits.
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?\Z")
_INT_BODY = {
    16: re.compile(r"[0-9a-fA-F]+\Z"),
    8: re.compile(r"[0-7]+\Z"),
    2: re.compile(r"[01]+\Z"),
    10: re.compile(r"[0-9]+\Z"),
}
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[-+]\d{2}:\d{2}))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?\Z"
)
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
# Go's unicode.IsSpace, which kubectl uses to trim a ``---`` line.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _allow_kubernetes_nesting() -> None:
    # libyaml 0.2.5+ stops at 1000 levels by default, where Go's reader and the
    # API server accept 10,000; PyYAML does not expose the setter, ctypes does.
    with contextlib.suppress(OSError, AttributeError):  # a libyaml without the limit
        ctypes.CDLL(_yaml_extension.__file__).yaml_set_max_nest_level(MAX_DEPTH + 10)


_allow_kubernetes_nesting()


@contextlib.contextmanager
def room_for_nesting() -> Iterator[None]:
    """Let Python recurse through objects nested as deep as Kubernetes allows.

    Python's default limit (1000 frames) is below Kubernetes' 10,000 levels;
    since Python 3.11 pure-Python calls do not use the C stack, so a higher
    limit for the duration of one read or write is safe.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_DEPTH * 3 + 1_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


class _DecodeError(Exception):
    """A problem go-yaml would report, with the 0-based line in the piece."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# --------------------------------------------------------------------------- scalars


def _go_parse_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` widened to uint64 (as go-yaml then tries
    ``ParseUint``): the value, or None when Go refuses it."""
    sign = 1
    body = text
    if body[:1] in "+-":
        signed = body[0] == "-"
        body = body[1:]
        sign = -1 if signed else 1
    base = 10
    if body[:2] in ("0x", "0X"):
        base, body = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, body = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, body = 2, body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, body = 8, body[1:]
    if not _INT_BODY[base].match(body):
        return None
    value = sign * int(body, base)
    if INT64_MIN <= value <= INT64_MAX:
        return value
    if text[:1] != "+" and 0 <= value <= UINT64_MAX:
        return value  # ParseUint takes no sign at all
    return None


def _go_parse_float(text: str) -> float | None:
    """``strconv.ParseFloat`` for the decimal forms go-yaml lets through; None when out of range."""
    value = float(text)
    return None if value in (float("inf"), float("-inf")) else value


def _is_go_timestamp(text: str) -> bool:
    match = _TIMESTAMP.match(text)
    if match is None:
        return False
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28]
    days += [31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not (1 <= month <= 12 and 1 <= day <= days[month - 1]):
        return False
    clock = match.group(4, 5, 6) if match.group(4) else match.group(7, 8, 9)
    if clock[0] is None:
        return True
    hour, minute, second = (int(g) for g in clock)
    return hour < 24 and minute < 60 and second < 60


def resolve(tag: str, text: str) -> tuple[str, Any]:
    """go-yaml v2's ``resolve``: the tag and value of a scalar; ``""`` is a plain untagged one.

    Raises :class:`_DecodeError` where go-yaml fails ("cannot decode ...").
    """
    if tag and tag not in _RESOLVABLE_TAGS:
        return tag, text
    rtag, value = _resolve_value(tag, text)
    if tag in ("", rtag, STR_TAG):
        return rtag, value
    if tag == FLOAT_TAG and rtag == INT_TAG and INT64_MIN <= value <= INT64_MAX:
        return FLOAT_TAG, float(value)  # go-yaml widens int and int64, not uint64
    raise _DecodeError(f"cannot decode {_short(rtag)} `{text}` as a {_short(tag)}")


def _resolve_value(tag: str, text: str) -> tuple[str, Any]:
    hint = text[:1] if text else "N"
    if tag == STR_TAG or (hint not in _HINTED and hint != "N"):
        return STR_TAG, text
    found = _RESOLVE_MAP.get(text)
    if found is not None:
        return found
    if hint == ".":
        if _DOT_FLOAT.match(text):
            value = _go_parse_float(text.replace("_", ""))
            if value is not None:
                return FLOAT_TAG, value
    elif hint in _HINT_NUMBER:
        if tag in ("", TIMESTAMP_TAG) and _is_go_timestamp(text):
            return TIMESTAMP_TAG, text
        plain = text.replace("_", "")
        integer = _go_parse_int(plain) if plain else None
        if integer is not None:
            return INT_TAG, integer
        if _YAML_STYLE_FLOAT.match(plain):
            value = _go_parse_float(plain)
            if value is not None:
                return FLOAT_TAG, value
    return STR_TAG, text


def resolves_to_itself(text: str) -> bool:
    """Whether go-yaml reads ``text``, written plain, as this very string."""
    return _resolve_value("", text) == (STR_TAG, text)


def _short(tag: str) -> str:
    return (
        "!!" + tag.removeprefix("tag:yaml.org,2002:")
        if tag.startswith("tag:yaml.org,2002:")
        else tag
    )


def _scalar_value(event: ev.ScalarEvent) -> Any:
    tag = event.tag
    text = event.value
    if tag is None:
        if not event.implicit[0]:
            return text  # quoted or block: always a string
        # The common case, kept short: most plain scalars are words.
        if text and text[0] not in _HINTED:
            return text
        value = _resolve_value("", text)[1]
        return float("nan") if value != value else value  # each NaN its own key
    if tag == "!":
        return text  # the non-specific tag: go-yaml does not resolve it
    rtag, value = resolve(tag, text)
    if rtag == BINARY_TAG:
        try:
            raw = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise _DecodeError("!!binary value contains invalid base64 data") from None
        return raw.decode("utf-8", errors="gitkube-go-replace")
    return value


def _json_number(value: Any) -> Any:
    """A float as JSON carries it from Go: integral ones below 1e21 are written as integers."""
    if type(value) is float and value == value and abs(value) < 1e21 and value == int(value):
        # Go prints the shortest digits that read back as this float, then zeros.
        return int(value) if abs(value) < 2**53 else int(decimal.Decimal(repr(value)))
    return value


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    # Go's encoding/json replaces each invalid byte by U+FFFD.
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("gitkube-go-replace", _go_replace)


# --------------------------------------------------------------------------- keys


def _key_string(key: Any) -> str:
    """How ``sigs.k8s.io/yaml`` turns a decoded key into a JSON object key."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if isinstance(key, int):
        if key > INT64_MAX:
            raise _DecodeError(f"unsupported map key of type uint64: {key}")
        return str(key)
    if isinstance(key, float):
        return _go_float32_g(key)
    if key is None:
        raise _DecodeError("unsupported map key: null")
    raise _DecodeError(f"invalid map key: {key!r}")


def _go_float32_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)`` with go-yaml's names for infinities."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        single = value * 2**200  # an infinity of the right sign
    if single in (_INF, _NINF):  # Go's float32(value) overflowed
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if str(single).startswith("-") else "0"
    for precision in range(1, 10):
        text = f"{single:.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent_text = text.split("e")
    digits = mantissa.replace(".", "").lstrip("-").rstrip("0") or "0"
    exponent = int(exponent_text)
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:  # Go's shortest 'g' switches to %e here
        rest = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


class _TypedKey(tuple[str, Any]):
    """A key that is not a string, kept apart from strings until the mapping ends
    (go-yaml keeps ``1`` and ``"1"`` as different keys)."""


# --------------------------------------------------------------------------- documents


class _Budget:
    """go-yaml v2's rule against alias bombs, counted the way its decoder counts."""

    __slots__ = ("alias_text", "aliases", "decodes")

    def __init__(self) -> None:
        self.decodes = 0
        self.aliases = 0
        self.alias_text = 0

    def check(self, line: int) -> None:
        if (
            self.aliases > 100
            and self.decodes > 1000
            and self.aliases / self.decodes > _allowed_alias_ratio(self.decodes)
        ):
            raise _DecodeError("document contains excessive aliasing", line)


def _allowed_alias_ratio(decodes: int) -> float:
    low, high = 400_000, 4_000_000
    if decodes <= low:
        return 0.99
    if decodes >= high:
        return 0.10
    return 0.99 - 0.89 * ((decodes - low) / (high - low))


class _Anchor:
    __slots__ = ("cost", "is_mapping", "open", "size", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.cost = 0
        self.open = True
        self.is_mapping = False
        self.size = -1  # text bytes in the value, measured at its first alias

    def text_size(self) -> int:
        if self.size < 0:
            self.size = _text_size(self.value)
        return self.size


def _text_size(value: Any) -> int:
    """Characters of text in a value: what each copy of it adds to the output."""
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            total += sum(len(key) for key in item)
            pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)
        elif type(item) is str:
            total += len(item)
        else:
            total += 8
    return total


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


class _Collection:
    """A mapping or sequence being built, with what go-yaml counts for it."""

    __slots__ = (
        "anchor",
        "cost",
        "explicit",
        "key",
        "key_line",
        "line",
        "merge_pending",
        "nonfinite",
        "typed",
        "value",
    )

    def __init__(self, value: Any, anchor: _Anchor | None, line: int) -> None:
        self.value = value
        self.anchor = anchor
        self.line = line
        self.cost = 1
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.explicit: set[Any] | None = None
        self.typed = False
        self.merge_pending = False
        self.nonfinite = False


_NO_KEY = object()


def _read_first_document(piece: bytes) -> tuple[bool, Any]:
    """The first YAML document of ``piece`` as go-yaml v2 decodes it: (found, value)."""
    parser = CParser(piece)
    get = parser.get_event
    get()  # StreamStart
    event = get()
    if type(event) is ev.StreamEndEvent:
        return False, None
    anchors: dict[str, _Anchor] = {}
    budget = _Budget()
    budget.decodes = 1  # the document node
    stack: list[_Collection] = []
    result: Any = None
    while True:
        event = get()
        kind = type(event)
        line = event.start_mark.line
        if kind is ev.ScalarEvent:
            budget.decodes += 1
            if budget.aliases > 100:
                budget.check(line)
            value = _scalar_value(event)
            cost = 1
            if event.anchor is not None:
                anchor = _Anchor()
                anchor.value, anchor.cost, anchor.open = value, 1, False
                anchors[event.anchor] = anchor
            is_merge_key = (
                event.value == "<<"
                and (event.implicit[0] or event.tag == MERGE_TAG)
                and stack
                and stack[-1].key is _NO_KEY
                and type(stack[-1].value) is dict
            )
            if is_merge_key:
                budget.decodes -= 1  # go-yaml never decodes a merge key
                stack[-1].key = _MERGE
                stack[-1].merge_pending = True
                continue
            if value is _MERGE:
                value = "<<"
        elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
            budget.decodes += 1
            if len(stack) >= MAX_DEPTH:
                raise _DecodeError(f"nesting deeper than {MAX_DEPTH} levels", line)
            anchor = None
            if event.anchor is not None:
                anchor = _Anchor()
                anchor.is_mapping = kind is ev.MappingStartEvent
                anchors[event.anchor] = anchor
            if budget.aliases > 100:
                budget.check(line)
            container: Any = {} if kind is ev.MappingStartEvent else []
            collection = _Collection(container, anchor, line)
            if stack and stack[-1].merge_pending and kind is ev.SequenceStartEvent:
                # go-yaml walks the list after a merge key without decoding it.
                collection.value = _MergeList()
                collection.cost = 0
                budget.decodes -= 1
            stack.append(collection)
            continue
        elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
            done = stack.pop()
            value = done.value
            cost = done.cost
            if type(value) is dict and done.typed:
                value = _stringify_keys(value, done.line)
            if done.nonfinite and not (
                stack and (stack[-1].merge_pending or type(stack[-1].value) is _MergeList)
            ):
                # Only now: a merge may still have replaced the value (go-yaml
                # fails when it writes the JSON, not when it reads the number).
                for item in value.values() if type(value) is dict else value:
                    _check_finite(item, done.line)
            if done.anchor is not None:
                done.anchor.value, done.anchor.cost, done.anchor.open = value, cost, False
        elif kind is ev.AliasEvent:
            budget.decodes += 1
            anchor = anchors.get(event.anchor)
            if anchor is None:
                raise _DecodeError(f"unknown anchor '{event.anchor}' referenced", line)
            if anchor.open:
                raise _DecodeError(f"anchor '{event.anchor}' value contains itself", line)
            budget.decodes += anchor.cost
            budget.aliases += anchor.cost
            budget.check(line)
            budget.alias_text += anchor.text_size()
            if budget.alias_text > MAX_ALIAS_TEXT:
                raise _DecodeError(
                    f"aliases expand to more than {MAX_ALIAS_TEXT // 2**20} MiB of text", line
                )
            value = _copy(anchor.value)
            cost = anchor.cost + 1
            if stack and stack[-1].merge_pending and not anchor.is_mapping:
                raise _DecodeError("map merge requires map or sequence of maps as the value", line)
            if type(stack[-1].value if stack else None) is _MergeList and not anchor.is_mapping:
                raise _DecodeError("map merge requires map or sequence of maps as the value", line)
        elif kind is ev.DocumentEndEvent:
            return True, result
        else:  # pragma: no cover - libyaml emits nothing else inside a document
            raise _DecodeError(f"unexpected {kind.__name__}", line)

        if not stack:
            result = _json_number(value)
            _check_finite(result, line)
            continue
        parent = stack[-1]
        parent.cost += cost
        _place(parent, value, line)


_INF, _NINF = float("inf"), float("-inf")


class _MergeList(list[Any]):
    """The sequence of maps after a merge key."""


def _place(parent: _Collection, value: Any, line: int) -> None:
    container = parent.value
    if type(container) is list:
        if type(value) is float:
            value = _json_number(value)
            parent.nonfinite |= not _is_finite(value)
        container.append(value)
        return
    if type(container) is _MergeList:
        if type(value) is not dict:
            raise _DecodeError("map merge requires map or sequence of maps as the value", line)
        container.append(value)
        return
    if parent.key is _NO_KEY:
        parent.key = value
        parent.key_line = line
        return
    key = parent.key
    parent.key = _NO_KEY
    if parent.merge_pending:
        parent.merge_pending = False
        if type(value) is _MergeList:
            merges = list(reversed(value))  # earlier maps take precedence
        elif type(value) is dict:
            merges = [value]
        else:
            raise _DecodeError("map merge requires map or sequence of maps as the value", line)
        for merged in merges:
            for merged_key, merged_value in merged.items():
                container[merged_key] = merged_value
                parent.nonfinite |= not _is_finite(merged_value)
        return
    if type(value) is float:
        value = _json_number(value)
        parent.nonfinite |= not _is_finite(value)
    if type(key) is not str:
        if type(key) in (dict, list):
            raise _DecodeError(f"invalid map key: {key!r}", parent.key_line)
        key = _TypedKey((type(key).__name__, key))
        parent.typed = True
    if parent.explicit is None:
        parent.explicit = set()
    if key in parent.explicit:
        shown = _key_string(key[1]) if type(key) is _TypedKey else key
        raise _DecodeError(f'duplicate mapping key "{shown}"', parent.key_line)
    parent.explicit.add(key)
    container[key] = value


def _is_finite(value: Any) -> bool:
    return type(value) is not float or (value == value and value not in (_INF, _NINF))


def _check_finite(value: Any, line: int) -> None:
    if not _is_finite(value):
        raise _DecodeError("NaN and infinity cannot be sent as JSON (kubectl refuses them)", line)


def _stringify_keys(mapping: dict[Any, Any], line: int) -> dict[str, Any]:
    """Turn go-yaml's typed keys into JSON keys; two keys that meet are refused."""
    out: dict[str, Any] = {}
    origin: dict[str, Any] = {}
    for key, value in mapping.items():
        raw = key[1] if type(key) is _TypedKey else key
        text = _key_string(raw)
        if text in out and origin[text] is not raw:
            raise _DecodeError(
                f"keys {_show_key(origin[text])} and {_show_key(raw)} both mean "
                f'"{text}" to kubectl, which would keep either one',
                line,
            )
        out[text] = value
        origin[text] = raw
    return out


def _show_key(key: Any) -> str:
    return json.dumps(key) if isinstance(key, str) else str(key)


# --------------------------------------------------------------------------- files


def decode_text(data: bytes | str, path: str) -> str:
    """The file's text as kubectl decodes it; invalid UTF-8 is refused."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GitkubeError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            file=path,
            line=line,
        ) from None


def read_documents(data: bytes | str, path: str) -> list[Any]:
    """Every document of a file as kubectl reads it, empty and null ones dropped.

    Raises :class:`GitkubeError` naming ``path`` and the line where kubectl
    (or gitkube, for duplicate keys) refuses the file.
    """
    try:
        return _read_documents(data, path)
    except RecursionError:
        with room_for_nesting():
            return _read_documents(data, path)


def _read_documents(data: bytes | str, path: str) -> list[Any]:
    text = decode_text(data, path)
    documents: list[Any] = []
    start = 0
    head = text.encode("utf-8")[:JSON_SNIFF_BYTES].decode("utf-8", "ignore")
    if head.lstrip(_GO_SPACE).startswith("{"):
        yaml_start = _read_json_stream(text, path, documents)
        if yaml_start is None:
            return documents
        start = yaml_start
    for first_line, piece in _split_like_kubectl(text, start, path):
        try:
            found, value = _read_first_document(piece.encode("utf-8"))
        except _DecodeError as exc:
            line = first_line + exc.line + 1 if exc.line is not None else None
            raise GitkubeError(f"malformed YAML: {exc.message}", file=path, line=line) from None
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = first_line + mark.line + 1 if mark is not None else None
            problem = exc.problem or exc.context or "invalid YAML"
            raise GitkubeError(f"malformed YAML: {problem}", file=path, line=line) from None
        except YAMLError as exc:
            raise GitkubeError(f"malformed YAML: {exc}", file=path, line=first_line + 1) from None
        if found and value is not None:
            documents.append(value)
    return documents


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset)


def _split_like_kubectl(text: str, start: int, path: str) -> list[tuple[int, str]]:
    """apimachinery's YAMLReader: cut at ``\\n``-ended lines starting with ``---``."""
    pieces: list[tuple[int, str]] = []
    buffer: list[str] = []
    buffer_line = _line_at(text, start)
    line_number = buffer_line
    lines = text[start:].split("\n")
    last = len(lines) - 1
    if lines[last] == "":
        lines.pop()  # the text ended with a newline
    for index, raw in enumerate(lines):
        # Go's ReadLine drops a "\r" only when a "\n" follows it.
        line = raw[:-1] if raw.endswith("\r") and index < last else raw
        if line.startswith("---"):
            rest = line[3:].strip(_GO_SPACE)
            if rest and not rest.startswith("#"):
                raise GitkubeError(
                    f"invalid document separator: {rest[:40]} (kubectl refuses text after ---)",
                    file=path,
                    line=line_number + 1,
                )
            if buffer:
                pieces.append((buffer_line, "".join(buffer)))
                buffer = []
            buffer_line = line_number + 1
        else:
            if not buffer:
                buffer_line = line_number
            buffer.append(line + "\n")
        line_number += 1
    if buffer:
        pieces.append((buffer_line, "".join(buffer)))
    return pieces


def _read_json_stream(text: str, path: str, documents: list[Any]) -> int | None:
    """Read leading JSON values as kubectl's decoder does.

    Returns None when the whole file was JSON, else the offset where kubectl
    switches to YAML (after a failure on the first or second value).
    """
    decoder = json.JSONDecoder(
        parse_constant=_refuse_json_constant,
        parse_float=_json_float,
        object_pairs_hook=_json_object,
    )
    consumed = 0
    count = 0
    while True:
        position = consumed
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position == len(text):
            return None
        try:
            value, consumed_after = decoder.raw_decode(text, position)
        except _DuplicateJsonKey as exc:
            raise GitkubeError(
                f'duplicate mapping key "{exc.key}"', file=path, line=_line_at(text, position) + 1
            ) from None
        except _JsonNumberTooBig as exc:
            raise GitkubeError(
                f"number {exc.text} does not fit a 64-bit float",
                file=path,
                line=_line_at(text, position) + 1,
            ) from None
        except ValueError as exc:
            if count > 1:
                raise GitkubeError(
                    f"malformed JSON: {exc}", file=path, line=_line_at(text, position) + 1
                ) from None
            # One value or none: still ambiguous, kubectl reads the rest as YAML.
            return _after_whitespace_line(text, consumed)
        count += 1
        consumed = consumed_after
        if _ESCAPED_SURROGATE.search(text, position, consumed):
            value = _replace_lone_surrogates(value)
        if value is not None:
            documents.append(value)


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _replace_lone_surrogates(value: Any) -> Any:
    """Go's JSON decoder turns an unpaired ``\\uD800`` escape into U+FFFD; so does gitkube."""
    if type(value) is str:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if type(value) is list:
        return [_replace_lone_surrogates(item) for item in value]
    if type(value) is dict:
        return {
            _replace_lone_surrogates(key): _replace_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def _after_whitespace_line(text: str, position: int) -> int:
    # The decoder eats whitespace up to and including the first newline.
    while position < len(text) and text[position] in _GO_SPACE:
        position += 1
        if text[position - 1] == "\n":
            break
    return position


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateJsonKey(key)
        result[key] = value
    return result


class _JsonNumberTooBig(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _json_float(text: str) -> Any:
    value = float(text)
    if value in (_INF, _NINF):
        raise _JsonNumberTooBig(text)  # kubectl reads the JSON, then refuses the number
    return _json_number(value)


def _refuse_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
