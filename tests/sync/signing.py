"""Real signing keys for trust tests: a throwaway GnuPG home and SSH keys, made by the real tools."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool


@dataclass
class SshSigner:
    """An ed25519 key made by ssh-keygen, and an allowed_signers file naming it."""

    key: Path
    allowed_signers: Path

    def configure(self, repo: Path) -> None:
        """Make ``repo`` sign with this key (commits with -S, and gitkube render --sign)."""
        subprocess.run(["git", "-C", str(repo), "config", "gpg.format", "ssh"], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "config", "user.signingKey", str(self.key)], check=True
        )


def make_ssh_signer(where: Path, principal: str) -> SshSigner:
    where.mkdir(parents=True, exist_ok=True)
    key = where / "id_ed25519"
    subprocess.run(
        [
            require_tool("ssh-keygen"),
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            principal,
            "-f",
            str(key),
        ],
        check=True,
    )
    allowed = where / "allowed_signers"
    allowed.write_text(f"{principal} {key.with_suffix('.pub').read_text().strip()}\n")
    return SshSigner(key, allowed)


@dataclass
class GpgSigner:
    """A GnuPG home (short path, so gpg-agent's socket fits) with one fresh signing key."""

    home: Path
    fingerprint: str
    public_key: Path

    def configure(self, repo: Path) -> None:
        subprocess.run(["git", "-C", str(repo), "config", "gpg.format", "openpgp"], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "config", "user.signingKey", self.fingerprint], check=True
        )


def gpg_signer(uid: str) -> Iterator[GpgSigner]:
    """Yield a signer; afterwards its agent is stopped and its home removed."""
    gpg = require_tool("gpg")
    home = Path(tempfile.mkdtemp(prefix="gkgpg"))
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run(
            [
                gpg,
                "--batch",
                "--quiet",
                "--passphrase",
                "",
                "--quick-gen-key",
                uid,
                "ed25519",
                "sign",
                "never",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        listing = subprocess.run(
            [gpg, "--batch", "--with-colons", "--list-keys"],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        fingerprint = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr"))
        public = home / "public.asc"
        public.write_bytes(
            subprocess.run(
                [gpg, "--batch", "--armor", "--export", fingerprint],
                check=True,
                env=env,
                capture_output=True,
            ).stdout
        )
        yield GpgSigner(home, fingerprint, public)
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
