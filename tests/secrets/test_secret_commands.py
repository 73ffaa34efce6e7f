"""gitkube secret edit|encrypt|rotate|keygen, and the secrets gitkube init seeds."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import yaml

from gitkube.primitives import sops
from tests.conftest import MINIMAL_CONFIG, Cli, write_tree
from tests.secrets.conftest import AgeKey, RealSops, make_key

PLAIN = """\
apiVersion: v1
kind: Secret
metadata: {name: rcon}
stringData:
  password: first-password
  user: admin
"""


def _repo(tmp_path: Path, *keys: AgeKey) -> Path:
    recipients = ", ".join(k.recipient for k in keys)
    return write_tree(
        tmp_path / "repo",
        {
            "gitkube.yaml": MINIMAL_CONFIG + f"secrets: {{age: [{recipients}]}}\n",
            "minecraft/rcon.sops.yaml": PLAIN,
        },
    )


def test_keygen_appends_a_private_identity(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "keys" / "age.txt"
    result = cli("secret", "keygen", "--out", out)
    assert result.returncode == 0, result.stderr
    recipient = result.stdout.strip()
    assert recipient.startswith("age1")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    (identity,) = sops.parse_identities(out.read_text(), str(out))
    assert str(identity.to_public()) == recipient


def test_encrypt_writes_a_file_the_real_sops_decrypts(
    cli: Cli, real_sops: RealSops, age_key: AgeKey, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, age_key)
    file = repo / "minecraft/rcon.sops.yaml"
    result = cli("secret", "encrypt", file, "--repo", repo)
    assert result.returncode == 0, result.stderr
    assert b"first-password" not in file.read_bytes()
    assert real_sops.decrypt(file, age_key.file) == yaml.safe_load(PLAIN)
    again = cli("secret", "encrypt", file, "--repo", repo)
    assert again.returncode == 1 and "already encrypted" in again.stderr


def test_edit_uses_a_private_temporary_file_and_keeps_unchanged_ciphertext(
    cli: Cli, age_key: AgeKey, tmp_path: Path, monkeypatch
) -> None:
    repo = _repo(tmp_path, age_key)
    file = repo / "minecraft/rcon.sops.yaml"
    assert cli("secret", "encrypt", file, "--repo", repo).returncode == 0
    before = sops.parse(file.read_bytes(), "f").stored_values()
    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import os, sys\n"
        "path = sys.argv[1]\n"
        f"open({str(seen)!r}, 'w').write(path + ' ' + oct(os.stat(path).st_mode & 0o777))\n"
        "text = open(path).read().replace('first-password', 'second-password')\n"
        "open(path, 'w').write(text)\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    result = cli("secret", "edit", file, "--repo", repo, "--age-key-file", age_key.file)
    assert result.returncode == 0, result.stderr
    temp_path, mode = seen.read_text().split()
    assert mode == "0o600"
    assert not Path(temp_path).exists()  # removed after re-encrypting
    after = sops.parse(file.read_bytes(), "f")
    values = after.stored_values()
    assert values[("stringData", "user")] == before[("stringData", "user")]
    assert values[("stringData", "password")] != before[("stringData", "password")]
    opened = sops.decrypt(after, sops.parse_identities(age_key.identity, "k"))
    assert opened.document["stringData"]["password"] == "second-password"


def test_edit_with_a_failing_editor_changes_nothing(
    cli: Cli, age_key: AgeKey, tmp_path: Path, monkeypatch
) -> None:
    repo = _repo(tmp_path, age_key)
    file = repo / "minecraft/rcon.sops.yaml"
    assert cli("secret", "encrypt", file, "--repo", repo).returncode == 0
    original = file.read_bytes()
    monkeypatch.setenv("EDITOR", "false")
    result = cli("secret", "edit", file, "--repo", repo, "--age-key-file", age_key.file)
    assert result.returncode == 1 and "unchanged" in result.stderr
    assert file.read_bytes() == original


def test_rotate_reencrypts_to_the_current_recipients(
    cli: Cli, real_sops: RealSops, age_key: AgeKey, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, age_key)
    file = repo / "minecraft/rcon.sops.yaml"
    assert cli("secret", "encrypt", file, "--repo", repo).returncode == 0
    newcomer = make_key(tmp_path, "new.key")
    config = repo / "gitkube.yaml"
    config.write_text(config.read_text().replace(age_key.recipient, newcomer.recipient))
    result = cli("secret", "rotate", "--repo", repo, "--age-key-file", age_key.file)
    assert result.returncode == 0, result.stderr
    assert sops.parse(file.read_bytes(), "f").recipients == [newcomer.recipient]
    assert real_sops.decrypt(file, newcomer.file) == yaml.safe_load(PLAIN)
    assert real_sops.run("--decrypt", file, key_file=age_key.file).returncode != 0
    assert newcomer.recipient in (repo / ".sops.yaml").read_text()


def test_rotate_without_a_key_that_opens_every_file_writes_nothing(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, age_key)
    file = repo / "minecraft/rcon.sops.yaml"
    assert cli("secret", "encrypt", file, "--repo", repo).returncode == 0
    original = file.read_bytes()
    stranger = make_key(tmp_path, "stranger.key")
    result = cli("secret", "rotate", "--repo", repo, "--age-key-file", stranger.file)
    assert result.returncode == 1
    assert "minecraft/rcon.sops.yaml" in result.stderr
    assert file.read_bytes() == original


def test_init_seeds_fresh_secrets_and_rules_the_real_sops_reads(
    cli: Cli, real_sops: RealSops, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys.txt"
    repo = tmp_path / "config"
    result = cli("init", repo, "--age-key-file", key_file)
    assert result.returncode == 0, result.stderr
    (identity,) = sops.parse_identities(key_file.read_text(), str(key_file))
    recipient = str(identity.to_public())
    assert yaml.safe_load((repo / "gitkube.yaml").read_text())["secrets"]["age"] == [recipient]
    for rel in ("web/ghost/ghost-db.sops.yaml", "minecraft/rcon.sops.yaml"):
        opened = real_sops.decrypt(repo / rel, key_file)
        password = opened["stringData"]["password"]
        assert len(password) >= 24 and "demo" not in password
    # A new file, encrypted by the real sops with the rules init wrote, renders.
    new = repo / "web/ghost/extra.sops.yaml"
    new.write_text(PLAIN)
    done = real_sops.run("--encrypt", "--in-place", "web/ghost/extra.sops.yaml", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert sops.parse(new.read_bytes(), "x").recipients == [recipient]
    rendered = cli("render", "--out", tmp_path / "out", repo)
    assert rendered.returncode == 0, rendered.stderr


def test_init_puts_the_identity_where_sops_looks_by_default(cli: Cli, tmp_path: Path) -> None:
    # tests/conftest.py points XDG_CONFIG_HOME into tmp_path
    assert cli("init", tmp_path / "config").returncode == 0
    keys = tmp_path / "xdg-config" / "sops" / "age" / "keys.txt"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert sops.parse_identities(keys.read_text(), str(keys))


def test_encrypt_refuses_when_sops_rules_disagree_with_gitkube_yaml(
    cli: Cli, age_key: AgeKey, tmp_path: Path
) -> None:
    from gitkube.commands.secret import sops_config_text

    repo = _repo(tmp_path, age_key)
    other = make_key(tmp_path, "other.key")
    (repo / ".sops.yaml").write_text(sops_config_text([other.recipient]))
    file = repo / "minecraft/rcon.sops.yaml"
    result = cli("secret", "encrypt", file, "--repo", repo)
    assert result.returncode == 1
    assert ".sops.yaml" in result.stderr and other.recipient in result.stderr
    assert file.read_text() == PLAIN  # untouched
