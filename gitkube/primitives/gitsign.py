"""git's own commit signing and verification, and the ancestry question.

Signing is ``git commit-tree -S`` (GPG, or SSH keys with ``gpg.format=ssh``);
verification is ``git verify-commit``, which calls ``gpg --verify`` or
``ssh-keygen -Y verify`` itself. gitkube parses nothing cryptographic: it only
decides which keys git may trust, by giving git a keyring and an
``allowed_signers`` file it built from the operator's keys, and by shutting out
every git configuration that could change the answer (the system and global
config; the repository's own ``gpg.*`` settings are overridden with ``-c``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitkube.primitives.errors import GitkubeError

PGP_ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
_SIGNATURE_KINDS = {
    "-----BEGIN PGP SIGNATURE-----": "gpg",
    "-----BEGIN SSH SIGNATURE-----": "ssh",
    "-----BEGIN SIGNED MESSAGE-----": "x509",
}
# The settings of the repository (or of the mirror) that must not choose the verifier.
_PINNED_CONFIG = {
    "gpg.program": "gpg",
    "gpg.openpgp.program": "gpg",
    "gpg.ssh.program": "ssh-keygen",
    "gpg.minTrustLevel": "undefined",
}


@dataclass(frozen=True)
class Signature:
    """What ``git verify-commit`` said about one commit."""

    commit: str
    kind: str | None  # "gpg", "ssh", "x509", or None when the commit is unsigned
    good: bool
    signer: str  # the SSH principal or the GPG key fingerprint and user id; "" if unknown
    detail: str  # git's (gpg's, ssh-keygen's) own words, one line


@dataclass(frozen=True)
class TrustedKeys:
    """The keys verification may accept: an SSH allowed_signers text and GPG public keys."""

    allowed_signers: str = ""
    gpg_keys: tuple[bytes, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.allowed_signers.strip() and not self.gpg_keys


def _clean_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GNUPG"))}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    env.update(extra or {})
    return env


def _pinned(extra: Mapping[str, str]) -> list[str]:
    return [
        arg
        for key, value in {**_PINNED_CONFIG, **extra}.items()
        for arg in ("-c", f"{key}={value}")
    ]


def signature_kind(cwd: Path, commit: str) -> str | None:
    """The kind of signature ``commit`` carries, from its ``gpgsig`` header; None if unsigned."""
    proc = subprocess.run(
        ["git", "cat-file", "commit", commit], cwd=cwd, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise GitkubeError(f"commit {commit[:12]} is not in the repository", file=str(cwd))
    header = proc.stdout.split(b"\n\n", 1)[0].decode(errors="replace")
    match = re.search(r"^gpgsig (.*)$", header, re.M)
    if match is None:
        return None
    return _SIGNATURE_KINDS.get(match.group(1).strip(), "unknown")


@contextmanager
def keyring(keys: TrustedKeys) -> Iterator[dict[str, str]]:
    """A throwaway GNUPGHOME holding exactly ``keys``' GPG keys, and an allowed_signers
    file of exactly its SSH keys: the ``-c`` settings and environment to verify with."""
    home = Path(tempfile.mkdtemp(prefix="gk-trust-"))
    try:
        gnupg = home / "gnupg"
        gnupg.mkdir(mode=0o700)
        for key in keys.gpg_keys:
            proc = subprocess.run(
                ["gpg", "--batch", "--quiet", "--no-tty", "--homedir", str(gnupg), "--import"],
                input=key,
                capture_output=True,
                check=False,
                env=_clean_git_env(),
            )
            if proc.returncode != 0:
                raise GitkubeError(
                    "a trusted GPG key cannot be read: "
                    + " ".join(proc.stderr.decode(errors="replace").split())[:300]
                )
        signers = home / "allowed_signers"
        signers.write_text(keys.allowed_signers)
        yield {"GNUPGHOME": str(gnupg), "allowedSignersFile": str(signers)}
    finally:
        if keys.gpg_keys:  # gpg may have started an agent for the throwaway home: stop it
            subprocess.run(
                ["gpgconf", "--homedir", str(home / "gnupg"), "--kill", "all"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)


def verify_commit(cwd: Path, commit: str, ring: Mapping[str, str]) -> Signature:
    """Check ``commit``'s signature with ``git verify-commit`` against the keys of ``ring``
    (from :func:`keyring`); git's own verdict decides, this only reads who signed."""
    kind = signature_kind(cwd, commit)
    if kind is None:
        return Signature(commit, None, False, "", "the commit is not signed")
    proc = subprocess.run(
        [
            "git",
            *_pinned({"gpg.ssh.allowedSignersFile": ring["allowedSignersFile"]}),
            "verify-commit",
            "--raw",
            commit,
        ],
        cwd=cwd,
        capture_output=True,
        check=False,
        env=_clean_git_env({"GNUPGHOME": ring["GNUPGHOME"]}),
    )
    said = proc.stderr.decode(errors="replace")
    return Signature(commit, kind, proc.returncode == 0, _signer(kind, said), _one_line(said, kind))


def _signer(kind: str, said: str) -> str:
    if kind == "ssh":
        match = re.search(r'Good "git" signature for (.+?) with (\S+) key (\S+)', said)
        return f"{match.group(1)} ({match.group(2)} {match.group(3)})" if match else ""
    fingerprint = re.search(r"^\[GNUPG:\] VALIDSIG (\S+)", said, re.M)
    who = re.search(r"^\[GNUPG:\] GOODSIG \S+ (.+)$", said, re.M)
    if fingerprint is None:
        return ""
    return f"{who.group(1)} ({fingerprint.group(1)})" if who else fingerprint.group(1)


def _one_line(said: str, kind: str) -> str:
    """Why, in words; the tool's own status words in brackets."""
    ssh_key = re.search(r"with (\S+) key (SHA256:\S+)", said)
    if kind == "ssh" and ssh_key and "No principal matched" in said:
        return (
            f"signed by {ssh_key.group(1)} key {ssh_key.group(2)}, which is not in the "
            "allowed signers"
        )
    unknown = re.search(r"^\[GNUPG:\] ERRSIG \S+ \S+ \S+ \S+ \S+ \S+ (\S+)", said, re.M)
    if kind == "gpg" and unknown and "[GNUPG:] NO_PUBKEY" in said:
        return f"signed by GPG key {unknown.group(1)}, which is not a trusted key [NO_PUBKEY]"
    if kind == "gpg" and "[GNUPG:] BADSIG" in said:
        return "the signature does not match the commit's content [BADSIG]"
    if kind == "gpg":
        status = [ln[9:] for ln in said.splitlines() if ln.startswith("[GNUPG:] ")]
        wanted = ("NO_PUBKEY", "BADSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG", "GOODSIG", "EXPSIG")
        picked = [s for s in status if s.split(" ", 1)[0] in wanted]
        return "; ".join(picked[:2]) or " ".join(said.split())[:300]
    return " ".join(said.split())[:300] or "no output"


def sign_commit(cwd: Path, commit: str) -> str:
    """A signed copy of ``commit`` (same tree, parents, author, committer and message),
    made by ``git commit-tree -S`` with the repository's own signing settings."""
    proc = subprocess.run(
        ["git", "cat-file", "commit", commit], cwd=cwd, capture_output=True, check=True
    )
    header, _, message = proc.stdout.partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in header.decode().splitlines():
        key, _, value = line.partition(" ")
        fields.setdefault(key, []).append(value)
    env = dict(os.environ)
    for role in ("author", "committer"):
        match = re.match(r"^(.*) <(.*)> (\d+ [+-]\d{4})$", fields[role][0])
        if match is None:
            raise GitkubeError(f"internal error: cannot read the {role} of {commit[:12]}")
        name, email, date = match.groups()
        upper = role.upper()
        env.update({f"GIT_{upper}_NAME": name, f"GIT_{upper}_EMAIL": email})
        env[f"GIT_{upper}_DATE"] = date
    parents = [arg for p in fields.get("parent", ()) for arg in ("-p", p)]
    signed = subprocess.run(
        ["git", "commit-tree", "-S", *parents, fields["tree"][0]],
        cwd=cwd,
        input=message,
        capture_output=True,
        check=False,
        env=env,
    )
    if signed.returncode != 0:
        said = " ".join(signed.stderr.decode(errors="replace").split())[:400]
        raise GitkubeError(
            f"render --sign (render.sign): git could not sign the rendered commit: {said} (set user.signingKey "
            "to a GPG key id, or gpg.format=ssh and user.signingKey to an SSH key file)",
            file=str(cwd),
        )
    return signed.stdout.decode().strip()


def is_ancestor(cwd: Path, older: str, newer: str) -> bool | None:
    """Whether ``older`` is ``newer`` or one of its ancestors (``git merge-base
    --is-ancestor``); None when ``older`` is not in the repository at all."""
    present = subprocess.run(
        ["git", "cat-file", "-e", f"{older}^{{commit}}"], cwd=cwd, capture_output=True, check=False
    )
    if present.returncode != 0:
        return None
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", older, newer],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise GitkubeError(
            "git merge-base failed: " + proc.stderr.decode(errors="replace").strip(), file=str(cwd)
        )
    return proc.returncode == 0


def read_key_file(path: str) -> TrustedKeys:
    """An operator's key file: GPG public keys (armored or binary) or SSH allowed_signers lines."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GitkubeError(f"cannot read the trusted keys: {exc.strerror}", file=path) from None
    return keys_from_bytes(data, path)


def keys_from_bytes(data: bytes, where: str) -> TrustedKeys:
    if PGP_ARMOR in data or (data[:1] and data[0] & 0x80):
        return TrustedKeys(gpg_keys=(data,))  # OpenPGP: armored, or a binary packet
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise GitkubeError(
            "neither GPG public keys nor an SSH allowed_signers file", file=where
        ) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise GitkubeError("holds no trusted key", file=where)
    return TrustedKeys(allowed_signers="\n".join(lines) + "\n")


def merge_keys(parts: Sequence[TrustedKeys]) -> TrustedKeys:
    return TrustedKeys(
        allowed_signers="".join(p.allowed_signers for p in parts),
        gpg_keys=tuple(k for p in parts for k in p.gpg_keys),
    )
