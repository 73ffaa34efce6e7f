"""``POST /hooks/git``: a push on the forge makes the agent fetch and sync at once.

The request is checked as the forges sign it, against a secret shared with
the forge (``--webhook-secret-file``, read at each request so a rotated
Secret takes effect without a restart):

* GitHub, Gitea and Forgejo send ``X-Hub-Signature-256: sha256=<hex>``, the
  HMAC-SHA256 of the raw body keyed with the secret;
* GitLab sends the secret itself in ``X-Gitlab-Token``.

Both are compared in constant time (:func:`hmac.compare_digest`). A request
with neither, or a wrong one, is refused with 401 and changes nothing; the
body is never parsed before it is verified, and only its size is trusted
before that (at most :data:`MAX_BODY`). A verified GitHub ``ping`` is
answered without a sync.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PATH = "/hooks/git"
# GitHub caps a webhook payload at 25 MB; nothing larger is read.
MAX_BODY = 25 * 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    """How the agent answers a webhook request."""

    status: int
    message: str
    sync: bool = False  # verified: fetch and sync now


def read_secret(path: str | None) -> bytes | None:
    """The shared secret, without a trailing newline; ``None`` when not configured."""
    if not path:
        return None
    try:
        secret = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError:
        return None
    return secret or None


def github_signature(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes | None, header: Callable[[str], str | None], body: bytes) -> Verdict:
    """Check one request, its headers read through ``header`` (case-insensitive)."""
    if secret is None:
        return Verdict(403, "webhook disabled: no secret configured (--webhook-secret-file)")
    signature = header("X-Hub-Signature-256")
    token = header("X-Gitlab-Token")
    if signature is not None:
        ok = hmac.compare_digest(
            signature.strip().encode(), github_signature(secret, body).encode()
        )
    elif token is not None:
        ok = hmac.compare_digest(token.strip().encode(), secret)
    else:
        return Verdict(
            401, "unsigned: send X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)"
        )
    if not ok:
        return Verdict(401, "signature does not match the webhook secret")
    if header("X-GitHub-Event") == "ping":
        return Verdict(200, "pong")
    return Verdict(202, "syncing")
