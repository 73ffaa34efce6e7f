"""The incremental render skips parsing app.yaml files that cannot declare a ``source``.

The skip must never hide a declaration: every spelling YAML allows for a
``source`` key (escapes, tags, UTF-16) is still parsed.
"""

from __future__ import annotations

import pytest

from gitkube.primitives.yamlio import load_documents
from gitkube.render.sources import may_declare_source

SPELLINGS = [
    "source: kustomize\n",
    "{source: helm}\n",
    '"sour\\x63e": kustomize\n',
    '"sour\\u0063e": kustomize\n',
    "? !!binary c291cmNl\n: kustomize\n",
    "base: &k source\n*k : kustomize\n",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_of_a_source_key_is_parsed(text: str) -> None:
    for data in (text.encode(), text.encode("utf-16")):
        (document,) = load_documents(data, "app/app.yaml")
        assert "source" in document
        assert may_declare_source(data)


def test_a_plain_app_yaml_is_not_parsed() -> None:
    data = b"labels: {tier: web}\nimages:\n- {name: nginx, newName: gcr.io/p/nginx}\n"
    assert "source" not in load_documents(data, "app/app.yaml")[0]
    assert not may_declare_source(data)
