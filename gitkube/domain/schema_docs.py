"""Documentation carried inside JSON schemas, and their one-line type names.

A plugin's ``app.yaml`` schemas (and gitkube.yaml's) carry ``description``,
``default`` and ``examples`` annotations; ``docs/reference.md`` and
``gitkube explain`` are generated from them. Annotations do not change what
validates.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_UNSET: Any = object()


def documented(
    schema: Mapping[str, Any],
    description: str,
    *,
    default: Any = _UNSET,
    examples: list[Any] | None = None,
    fields: Mapping[str, str | Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A copy of ``schema`` with documentation annotations added.

    :param description: what the key is for (one or two sentences).
    :param default: the value used when the key is absent.
    :param examples: values as a user would write them in YAML.
    :param fields: for an object (or an array of objects), each property's
        description, or a mapping of annotations (``description``,
        ``default``, ``examples``) for it; dotted names reach nested
        properties (``"urlFrom.env"``).
    """
    result = copy.deepcopy(dict(schema))
    result["description"] = description
    if default is not _UNSET:
        result["default"] = default
    if examples is not None:
        result["examples"] = examples
    for name, doc in (fields or {}).items():
        target = result
        for part in name.split("."):  # "urlFrom.secret.name" reaches nested fields
            item = target.get("items", target) if target.get("type") == "array" else target
            properties = item.get("properties", {})
            if part not in properties:
                raise KeyError(f"documented field {name!r} is not in the schema")
            properties[part] = target = copy.deepcopy(properties[part])
        target.update({"description": doc} if isinstance(doc, str) else doc)
    return result


def type_name(schema: Mapping[str, Any]) -> str:
    """A short type for people: ``string``, ``list of object``, ``"TCP" | "UDP"``."""
    if "enum" in schema:
        return " | ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {type_name(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return f"map of string to {type_name(schema['additionalProperties'])}"
    if kind is None and "oneOf" in schema:
        return " or ".join(type_name(s) for s in schema["oneOf"])
    return str(kind or "any")


def constraints(schema: Mapping[str, Any]) -> list[str]:
    """Human notes for the checks a schema makes beyond its type."""
    notes = []
    if "pattern" in schema:
        notes.append(f"matches `{schema['pattern']}`")
    if "minimum" in schema and "maximum" in schema:
        notes.append(f"{schema['minimum']}..{schema['maximum']}")
    elif "minimum" in schema:
        notes.append(f">= {schema['minimum']}")
    elif "maximum" in schema:
        notes.append(f"<= {schema['maximum']}")
    if "minLength" in schema:
        notes.append(f"at least {schema['minLength']} characters")
    if "maxLength" in schema:
        notes.append(f"at most {schema['maxLength']} characters")
    if "minItems" in schema:
        notes.append(f"at least {schema['minItems']} items")
    if schema.get("uniqueItems"):
        notes.append("no duplicates")
    return notes
