"""The real sops is the judge: files it writes are read by gitkube, and files
gitkube writes are read by it, for values with every kind of character,
multi-line values and binary ``data``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitkube.commands.secret import sops_config_text
from gitkube.primitives import sops
from tests.secrets.conftest import AgeKey, RealSops, make_key

# Secret keys as Kubernetes allows them; values: any Unicode scalar value
# (control characters, quotes, `ENC[`, YAML indicators, line breaks of every kind).
KEYS = st.from_regex(r"[-._a-zA-Z0-9]{1,24}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
MULTILINE = st.lists(TEXT, min_size=2, max_size=4).map("\n".join)
SECRETS = st.fixed_dictionaries(
    {
        "stringData": st.dictionaries(KEYS, st.one_of(TEXT, MULTILINE), min_size=1, max_size=4),
        "data": st.dictionaries(
            KEYS, st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()), max_size=3
        ),
    }
)
EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _secret(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "labels": {"tier": "data"}},
        "type": "Opaque",
        **{k: v for k, v in values.items() if v},
    }


@EXAMPLES
@given(values=SECRETS)
def test_files_gitkube_writes_are_decrypted_by_real_sops(
    values: dict[str, Any], real_sops: RealSops, tmp_path: Path
) -> None:
    key = make_key(tmp_path)
    document = _secret(values)
    path = tmp_path / "db.sops.yaml"
    path.write_bytes(sops.encrypt(document, [key.recipient], path=str(path)))
    assert real_sops.decrypt(path, key.file) == document


@EXAMPLES
@given(values=SECRETS)
def test_files_real_sops_writes_are_decrypted_by_gitkube(
    values: dict[str, Any], real_sops: RealSops, tmp_path: Path
) -> None:
    key = make_key(tmp_path)
    document = _secret(values)
    # The creation rules gitkube init writes: real sops finds them next to the file.
    (tmp_path / ".sops.yaml").write_text(sops_config_text([key.recipient]))
    path = tmp_path / "db.sops.yaml"
    real_sops.encrypt_json(document, path.name, tmp_path)
    envelope = sops.parse(path.read_bytes(), "db.sops.yaml")
    sops.check(envelope)  # what render checks, without a key
    opened = sops.decrypt(envelope, sops.parse_identities(key.file.read_text(), "key"))
    assert opened.document == document


def test_json_sops_files_both_ways(real_sops: RealSops, age_key: AgeKey, tmp_path: Path) -> None:
    document = _secret({"stringData": {"password": 'a"b\\c\n\td'}})
    ours = tmp_path / "ours.sops.json"
    ours.write_bytes(sops.encrypt(document, [age_key.recipient], path=str(ours)))
    assert real_sops.decrypt(ours, age_key.file) == document
    (tmp_path / ".sops.yaml").write_text(sops_config_text([age_key.recipient]))
    theirs = tmp_path / "theirs.sops.json"
    theirs.write_text(json.dumps(document))
    assert real_sops.run("--encrypt", "--in-place", theirs.name, cwd=tmp_path).returncode == 0
    identities = sops.parse_identities(age_key.file.read_text(), "key")
    assert (
        sops.decrypt(sops.parse(theirs.read_bytes(), str(theirs)), identities).document == document
    )


def test_typed_values_that_sops_writes_keep_their_mac(
    real_sops: RealSops, age_key: AgeKey, tmp_path: Path
) -> None:
    """Unquoted numbers and booleans are typed by sops (type:int, float, bool) and hashed
    in its own spelling (True, 1.5); gitkube must compute the same MAC."""
    (tmp_path / ".sops.yaml").write_text(sops_config_text([age_key.recipient]))
    path = tmp_path / "typed.sops.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: typed}\n"
        "stringData: {port: 5432, ratio: 1.5, big: 1e20, on: true, empty: ''}\n"
    )
    assert real_sops.run("--encrypt", "--in-place", path.name, cwd=tmp_path).returncode == 0
    identities = sops.parse_identities(age_key.file.read_text(), "key")
    opened = sops.decrypt(sops.parse(path.read_bytes(), str(path)), identities)
    assert opened.document["stringData"] == {
        "port": 5432,
        "ratio": 1.5,
        "big": 1e20,
        "on": True,
        "empty": "",
    }


def test_a_file_changed_without_sops_fails_its_mac(
    real_sops: RealSops, age_key: AgeKey, tmp_path: Path
) -> None:
    (tmp_path / ".sops.yaml").write_text(sops_config_text([age_key.recipient]))
    path = tmp_path / "db.sops.yaml"
    path.write_text(yaml.safe_dump(_secret({"stringData": {"password": "p"}})))
    assert real_sops.run("--encrypt", "--in-place", path.name, cwd=tmp_path).returncode == 0
    # The name is readable, but the MAC covers it: renaming the Secret is tampering.
    path.write_text(path.read_text().replace("name: db", "name: other"))
    # The real sops agrees:
    assert real_sops.run("--decrypt", path, key_file=age_key.file).returncode != 0
    identities = sops.parse_identities(age_key.file.read_text(), "key")
    with pytest.raises(sops.SopsError, match="MAC mismatch"):
        sops.decrypt(sops.parse(path.read_bytes(), "db.sops.yaml"), identities)


def test_a_key_of_another_recipient_cannot_decrypt(age_key: AgeKey, tmp_path: Path) -> None:
    other = make_key(tmp_path, "other.key")
    data = sops.encrypt(
        _secret({"stringData": {"a": "b"}}), [age_key.recipient], path="x.sops.yaml"
    )
    with pytest.raises(sops.SopsError, match="none of the age identities") as caught:
        sops.decrypt(
            sops.parse(data, "x.sops.yaml"), sops.parse_identities(other.file.read_text(), "k")
        )
    assert caught.value.file == "x.sops.yaml"


def test_unchanged_values_keep_their_ciphertext_on_edit(age_key: AgeKey) -> None:
    """As sops edit does: review can then tell which keys changed from the ciphertext."""
    identities = sops.parse_identities(age_key.identity, "k")
    first = sops.parse(
        sops.encrypt(
            _secret({"stringData": {"a": "1", "b": "2"}}), [age_key.recipient], path="x.sops.yaml"
        ),
        "x.sops.yaml",
    )
    opened = sops.decrypt(first, identities)
    second = sops.parse(
        sops.encrypt(
            _secret({"stringData": {"a": "1", "b": "3"}}),
            [age_key.recipient],
            path="x.sops.yaml",
            previous=opened,
        ),
        "x.sops.yaml",
    )
    before, after = first.stored_values(), second.stored_values()
    assert before[("stringData", "a")] == after[("stringData", "a")]
    assert before[("stringData", "b")] != after[("stringData", "b")]
