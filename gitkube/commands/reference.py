"""The configuration reference, generated from the schemas gitkube and its plugins declare.

``docs/reference.md`` is this module's output for the built-in plugins
(``scripts/gen-docs`` writes it; a test fails when it is stale), and
``gitkube explain KEY`` prints one entry of the same reference for the
plugins installed here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitkube.domain.config import CONFIG_FILE, CONFIG_SCHEMA, closest
from gitkube.domain.plugin_manager import build_plugin_manager
from gitkube.domain.schema_docs import constraints, documented, type_name
from gitkube.primitives.errors import GitkubeError
from gitkube.render.pipeline import APP_FILE, CORE_APP_KEYS

_CORE_DOCS = {
    "name": documented(
        CORE_APP_KEYS["name"],
        "The app's name (the `app` label and the prefix of generated objects). Without it, "
        "the `app` label that every manifest of the app already carries, if they all carry "
        "the same one; otherwise the directory's name.",
        default="<the app label all its manifests carry, else the directory's name>",
        examples=["frontend"],
    ),
    "namespace": documented(
        CORE_APP_KEYS["namespace"],
        "The namespace of the app's namespaced objects that name none (instead of "
        "`namespace` in gitkube.yaml). Objects that name one keep it.",
        default="<namespace in gitkube.yaml>",
        examples=["monitoring"],
    ),
    "dependsOn": documented(
        CORE_APP_KEYS["dependsOn"],
        "App paths this app waits for: sync applies it only after they are applied and "
        "healthy, and not at all when one fails (see docs/ordering.md). An unknown app or "
        "a cycle is a render error.",
        default="[]",
        examples=[["web/ghost"]],
    ),
}


@dataclass(frozen=True)
class Entry:
    """One documented key: where it lives, who owns it, and its schema."""

    file: str
    path: str
    owner: str
    schema: Mapping[str, Any]
    required: bool = False


def config_entries() -> Iterator[Entry]:
    yield from _walk(CONFIG_FILE, "", "gitkube", CONFIG_SCHEMA, set())


def app_entries(builtins_only: bool = True) -> list[Entry]:
    owners = build_plugin_manager(builtins_only=builtins_only).app_keys()
    keys: dict[str, tuple[str, Mapping[str, Any]]] = {
        key: ("gitkube", _CORE_DOCS.get(key, schema)) for key, schema in CORE_APP_KEYS.items()
    }
    keys.update(owners)
    entries: list[Entry] = []
    for key, (owner, schema) in keys.items():
        entries.append(Entry(APP_FILE, key, owner, schema))
        entries.extend(_walk(APP_FILE, key, owner, schema, set(), top=False))
    return entries


def option_entries(builtins_only: bool = True) -> list[Entry]:
    entries: list[Entry] = []
    schemas = build_plugin_manager(builtins_only=builtins_only).option_schemas()
    for plugin, schema in schemas.items():
        path = f"plugins.options.{plugin}"
        entries.append(Entry(CONFIG_FILE, path, plugin, schema))
        entries.extend(_walk(CONFIG_FILE, path, plugin, schema, set(), top=False))
    return entries


def all_entries(builtins_only: bool = True) -> list[Entry]:
    return [*config_entries(), *option_entries(builtins_only), *app_entries(builtins_only)]


def explain_text(key: str) -> str:
    """``gitkube explain KEY``: the entry, then its fields one per line."""
    entry = find_entry(key)
    entries = all_entries(builtins_only=False)
    prefix = entry.path
    children = [
        e
        for e in entries
        if e.file == entry.file
        and e.path.replace("[]", "").rsplit(".", 1)[0] == prefix.replace("[]", "")
        and e.path != prefix
    ]
    lines = [f"{entry.file}: {describe(entry).removeprefix('### ')}".rstrip()]
    if children:
        lines += ["", "Fields:"]
        for child in children:
            name = child.path.rsplit(".", 1)[-1]
            needed = ", required" if child.required else ""
            default = (
                f", default {_inline(child.schema['default'])}" if "default" in child.schema else ""
            )
            lines.append(f"  {name:<12} {type_name(child.schema)}{needed}{default}")
            if child.schema.get("description"):
                lines.append(f"               {child.schema['description']}")
    return "\n".join(lines) + "\n"


def find_entry(key: str) -> Entry:
    """The entry for ``key`` (``disks``, ``disks.sizeGb``, ``cluster.zone``, ``plugins.options.hpa``).

    Looks at every installed plugin. Raises :class:`GitkubeError` naming the
    closest key when there is none.
    """
    entries = all_entries(builtins_only=False)
    by_path = {e.path: e for e in entries}
    wanted = key.strip().replace("[]", "")
    for entry in entries:
        if entry.path.replace("[]", "") == wanted:
            return entry
    raise GitkubeError(
        f'no key "{key}" in gitkube.yaml or app.yaml{closest(wanted, set(by_path))}; '
        "see docs/reference.md or `gitkube plugins`"
    )


def _walk(
    file: str,
    prefix: str,
    owner: str,
    schema: Mapping[str, Any],
    required: set[str],
    top: bool = True,
) -> Iterator[Entry]:
    item = schema.get("items", schema) if schema.get("type") == "array" else schema
    sep = "[]." if item is not schema else "."
    needed = set(item.get("required", ()))
    for name, sub in item.get("properties", {}).items():
        path = f"{prefix}{sep}{name}" if prefix else name
        yield Entry(file, path, owner, sub, name in needed)
        yield from _walk(file, path, owner, sub, needed, top=False)


def _example_yaml(path: str, value: Any) -> str:
    """``value`` placed under its dotted path, as a user writes it."""
    for part in reversed(path.split(".")):
        if part.endswith("[]"):
            value = {part[:-2]: [value] if not isinstance(value, list) else value}
        else:
            value = {part: value}
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, width=88)
    return str(text)


def describe(entry: Entry) -> str:
    """The entry as Markdown: type, default, checks, description, examples."""
    schema = entry.schema
    facts = [f"type: {type_name(schema)}"]
    if entry.required:
        facts.append("required")
    if "default" in schema:
        facts.append(f"default: `{_inline(schema['default'])}`")
    facts += constraints(schema)
    facts.append(f"owner: {entry.owner}")
    lines = [f"### `{entry.path}`", "", "; ".join(facts), ""]
    if "description" in schema:
        lines += [schema["description"], ""]
    for example in schema.get("examples", ()):
        lines += ["```yaml", _example_yaml(entry.path, example).rstrip("\n"), "```", ""]
    return "\n".join(lines)


def _inline(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value or '""'
    return yaml.safe_dump(value, default_flow_style=True).strip()


def reference_markdown() -> str:
    """docs/reference.md for gitkube and its built-in plugins."""
    parts = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen-docs from the schemas of gitkube and its built-in",
        "     plugins; tests/test_docs.py fails when it is stale. Do not edit by hand. -->",
        "",
        "Every key of `gitkube.yaml` and `app.yaml`, with its type, default and",
        "an example. `gitkube explain KEY` prints one entry, including the keys of",
        "installed third-party plugins; `gitkube plugins -o json` gives the schemas.",
        "Unknown keys are errors that name the file and suggest the closest key.",
        "",
        f"## {CONFIG_FILE}",
        "",
        CONFIG_SCHEMA["description"],
        "",
    ]
    parts += [describe(e) for e in [*config_entries(), *option_entries()]]
    parts += [
        f"## {APP_FILE}",
        "",
        "Optional, one per app directory: short declarations the plugins expand.",
        "",
    ]
    parts += [describe(e) for e in app_entries()]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = reference_markdown()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
