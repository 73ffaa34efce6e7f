"""gitkube reads every file as kubectl does: proved against kubectl's own reader.

Each property runs against the Go peer (gitkube.testing.yamlpeer), built
from the same k8s.io/apimachinery and sigs.k8s.io/yaml as the control plane.
``GITKUBE_FUZZ_EXAMPLES`` scales the generated cases (CI runs the default;
``scripts/fuzz`` runs a nightly-sized batch).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeyaml import read_documents
from gitkube.testing.yamlgen import SCALAR_CORPUS, plain_scalars, yaml_files
from gitkube.testing.yamlpeer import YamlPeer
from tests.yaml.agreement import disagreement

EXAMPLES = int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "3000"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every example of issues 10 and 22, and each file the generators once found
# disagreeing, stays here as a regression example.
REGRESSIONS: list[bytes] = [
    b'data: {zip: "02139", flag: "y", ver: "1e3", mode: "0o755"}\n',
    b"data: {zip: 02139, flag: y, ver: 1e3, mode: 0o755, t: 12:30, d: 2026-01-01}\n",
    b"y: 1\n'08': 2\n08: 3\n",
    b"a: =\nb: 12:30\nc: 2026-01-01T10:00:00Z\nd: !!binary aGk=\n",
    b"svc: &labels {app: web}\nsel: *labels\n",
    b"base: &base {replicas: 1}\nd:\n  replicas: 3\n  <<: *base\n",
    b"a: &a {x: 1}\nb: &b {x: 2}\nc:\n  <<: [*a, *b]\n  <<: {x: 3}\n",
    b"a: 1\r---\rb: 2\n",
    b"a: 1\xc2\x85---\xc2\x85b: 2\n",
    b"a: 1\xe2\x80\xa8---\xe2\x80\xa8b: 2\n",
    "a: 1\n---\nb: 2\n".encode("utf-16"),
    b"a: 1\n...\nb: 2\n",
    b"--- {inline: object}\n",
    b"%YAML 1.1\n---\na: 1\n",
    b"---\n---\n---\na: 1\n---\n",
    b"a: ! 12\nb: !foo bar\nc: !!set {x}\nd: !!omap [{a: 1}]\n",
    b"big: 0x10000000000000000\nhuge: 1.0e+400\nu: 18446744073709551615\n",
    b"18446744073709551615: a\n",
    b"~: a\n",
    b"1: a\n'1': b\n",
    b"1e20: &c +5\r\n0x1F: U\r\n",
    b"name: !!float '18446744073709551615'\n",
    b'{"a": 1.0e+400}\n',
    b'{"a": 1}\nb: 2\n',
    b'{"a": 1}\n{"b": 2}\n',
    b'{"lone": "\\ud800", "pair": "\\ud83d\\ude00", "\\udfff": 1}\n',
    b"{No: &b STl, No: &c [&c x, []]}\n",
    b"a: .nan\n",
    b"a: .nan\n<<: {a: 1}\n",
    b"- &a [*a]\n",
    b"a: &x 1\nb: *x\nc: &x 2\nd: *x\n",
    b"\xef\xbb\xbfa: 1\n---\n\xef\xbb\xbfb: 2\n",
    b"? [a]\n: 1\n",
    b"1.5: a\n1e6: b\n123456: c\n0.1: d\n-0.0: g\n1e38: h\n1e50: i\n",
    b".246_02: a\n._5: b\n.5_: c\n.5e1_0: d\n.5e_1: e\n.5__0: f\n",
    b"a: 1e-400\nb: .5e400\nc: !!float 12\ne: -0.0\nf: 1e20\ng: 1e21\nj: +5\nk: 1_0\nm: -0b11\n",
    b"a: " + b"[" * 9999 + b"]" * 9999 + b"\n",
    b"a: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
]


@pytest.mark.parametrize(
    "data", REGRESSIONS, ids=[f"regression-{i}" for i in range(len(REGRESSIONS))]
)
def test_regression_examples_read_as_kubectl_reads_them(
    kubectl_reader: YamlPeer, data: bytes
) -> None:
    assert disagreement(kubectl_reader, data) is None


@fuzz
@given(value=plain_scalars(), style=st.sampled_from(["{}: v\n", "k: {}\n", "- {}\n", "k: [{}]\n"]))
def test_plain_scalars_resolve_as_kubectl_resolves_them(
    kubectl_reader: YamlPeer, value: str, style: str
) -> None:
    assert disagreement(kubectl_reader, style.format(value).encode()) is None


@pytest.mark.parametrize("value", SCALAR_CORPUS)
@pytest.mark.parametrize(
    "tag", ["", "! ", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!timestamp "]
)
def test_tagged_scalars_resolve_as_kubectl_resolves_them(
    kubectl_reader: YamlPeer, value: str, tag: str
) -> None:
    assert disagreement(kubectl_reader, f"k: {tag}{value}\n".encode()) is None


@fuzz
@given(data=yaml_files())
def test_whole_files_read_as_kubectl_reads_them(kubectl_reader: YamlPeer, data: bytes) -> None:
    assert disagreement(kubectl_reader, data) is None


def test_aliases_are_independent_copies() -> None:
    (doc,) = read_documents(b"a: &labels {app: web}\nb: *labels\nc: [*labels]\n", "f.yaml")
    doc["a"]["extra"] = "x"
    assert doc["b"] == {"app": "web"}
    assert doc["c"] == [{"app": "web"}]


def test_a_later_merge_overrides_an_earlier_key() -> None:
    (doc,) = read_documents(b"base: &b {replicas: 1}\nd:\n  replicas: 3\n  <<: *b\n", "f")
    assert doc["d"] == {"replicas": 1}  # what kubectl applies, not 3


@pytest.mark.parametrize(
    ("data", "needle", "line"),
    [
        (b"a: 1\nb: [\n", "malformed YAML", 3),
        (b"a: 1\n---x\n", "invalid document separator", 2),
        (b"a: 1\na: 2\n", 'duplicate mapping key "a"', 2),
        (b"a: .inf\n", "NaN and infinity", 1),
        (b"a: *nope\n", "unknown anchor", 1),
        (b"k: v\n---\nx: \xff\n", "not UTF-8", 3),
        (b"a: " + b"[" * 10_001 + b"]" * 10_001 + b"\n", "nesting deeper than 10000", 1),
    ],
)
def test_refusals_name_the_file_and_line(data: bytes, needle: str, line: int) -> None:
    with pytest.raises(GitkubeError) as caught:
        read_documents(data, "web/app/x.yaml")
    assert needle in caught.value.message
    assert caught.value.file == "web/app/x.yaml"
    assert caught.value.line == line


def test_excessive_aliasing_is_refused_quickly() -> None:
    bomb = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for name, previous in zip("bcdefghij", "abcdefghi", strict=True):
        bomb += f"{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous}]\n".encode()
    with pytest.raises(GitkubeError, match="excessive aliasing"):
        read_documents(bomb, "bomb.yaml")


def test_aliases_of_long_text_are_bounded() -> None:
    long_value = "x" * 2**20
    bomb = f"a: &a {long_value}\nb: [{', '.join(['*a'] * 20)}]\n".encode()
    with pytest.raises(GitkubeError, match="aliases expand to more than 16 MiB") as caught:
        read_documents(bomb, "bomb.yaml")
    assert caught.value.line == 2
