"""SOPS files encrypted to age recipients: read, check, decrypt and write them.

The format is the one of the real ``sops`` tool (github.com/getsops/sops/v3),
which is the judge: ``tests/secrets`` check against a pinned build of it that
files it writes are read here and files written here are read by it.

A SOPS file is the user's document plus a ``sops`` section. Every value the
creation rules select (``encrypted_regex`` etc.) is replaced by
``ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]``: AES-256-GCM under one
random data key, a 32-byte IV, the value's key path (``data:password:``) as
additional data. The data key is encrypted to every age recipient (armored
age files in ``sops.age``). ``sops.mac`` is the SHA-512 of every value (the
plaintext ones too) in document order, encrypted with the data key and the
``lastmodified`` timestamp as additional data: it binds the whole document,
so nothing inside it may be changed without the key.

The cryptography is the ``cryptography`` package's AES-GCM and ``pyrage``'s
age; nothing here is hand-written cryptography. Plaintext is only ever held
in memory.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyrage
import yaml

from gitkube.primitives.errors import GitkubeError

SOPS_KEY = "sops"
# The version written into files gitkube makes: the sops release the tests pin.
WRITER_VERSION = "3.13.3"
# Kubernetes Secrets keep their identity readable: only these keys are encrypted.
KUBERNETES_ENCRYPTED_REGEX = "^(data|stringData)$"
SOPS_SUFFIXES = (".sops.yaml", ".sops.yml", ".sops.json")

_ENC = re.compile(
    r"^ENC\[AES256_GCM,data:(?P<data>[A-Za-z0-9+/=]*),iv:(?P<iv>[A-Za-z0-9+/=]+),"
    r"tag:(?P<tag>[A-Za-z0-9+/=]+),type:(?P<type>str|int|float|bool|bytes|time|comment)\]$"
)
_IV_BYTES = 32
_RULE_KEYS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
)
# Key sources gitkube does not read; a file using them is refused, not half-read.
_OTHER_KEY_SOURCES = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "key_groups")

Path = tuple[str, ...]


class SopsError(GitkubeError):
    """A SOPS file that is malformed, not really encrypted, or cannot be decrypted."""


def is_sops_path(path: str) -> bool:
    """``x.sops.yaml`` and the like; not sops' own creation rules, ``.sops.yaml``."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith(SOPS_SUFFIXES) and not name.startswith(".sops.")


# --------------------------------------------------------------------------- reading


class _Loader(yaml.SafeLoader):
    """YAML as sops (go-yaml v3, YAML 1.2) reads it: only true/false are booleans,
    and timestamps stay strings, so the MAC is computed over the same values."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the armored data keys) as literal blocks, as sops writes them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


@dataclass
class Envelope:
    """One SOPS file: the document (values as stored, mostly ``ENC[...]``) and its ``sops`` section."""

    path: str
    document: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def recipients(self) -> list[str]:
        return [str(entry.get("recipient", "")) for entry in self.metadata.get("age") or ()]

    @property
    def lastmodified(self) -> str:
        return str(self.metadata.get("lastmodified", ""))

    def leaves(self) -> Iterator[tuple[Path, Any]]:
        """Every value of the document with its key path, in document order."""
        return _walk(self.document, ())

    def encrypts(self, path: Path) -> bool:
        return should_encrypt(path, self.metadata)

    def stored_values(self) -> dict[Path, Any]:
        """Encrypted values as stored (ciphertext), by key path: what review compares."""
        return {path: value for path, value in self.leaves() if self.encrypts(path)}


def parse(data: bytes, path: str) -> Envelope:
    """Read a SOPS file (YAML or JSON); raises :class:`SopsError` naming ``path``."""
    try:
        if path.endswith(".json"):
            loaded = json.loads(data)
        else:
            loaded = yaml.load(data.decode("utf-8"), Loader=_Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise SopsError(f"not a readable SOPS file: {exc}", file=path) from None
    if not isinstance(loaded, dict):
        raise SopsError("not a SOPS file: the top level is not a mapping", file=path)
    metadata = loaded.get(SOPS_KEY)
    if not isinstance(metadata, dict):
        raise SopsError(
            "not encrypted: there is no `sops` section; encrypt it with "
            "`gitkube secret encrypt` (or sops --encrypt --in-place)",
            file=path,
        )
    document = {k: v for k, v in loaded.items() if k != SOPS_KEY}
    return Envelope(path=path, document=document, metadata=metadata)


def _walk(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list):
        # sops does not add list indices to the path (see TreeBranch.walkSlice)
        for item in value:
            yield from _walk(item, path)
    elif value is not None:
        yield path, value


def should_encrypt(path: Path, rules: Mapping[str, Any]) -> bool:
    """Whether sops encrypts the value at ``path`` under ``rules`` (Tree.shouldBeEncrypted)."""
    encrypted = True
    suffix = rules.get("unencrypted_suffix")
    if suffix and any(part.endswith(suffix) for part in path):
        encrypted = False
    if rules.get("encrypted_suffix"):
        encrypted = any(part.endswith(rules["encrypted_suffix"]) for part in path)
    pattern = rules.get("unencrypted_regex")
    if pattern and any(re.search(pattern, part) for part in path):
        encrypted = False
    if rules.get("encrypted_regex"):
        encrypted = any(re.search(rules["encrypted_regex"], part) for part in path)
    return encrypted


def check(envelope: Envelope) -> None:
    """Check the envelope without a key: version, MAC, age recipients, every selected value encrypted."""
    meta, where = envelope.metadata, envelope.path
    if not meta.get("version"):
        raise SopsError("the `sops` section has no version", file=where)
    if not isinstance(meta.get("mac"), str) or not _ENC.match(meta["mac"]):
        raise SopsError("the `sops` section has no encrypted MAC (sops.mac)", file=where)
    if not meta.get("lastmodified"):
        raise SopsError("the `sops` section has no lastmodified", file=where)
    others = [name for name in _OTHER_KEY_SOURCES if meta.get(name)]
    if others:
        raise SopsError(
            f"uses key sources gitkube does not read ({', '.join(others)}); encrypt to age recipients only",
            file=where,
        )
    if meta.get("mac_only_encrypted"):
        raise SopsError(
            "mac_only_encrypted leaves plaintext values unauthenticated; remove it", file=where
        )
    ages = meta.get("age")
    if not isinstance(ages, list) or not ages:
        raise SopsError("is not encrypted to any age recipient (sops.age is empty)", file=where)
    for entry in ages:
        if not (isinstance(entry, dict) and str(entry.get("recipient", "")).startswith("age1")):
            raise SopsError("sops.age has an entry without an age1... recipient", file=where)
        if "BEGIN AGE ENCRYPTED FILE" not in str(entry.get("enc", "")):
            raise SopsError(
                f"sops.age entry for {entry['recipient']} has no encrypted data key", file=where
            )
    for path, value in envelope.leaves():
        if (
            envelope.encrypts(path)
            and value != ""
            and not (isinstance(value, str) and _ENC.match(value))
        ):
            raise SopsError(
                f"value {':'.join(path)} is not encrypted (plaintext in a SOPS file); "
                "re-encrypt the file with `gitkube secret encrypt`",
                file=where,
            )


# --------------------------------------------------------------------------- keys


def parse_identities(text: str, source: str) -> list[pyrage.x25519.Identity]:
    """age identities from a key file's text (``AGE-SECRET-KEY-1...`` lines; ``#`` comments)."""
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise SopsError(
                "holds a line that is not an age identity (AGE-SECRET-KEY-1...)", file=source
            ) from None
    if not identities:
        raise SopsError("holds no age identity", file=source)
    return identities


def generate_identity() -> tuple[str, str]:
    """A new age identity and its recipient: (``AGE-SECRET-KEY-1...``, ``age1...``)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def _recipient(text: str, where: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError:
        raise SopsError(f"{text!r} is not an age recipient (age1...)", file=where) from None


def data_key(envelope: Envelope, identities: Sequence[pyrage.x25519.Identity]) -> bytes:
    """The file's data key, decrypted with whichever identity matches a recipient."""
    for entry in envelope.metadata.get("age") or ():
        try:
            key = pyrage.decrypt(str(entry.get("enc", "")).encode(), list(identities))
        except pyrage.DecryptError:
            continue
        if len(key) == 32:
            return bytes(key)
    raise SopsError(
        "none of the age identities given can decrypt it (recipients: "
        + ", ".join(envelope.recipients)
        + ")",
        file=envelope.path,
    )


# --------------------------------------------------------------------------- values


def _to_bytes(value: Any) -> bytes:
    """A value as sops hashes and encrypts it (sops.ToBytes)."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        # Go's strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent.
        text = format(Decimal(repr(value)), "f")
        return text.encode()
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def _aad(path: Path) -> bytes:
    return (":".join(path) + ":").encode("utf-8")


# _AESGCM_LAZILY: cryptography is imported by the two functions that use it; every
# render imports this module (to recognise SOPS files), few decrypt or encrypt.


def decrypt_value(stored: str, key: bytes, aad: bytes, where: str) -> Any:
    if stored == "":
        return ""
    found = _ENC.match(stored)
    if not found:
        raise SopsError("holds a value that is not in sops' ENC[AES256_GCM,...] form", file=where)
    sealed = base64.b64decode(found["data"]) + base64.b64decode(found["tag"])
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # see _AESGCM_LAZILY

    try:
        plain = AESGCM(key).decrypt(base64.b64decode(found["iv"]), sealed, aad)
    except InvalidTag:
        raise SopsError(
            "a value does not decrypt: the file was changed without sops, or the data key is wrong",
            file=where,
        ) from None
    kind = found["type"]
    text = plain.decode("utf-8", errors="surrogateescape")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text.lower() == "true"
    return text


def encrypt_value(value: Any, key: bytes, aad: bytes, iv: bytes | None = None) -> str:
    if value == "":
        return ""  # sops stores empty values as they are
    iv = iv or os.urandom(_IV_BYTES)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # see _AESGCM_LAZILY

    sealed = AESGCM(key).encrypt(iv, _to_bytes(value), aad)
    data, tag = sealed[:-16], sealed[-16:]
    return f"ENC[AES256_GCM,data:{base64.b64encode(data).decode()},iv:{base64.b64encode(iv).decode()},tag:{base64.b64encode(tag).decode()},type:{_type_of(value)}]"


def _map_leaves(value: Any, path: Path, change: Any) -> Any:
    if isinstance(value, dict):
        return {k: _map_leaves(v, (*path, str(k)), change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_leaves(v, path, change) for v in value]
    if value is None:
        return None
    return change(path, value)


@dataclass
class Decrypted:
    """A decrypted SOPS file, in memory only: the document and what re-encrypting needs."""

    document: dict[str, Any]
    key: bytes
    # (path, plaintext) -> the IV it was stored with: re-encrypting an unchanged
    # value gives the same ciphertext, so review sees only the values that changed.
    ivs: dict[tuple[Path, bytes], bytes]
    # recipient -> its armored encrypted data key, kept while the data key is kept
    wrapped_keys: dict[str, str]


def decrypt(envelope: Envelope, identities: Sequence[pyrage.x25519.Identity]) -> Decrypted:
    """Decrypt every value and verify the MAC; raises :class:`SopsError` naming the file."""
    check(envelope)
    key = data_key(envelope, identities)
    where = envelope.path
    digest = hashlib.sha512()
    ivs: dict[tuple[Path, bytes], bytes] = {}

    def open_leaf(path: Path, stored: Any) -> Any:
        if not envelope.encrypts(path):
            digest.update(_to_bytes(stored))
            return stored
        value = decrypt_value(str(stored), key, _aad(path), where)
        digest.update(_to_bytes(value))
        if stored:
            found = _ENC.match(str(stored))
            assert found is not None
            ivs[(path, _to_bytes(value))] = base64.b64decode(found["iv"])
        return value

    document = _map_leaves(envelope.document, (), open_leaf)
    mac = decrypt_value(envelope.metadata["mac"], key, envelope.lastmodified.encode(), where)
    if str(mac).upper() != digest.hexdigest().upper():
        raise SopsError("MAC mismatch: the file was changed without sops; refusing it", file=where)
    wrapped = {
        str(e.get("recipient")): str(e.get("enc")) for e in envelope.metadata.get("age") or ()
    }
    return Decrypted(document=document, key=key, ivs=ivs, wrapped_keys=wrapped)


def encrypt(
    document: Mapping[str, Any],
    recipients: Sequence[str],
    *,
    path: str,
    rules: Mapping[str, Any] | None = None,
    previous: Decrypted | None = None,
    now: datetime.datetime | None = None,
) -> bytes:
    """Encrypt ``document`` to ``recipients`` in sops' format; the file's bytes (YAML or JSON by ``path``).

    With ``previous`` (the same file, decrypted) its data key is kept when the
    recipients are unchanged, and unchanged values keep their ciphertext, as
    ``sops edit`` does.
    """
    if not recipients:
        raise SopsError(
            "no age recipients to encrypt to (set secrets.age in gitkube.yaml)", file=path
        )
    parsed = [_recipient(r, path) for r in recipients]
    rules = dict(rules or {"encrypted_regex": KUBERNETES_ENCRYPTED_REGEX})
    key = previous.key if previous is not None else os.urandom(32)
    ivs = previous.ivs if previous is not None else {}
    wrapped = previous.wrapped_keys if previous is not None else {}
    digest = hashlib.sha512()

    def seal(leaf_path: Path, value: Any) -> Any:
        digest.update(_to_bytes(value))
        if not should_encrypt(leaf_path, rules):
            return value
        return encrypt_value(value, key, _aad(leaf_path), ivs.get((leaf_path, _to_bytes(value))))

    body = _map_leaves(dict(document), (), seal)
    lastmodified = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata: dict[str, Any] = {
        "age": [
            {
                "recipient": text,
                "enc": wrapped.get(text) or pyrage.encrypt(key, [recipient], armored=True).decode(),
            }
            for text, recipient in zip(recipients, parsed, strict=True)
        ],
        "lastmodified": lastmodified,
        "mac": encrypt_value(digest.hexdigest().upper(), key, lastmodified.encode()),
        **{name: rules[name] for name in _RULE_KEYS if rules.get(name)},
        "version": WRITER_VERSION,
    }
    out = {**body, SOPS_KEY: metadata}
    if path.endswith(".json"):
        return (json.dumps(out, indent=4, ensure_ascii=False) + "\n").encode()
    return yaml.dump(
        out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
    ).encode()


def rules_of(envelope: Envelope) -> dict[str, Any]:
    """The envelope's encryption rules, to re-encrypt it the same way."""
    return {name: envelope.metadata[name] for name in _RULE_KEYS if envelope.metadata.get(name)}


KEY_FILE_ENV = "SOPS_AGE_KEY_FILE"
KEY_ENV = "SOPS_AGE_KEY"


def default_key_file() -> pathlib.Path:
    """Where sops itself looks for age identities on Linux."""
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return pathlib.Path(override)
    base = pathlib.Path(os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config")
    return base / "sops" / "age" / "keys.txt"


def load_identities(
    key_file: str | None = None, *, required: bool = True
) -> list[pyrage.x25519.Identity]:
    """Identities from ``key_file``, else ``$SOPS_AGE_KEY_FILE``, else ``$SOPS_AGE_KEY``, else
    sops' ``~/.config/sops/age/keys.txt`` (as sops reads them); ``[]`` if none and not ``required``."""
    path = key_file or os.environ.get(KEY_FILE_ENV)
    if path:
        try:
            text = pathlib.Path(path).read_text()
        except OSError as exc:
            raise GitkubeError(f"cannot read the age key file: {exc.strerror}", file=path) from None
        return parse_identities(text, path)
    if os.environ.get(KEY_ENV):
        return parse_identities(os.environ[KEY_ENV], f"${KEY_ENV}")
    fallback = default_key_file()  # where sops itself looks last
    if fallback.is_file():
        return parse_identities(fallback.read_text(), str(fallback))
    if not required:
        return []
    raise GitkubeError(f"no age identity: pass --age-key-file, or set {KEY_FILE_ENV} or {KEY_ENV}")
