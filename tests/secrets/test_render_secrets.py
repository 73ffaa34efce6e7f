"""Render checks SOPS files without any key and writes only ciphertext."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitkube.domain.secrets import SOPS_ANNOTATION
from gitkube.primitives import sops
from tests.conftest import MINIMAL_CONFIG, Cli, write_tree
from tests.secrets.conftest import AgeKey, make_key

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "ghost-db", "labels": {"tier": "data"}},
    "type": "Opaque",
    "stringData": {"password": "hunter2-plaintext"},
}
APP_CONFIG = "labels: {team: blog}\n"


def _repo(tmp_path: Path, key: AgeKey, files: dict[str, bytes]) -> Path:
    root = tmp_path / "repo"
    write_tree(
        root,
        {
            "gitkube.yaml": MINIMAL_CONFIG + f"secrets: {{age: [{key.recipient}]}}\n",
            "web/ghost/app.yaml": APP_CONFIG,
        },
    )
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _render(cli: Cli, root: Path, out: Path):
    return cli("render", "--out", out, root)


def test_render_writes_a_labelled_wrapper_holding_only_ciphertext(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    source = sops.encrypt(SECRET, [age_key.recipient], path="db.sops.yaml")
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": source})
    out = tmp_path / "out"
    result = _render(cli, root, out)  # no key anywhere in the environment
    assert result.returncode == 0, result.stderr
    rendered = (out / "web/ghost/secret-ghost-db.yaml").read_bytes()
    assert b"hunter2-plaintext" not in rendered
    wrapper = yaml.safe_load(rendered)
    labels = wrapper["metadata"]["labels"]
    assert labels["team"] == "blog" and labels["tier"] == "data"
    assert "app.kubernetes.io/managed-by" in labels
    # The file is carried verbatim, so its MAC still holds.
    assert wrapper["metadata"]["annotations"][SOPS_ANNOTATION].encode() == source
    assert "stringData" not in wrapper and "data" not in wrapper
    for path in out.rglob("*"):
        if path.is_file():
            assert b"hunter2-plaintext" not in path.read_bytes(), path


def test_a_sops_file_that_is_not_encrypted_is_refused(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": yaml.safe_dump(SECRET).encode()})
    out = tmp_path / "out"
    result = _render(cli, root, out)
    assert result.returncode == 1
    assert "web/ghost/db.sops.yaml" in result.stderr and "not encrypted" in result.stderr
    assert not out.exists()


def test_a_value_put_back_in_plaintext_is_refused(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    source = sops.encrypt(SECRET, [age_key.recipient], path="db.sops.yaml").decode()
    lines = [
        "  password: hunter2-plaintext" if line.startswith("  password: ENC[") else line
        for line in source.splitlines()
    ]
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": "\n".join(lines).encode()})
    result = _render(cli, root, tmp_path / "out")
    assert result.returncode == 1
    assert "web/ghost/db.sops.yaml" in result.stderr
    assert "stringData:password is not encrypted" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_file_encrypted_to_an_unknown_recipient_is_refused(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    stranger = make_key(tmp_path, "stranger.key")
    source = sops.encrypt(SECRET, [stranger.recipient], path="db.sops.yaml")
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": source})
    result = _render(cli, root, tmp_path / "out")
    assert result.returncode == 1
    assert "web/ghost/db.sops.yaml" in result.stderr
    assert stranger.recipient in result.stderr and "not in secrets.age" in result.stderr


def test_a_secret_whose_identity_is_encrypted_is_refused(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    """sops without encrypted_regex encrypts the name too: render could not even say what it is."""
    source = sops.encrypt(
        SECRET,
        [age_key.recipient],
        path="db.sops.yaml",
        rules={"unencrypted_suffix": "_unencrypted"},
    )
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": source})
    result = _render(cli, root, tmp_path / "out")
    assert result.returncode == 1
    assert "web/ghost/db.sops.yaml" in result.stderr and "apiVersion" in result.stderr


def test_a_sops_file_without_a_mac_is_refused(cli: Cli, age_key: AgeKey, tmp_path: Path) -> None:
    source = sops.encrypt(SECRET, [age_key.recipient], path="db.sops.yaml").decode()
    lines = [line for line in source.splitlines() if not line.startswith("  mac: ")]
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": "\n".join(lines).encode()})
    result = _render(cli, root, tmp_path / "out")
    assert result.returncode == 1
    assert "web/ghost/db.sops.yaml" in result.stderr and "MAC" in result.stderr


def test_sops_creation_rules_at_the_root_are_not_a_manifest(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    from gitkube.commands.secret import sops_config_text

    rules = sops_config_text([age_key.recipient]).encode()
    root = _repo(tmp_path, age_key, {".sops.yaml": rules})
    assert _render(cli, root, tmp_path / "out").returncode == 0


def test_a_plaintext_key_outside_data_is_refused(cli: Cli, age_key: AgeKey, tmp_path: Path) -> None:
    """A mis-indented `user: x` lands at the top level, which sops leaves in plaintext."""
    source = sops.encrypt(
        {**SECRET, "password": "leaked-value"}, [age_key.recipient], path="db.sops.yaml"
    )
    root = _repo(tmp_path, age_key, {"web/ghost/db.sops.yaml": source})
    result = _render(cli, root, tmp_path / "out")
    assert result.returncode == 1
    assert (
        "web/ghost/db.sops.yaml" in result.stderr and "top-level key(s) password" in result.stderr
    )
    assert "leaked-value" not in result.stderr
