"""The sync side of SOPS Secrets: find the age identities, decrypt the wrappers in memory.

Identities come from, in order: ``--age-key-file``; ``$SOPS_AGE_KEY_FILE``,
``$SOPS_AGE_KEY`` and ``~/.config/sops/age/keys.txt`` (as the real sops reads
them); the Secret
``gitkube-age-key`` (key ``keys.txt``) in the agent's namespace
``gitkube-system``. They are looked up only when the rendered commit holds a
SOPS Secret, and the plaintext never leaves memory: the decrypted bodies are
what the Kubernetes target plans and applies (plan shows field paths, never
values).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pyrage

from gitkube.domain.ownership import PARENT_NAMESPACE
from gitkube.domain.secrets import decrypt_objects, is_wrapper
from gitkube.domain.targets import DesiredObject
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.primitives.sops import load_identities, parse_identities
from gitkube.sync.desired import DesiredState

KEY_SECRET = "gitkube-age-key"
KEY_SECRET_KEY = "keys.txt"


def _identities_from_cluster(
    kubeconfig: str | None, context: str | None
) -> list[pyrage.x25519.Identity]:
    where = f"Secret {PARENT_NAMESPACE}/{KEY_SECRET}"
    try:
        secret = KubeApi.connect(kubeconfig, context).request(
            "GET", f"/api/v1/namespaces/{PARENT_NAMESPACE}/secrets/{KEY_SECRET}"
        )
    except KubeApiError as exc:
        if exc.status == 404:
            return []
        raise GitkubeError(f"cannot read the age key: {exc.message}", obj=where) from None
    encoded = (secret.get("data") or {}).get(KEY_SECRET_KEY)
    if not encoded:
        raise GitkubeError(f"has no key {KEY_SECRET_KEY}", obj=where)
    return parse_identities(base64.b64decode(encoded).decode("utf-8", "replace"), where)


def find_identities(
    key_file: str | None, kubeconfig: str | None, context: str | None
) -> Sequence[pyrage.x25519.Identity]:
    identities = load_identities(key_file, required=False)
    return identities or _identities_from_cluster(kubeconfig, context)


@dataclass(frozen=True)
class DecryptedObject(DesiredObject):
    """A SOPS Secret decrypted for this run.

    Its content hash (recorded on the live object) is the hash of the rendered
    ciphertext: a hash of the plaintext could be used to test guesses of a
    weak password by anyone who can read metadata.
    """

    sealed_hash: str = ""

    @property
    def content_hash(self) -> str:
        return self.sealed_hash


def decrypt_desired(
    desired: DesiredState, key_file: str | None, kubeconfig: str | None, context: str | None
) -> DesiredState:
    """``desired`` with every SOPS wrapper replaced by its decrypted Secret (in memory)."""
    wrapped = [obj for obj in desired.objects if is_wrapper(obj.body)]
    if not wrapped:
        return desired
    identities = find_identities(key_file, kubeconfig, context)
    opened = decrypt_objects(((obj.path, obj.body) for obj in wrapped), identities)
    objects: list[DesiredObject] = [
        DecryptedObject(
            body=opened[obj.path], path=obj.path, app=obj.app, sealed_hash=obj.content_hash
        )
        if obj.path in opened
        else obj
        for obj in desired.objects
    ]
    return dataclasses.replace(desired, objects=objects)
