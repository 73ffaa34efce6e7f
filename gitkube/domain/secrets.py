"""Secrets kept in git as SOPS files: the render side never decrypts, only sync does.

A ``*.sops.yaml`` (or ``.sops.json``) file in an app directory holds one
Kubernetes Secret, encrypted by the real ``sops`` tool or ``gitkube secret``
to the age recipients of ``secrets.age`` in gitkube.yaml
(:mod:`gitkube.primitives.sops`).

Render checks the envelope without any key and renders a *wrapper*: a Secret
whose metadata is readable (so plugins label it and ownership is stamped on
it) and whose annotation ``gitkube.dev/sops-file`` carries the file verbatim,
so the rendered file is still a valid Secret that kubectl reads. The SOPS MAC
covers the whole document, labels included, so nothing is ever added inside
it; only ciphertext reaches the rendered branch.

Sync turns each wrapper back into the Secret in memory: it decrypts with the
run's age identities, verifies the MAC, and puts the wrapper's labels and
annotations on top of the document's. Review compares the wrappers' stored
ciphertext per key (sops keeps an unchanged value's ciphertext on edit).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyrage

from gitkube.domain.config import RepoConfig
from gitkube.domain.keys import SOPS_FILE_ANNOTATION as SOPS_ANNOTATION
from gitkube.domain.keys import SOPS_SOURCE_ANNOTATION as SOURCE_ANNOTATION
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.sops import (
    KUBERNETES_ENCRYPTED_REGEX,
    Envelope,
    SopsError,
    check,
    decrypt,
    is_sops_path,
    parse,
)

# Kubernetes refuses more than 256 KiB of annotations on one object.
MAX_SOPS_FILE_BYTES = 200 * 1024
_VALUE_KEYS = ("data", "stringData")
_SECRET_KEYS = {"apiVersion", "kind", "metadata", "type", "immutable", *_VALUE_KEYS}

__all__ = ["SOPS_ANNOTATION", "is_sops_path", "is_wrapper", "key_changes", "unwrap", "wrap"]


def wrap(path: str, data: bytes, config: RepoConfig) -> list[dict[str, Any]]:
    """The rendered wrapper of one SOPS file, after checking it without a key."""
    envelope = parse(data, path)
    check(envelope)
    document = envelope.document
    if document.get("apiVersion") != "v1" or document.get("kind") != "Secret":
        raise SopsError(
            "a SOPS file in an app directory must hold one Kubernetes Secret "
            "(apiVersion: v1, kind: Secret) with readable apiVersion, kind and metadata "
            f"(sops --encrypted-regex '{KUBERNETES_ENCRYPTED_REGEX}')",
            file=path,
        )
    unexpected = sorted(set(document) - _SECRET_KEYS)
    if unexpected:
        # Anything outside data/stringData stays plaintext: refuse rather than publish it.
        raise SopsError(
            f"the Secret has top-level key(s) {', '.join(unexpected)}, which sops leaves in "
            f"plaintext; only {', '.join(sorted(_SECRET_KEYS))} are allowed",
            file=path,
        )
    for path_parts, _ in envelope.leaves():
        if path_parts[0] not in _VALUE_KEYS and envelope.encrypts(path_parts):
            raise SopsError(
                f"{':'.join(path_parts)} is encrypted; only data and stringData may be, so that "
                f"render can read the Secret's identity (encrypted_regex: '{KUBERNETES_ENCRYPTED_REGEX}')",
                file=path,
            )
    unknown = [r for r in envelope.recipients if r not in config.age_recipients]
    if unknown:
        known = ", ".join(config.age_recipients) or "none"
        raise SopsError(
            f"is encrypted to age recipient(s) not in secrets.age of gitkube.yaml: "
            f"{', '.join(unknown)} (known: {known})",
            file=path,
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise SopsError("the Secret has no metadata.name", file=path)
    wrapper_meta: dict[str, Any] = {
        key: metadata[key] for key in ("name", "namespace", "labels") if key in metadata
    }
    if len(data) > MAX_SOPS_FILE_BYTES:
        raise SopsError(
            f"is {len(data):,} bytes; a SOPS Secret is carried in an annotation and may be at "
            f"most {MAX_SOPS_FILE_BYTES:,}",
            file=path,
        )
    wrapper_meta["annotations"] = {
        **(metadata.get("annotations") or {}),
        SOURCE_ANNOTATION: path,
        SOPS_ANNOTATION: data.decode("utf-8"),
    }
    wrapper: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": wrapper_meta}
    if "type" in document:
        wrapper["type"] = document["type"]
    return [wrapper]


def _annotations(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def check_sops_rules(data: bytes, config: RepoConfig, path: str = ".sops.yaml") -> None:
    """sops' creation rules must encrypt to exactly the recipients of secrets.age.

    Otherwise a file made with the real ``sops`` would be refused at render
    (an unknown recipient) or readable by a key gitkube does not list.
    """
    import yaml

    try:
        rules = yaml.safe_load(data) or {}
    except yaml.YAMLError:
        raise SopsError("not readable YAML (sops' creation rules)", file=path) from None
    expected = sorted(config.age_recipients)
    for index, rule in enumerate(
        (rules.get("creation_rules") if isinstance(rules, dict) else None) or []
    ):
        if not isinstance(rule, dict) or "age" not in rule:
            continue
        given = rule["age"]
        names = given.split(",") if isinstance(given, str) else list(given or [])
        found = sorted(str(name).strip() for name in names if str(name).strip())
        if found != expected:
            raise SopsError(
                f"creation_rules[{index}] encrypts to {', '.join(found) or 'no one'}, but "
                f"secrets.age in gitkube.yaml lists {', '.join(expected) or 'no one'}; make them "
                "equal (`gitkube secret rotate` rewrites this file from gitkube.yaml)",
                file=path,
            )


def is_wrapper(body: Mapping[str, Any]) -> bool:
    return body.get("kind") == "Secret" and isinstance(_annotations(body).get(SOPS_ANNOTATION), str)


def _envelope(body: Mapping[str, Any], where: str) -> Envelope:
    source = str(_annotations(body).get(SOURCE_ANNOTATION, ""))
    # The source's suffix decides YAML or JSON; the rendered path names the file in errors.
    envelope = parse(str(_annotations(body)[SOPS_ANNOTATION]).encode("utf-8"), source or where)
    envelope.path = f"{where} (from {source})" if source else where
    return envelope


def unwrap(
    body: Mapping[str, Any], where: str, identities: Sequence[pyrage.x25519.Identity]
) -> dict[str, Any]:
    """The Secret to apply: decrypted in memory, MAC verified, the wrapper's metadata on top."""
    if not identities:
        raise SopsError(
            "is a SOPS-encrypted Secret and no age identity was given "
            "(--age-key-file, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or the agent's key Secret)",
            file=where,
        )
    envelope = _envelope(body, where)
    document = decrypt(envelope, identities).document
    wrapper_meta = dict(body.get("metadata") or {})
    wrapper_meta["annotations"] = {
        k: v for k, v in _annotations(body).items() if k != SOPS_ANNOTATION
    }
    inner_meta = dict(document.get("metadata") or {})
    for key in ("name", "namespace"):
        if key in wrapper_meta and inner_meta.get(key, wrapper_meta[key]) != wrapper_meta[key]:
            raise SopsError(
                f"the wrapper's metadata.{key} differs from the encrypted Secret's", file=where
            )
    secret: dict[str, Any] = {k: v for k, v in document.items() if k != "metadata"}
    secret["metadata"] = {**inner_meta, **wrapper_meta}
    for key in ("labels", "annotations"):
        merged = {**(inner_meta.get(key) or {}), **(wrapper_meta.get(key) or {})}
        if merged:
            secret["metadata"][key] = merged
    for key in _VALUE_KEYS:
        values = secret.get(key)
        if isinstance(values, dict):
            # Kubernetes keeps only strings here; sops may have typed unquoted values.
            secret[key] = {
                k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in values.items()
            }
    # The API server stores stringData as data (stringData wins); applying the
    # same shape keeps the next plan from seeing a difference that is not there.
    string_data = secret.pop("stringData", None)
    if string_data:
        encoded = {k: base64.b64encode(v.encode("utf-8")).decode() for k, v in string_data.items()}
        secret["data"] = {**(secret.get("data") or {}), **encoded}
    return secret


def decrypt_objects(
    bodies: Iterable[tuple[str, Mapping[str, Any]]], identities: Sequence[pyrage.x25519.Identity]
) -> dict[str, dict[str, Any]]:
    """Every wrapper among ``(path, body)`` decrypted, by path; the first failure raises, naming it."""
    out: dict[str, dict[str, Any]] = {}
    problems: list[GitkubeError] = []
    for path, body in bodies:
        if is_wrapper(body):
            try:
                out[path] = unwrap(body, path, identities)
            except GitkubeError as exc:
                problems.append(exc)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more SOPS file(s) refused)" if len(problems) > 1 else ""
        raise SopsError(f"{first.message}{more}; nothing was applied or pruned", file=first.file)
    return out


@dataclass(frozen=True)
class KeyChanges:
    """Which keys of a Secret's data/stringData were added, removed or changed: never a value."""

    added: list[str]
    removed: list[str]
    changed: list[str]

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        return (
            [f"+ key {k}" for k in self.added]
            + [f"- key {k}" for k in self.removed]
            + [f"~ key {k} (value changed)" for k in self.changed]
        )


def _stored_keys(body: Mapping[str, Any] | None) -> dict[str, Any]:
    if body is None or not is_wrapper(body):
        return {}
    try:
        envelope = parse(
            str(_annotations(body)[SOPS_ANNOTATION]).encode("utf-8"), "wrapper.sops.yaml"
        )
    except SopsError:
        return {}
    out: dict[str, Any] = {}
    for path, value in envelope.leaves():
        if path[0] in _VALUE_KEYS and len(path) >= 2:
            out[f"{path[0]}.{path[1]}"] = value
    return out


def key_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> KeyChanges:
    """Compare two wrappers' keys from their stored ciphertext (sops keeps unchanged values' ciphertext)."""
    before, after = _stored_keys(old), _stored_keys(new)
    return KeyChanges(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        changed=sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    )


def review_text(data: bytes, path: str) -> bytes:
    """A rendered wrapper as reviewers see it: the readable part, the recipients, and per key
    only a fingerprint of its ciphertext (a changed fingerprint is a changed value); never a value.
    """
    import hashlib

    from gitkube.primitives.yamlio import dump_document, load_documents

    try:
        docs = load_documents(data, path)
    except GitkubeError:
        return data
    if not docs or not isinstance(docs[0], dict) or not is_wrapper(docs[0]):
        return data
    body = dict(docs[0])
    metadata = dict(body["metadata"])
    annotations = dict(metadata["annotations"])
    sealed = str(annotations.pop(SOPS_ANNOTATION))
    metadata["annotations"] = annotations
    body["metadata"] = metadata
    try:
        envelope = parse(sealed.encode("utf-8"), path)
    except SopsError as exc:
        body["sopsFile"] = f"unreadable: {exc.message}"
        return dump_document(body).encode()
    values: dict[str, str] = {}
    for leaf, value in envelope.leaves():
        if leaf[0] in _VALUE_KEYS and len(leaf) >= 2:
            digest = hashlib.sha256(str(value).encode()).hexdigest()[:12]
            values[".".join(leaf[:2])] = f"encrypted (ciphertext {digest})"
    body["sopsFile"] = {"recipients": envelope.recipients, "values": values}
    return dump_document(body).encode()


def is_wrapper_text(data: bytes | None) -> bool:
    return data is not None and SOPS_ANNOTATION.encode() in data
