"""``gitkube secret edit|encrypt|rotate|keygen``: SOPS files for Secrets kept in git.

Files are written in the real ``sops`` tool's format, encrypted to the age
recipients of ``secrets.age`` in gitkube.yaml, with the same creation rules
as the ``.sops.yaml`` that ``gitkube init`` and ``rotate`` write, so people
can use either tool. Plaintext touches the disk only in ``edit``, in a file
of mode 0600 that is removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gitkube.domain.config import CONFIG_FILE, RepoConfig, parse_config
from gitkube.domain.secrets import check_sops_rules
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.sops import (
    KUBERNETES_ENCRYPTED_REGEX,
    SopsError,
    decrypt,
    encrypt,
    generate_identity,
    is_sops_path,
    load_identities,
    parse,
    rules_of,
)

SOPS_CONFIG_FILE = ".sops.yaml"


def sops_config_text(recipients: Sequence[str]) -> str:
    """The ``.sops.yaml`` creation rules matching gitkube's: the real sops reads them."""
    rules = {
        "creation_rules": [
            {
                "path_regex": r"\.sops\.(yaml|yml|json)$",
                "encrypted_regex": KUBERNETES_ENCRYPTED_REGEX,
                "age": ",".join(recipients),
            }
        ]
    }
    return (
        "# Written by gitkube (docs/secrets.md); the real sops reads it. The age recipients\n"
        "# must equal secrets.age in gitkube.yaml: change them there, then `gitkube secret rotate`.\n"
        + yaml.safe_dump(rules, sort_keys=False)
    )


def _repo_config(repo: Path, *, rotating: bool = False) -> RepoConfig:
    path = repo / CONFIG_FILE
    try:
        data = path.read_bytes()
    except OSError:
        raise GitkubeError(
            "no gitkube.yaml here; run in the config repo or pass --repo", file=str(path)
        ) from None
    config = parse_config(data, str(path))
    if not config.age_recipients:
        raise GitkubeError(
            "secrets.age lists no age recipients; add yours (`gitkube secret keygen` makes one)",
            file=str(path),
        )
    rules = repo / SOPS_CONFIG_FILE
    if rules.is_file() and not rotating:
        # The real sops would encrypt to other keys than gitkube checks for.
        check_sops_rules(rules.read_bytes(), config, str(rules))
    return config


def _write_private(path: Path, data: bytes) -> None:
    # Replace atomically so a failed write never leaves a half file in the repo.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def encrypt_file(repo: Path, file: Path) -> None:
    """Encrypt a plaintext Secret file in place (``FILE`` must end in .sops.yaml/.sops.json)."""
    if not is_sops_path(file.name):
        raise GitkubeError(
            "name the file *.sops.yaml or *.sops.json so render knows it", file=str(file)
        )
    config = _repo_config(repo)
    data = file.read_bytes()
    try:
        loaded = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise GitkubeError(f"not YAML: {exc}".splitlines()[0], file=str(file)) from None
    if not isinstance(loaded, dict) or loaded.get("kind") != "Secret":
        raise GitkubeError("holds no Kubernetes Secret to encrypt", file=str(file))
    if "sops" in loaded:
        raise GitkubeError("is already encrypted; use `gitkube secret edit`", file=str(file))
    _write_private(file, encrypt(loaded, config.age_recipients, path=str(file)))


def rotate(repo: Path, key_file: str | None) -> list[str]:
    """Re-encrypt every SOPS file under ``repo`` to the current recipients, with a new data key."""
    config = _repo_config(repo, rotating=True)  # rotate rewrites .sops.yaml
    identities = load_identities(key_file)
    done = []
    files = sorted(
        p for p in repo.rglob("*") if p.is_file() and is_sops_path(p.name) and ".git" not in p.parts
    )
    # Decrypt everything first: one unreadable file stops the rotation before any write.
    opened = []
    for path in files:
        rel = str(path.relative_to(repo))
        envelope = parse(path.read_bytes(), rel)
        opened.append((path, envelope, decrypt(envelope, identities)))
    for path, envelope, plain in opened:
        _write_private(
            path,
            encrypt(
                plain.document, config.age_recipients, path=str(path), rules=rules_of(envelope)
            ),
        )
        done.append(str(path.relative_to(repo)))
    (repo / SOPS_CONFIG_FILE).write_text(sops_config_text(config.age_recipients))
    return done


def edit(repo: Path, file: Path, key_file: str | None, editor: str | None = None) -> bool:
    """Decrypt to a 0600 temporary file, run the editor, re-encrypt; return whether it changed."""
    config = _repo_config(repo)
    identities = load_identities(key_file)
    envelope = parse(file.read_bytes(), str(file))
    plain = decrypt(envelope, identities)
    same_recipients = sorted(envelope.recipients) == sorted(config.age_recipients)
    command = shlex.split(editor or os.environ.get("EDITOR") or "vi")
    fd, name = tempfile.mkstemp(prefix="gitkube-secret-", suffix=".yaml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(plain.document, handle, sort_keys=False, allow_unicode=True)
        done = subprocess.run([*command, name], check=False)
        if done.returncode != 0:
            raise GitkubeError(
                f"the editor exited {done.returncode}; the file is unchanged", file=str(file)
            )
        try:
            edited: Any = yaml.safe_load(Path(name).read_text())
        except yaml.YAMLError as exc:
            raise GitkubeError(
                f"the edited text is not YAML ({str(exc).splitlines()[0]}); the file is unchanged",
                file=str(file),
            ) from None
    finally:
        os.unlink(name)
    if not isinstance(edited, dict) or edited.get("kind") != "Secret":
        raise GitkubeError("the edited text holds no Secret; the file is unchanged", file=str(file))
    if edited == plain.document and same_recipients:
        return False
    _write_private(
        file,
        encrypt(
            edited,
            config.age_recipients,
            path=str(file),
            rules=rules_of(envelope),
            # Same recipients: keep the data key, so unchanged values keep their ciphertext.
            previous=plain if same_recipients else None,
        ),
    )
    return True


def keygen(out: Path | None) -> tuple[str, Path | None]:
    """A new age identity: appended to ``out`` (mode 0600) if given; returns the recipient."""
    identity, recipient = generate_identity()
    if out is None:
        return recipient, None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"# public key: {recipient}\n{identity}\n")
    return recipient, out


def seed_secrets(repo: Path, key_file: Path) -> str:
    """For ``gitkube init``: a fresh identity, fresh random values for the template's SOPS files.

    The template's files are encrypted to a demo recipient nobody has the key
    of; their readable parts (name, keys) are kept and every value is replaced
    by a new random password, encrypted to the new identity.
    """
    recipient, _ = keygen(key_file)
    config_path = repo / CONFIG_FILE
    text = config_path.read_text()
    config_path.write_text(_with_recipient(text, recipient))
    for path in sorted(p for p in repo.rglob("*") if p.is_file() and is_sops_path(p.name)):
        envelope = parse(path.read_bytes(), str(path.relative_to(repo)))
        document = dict(envelope.document)
        for field in ("data", "stringData"):
            values = document.get(field)
            if isinstance(values, dict):
                document[field] = {k: secrets.token_urlsafe(24) for k in values}
        if isinstance(document.get("data"), dict):
            import base64

            document["data"] = {
                k: base64.b64encode(v.encode()).decode() for k, v in document["data"].items()
            }
        _write_private(
            path, encrypt(document, [recipient], path=str(path), rules=rules_of(envelope))
        )
    (repo / SOPS_CONFIG_FILE).write_text(sops_config_text([recipient]))
    return recipient


def _with_recipient(config_text: str, recipient: str) -> str:
    """gitkube.yaml's text with secrets.age set to the one recipient (the template has a marked line)."""
    lines = config_text.splitlines()
    for index, line in enumerate(lines):
        if line.lstrip().startswith("age: [") and lines[index - 1].strip() == "secrets:":
            lines[index] = f"  age: [{recipient}]"
            return "\n".join(lines) + "\n"
    raise SopsError("the template's gitkube.yaml has no secrets.age line", file=CONFIG_FILE)
