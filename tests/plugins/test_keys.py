"""The label and annotation keys are one contract, written down once."""

from __future__ import annotations

import re
from pathlib import Path

import gitkube.plugin_api as plugin_api
from gitkube.domain import keys

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    name: value
    for name, value in vars(keys).items()
    if name.isupper() and isinstance(value, str) and name != "STATUS_PREFIX"
}


def test_every_key_reaches_plugins_through_the_plugin_api():
    missing = [name for name in KEYS if getattr(plugin_api, name, None) != KEYS[name]]
    assert missing == []
    assert set(KEYS) <= set(plugin_api.__all__)


def test_no_key_is_spelt_out_anywhere_else():
    literals = {value for value in KEYS.values() if not value.endswith("/")}
    pattern = re.compile(r"""["']([^"'\s]+)["']""")
    found = []
    for package in ("gitkube", "plugins"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == Path(keys.__file__) or "testing" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for literal in pattern.findall(line):
                    if literal in literals:
                        found.append(f"{path.relative_to(ROOT)}:{number}: {literal}")
    assert found == []
