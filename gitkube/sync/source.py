"""Where sync reads rendered commits from: a local repository or a remote URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore, run_git

CACHE_ENV = "GITKUBE_CACHE"


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gitkube"
    )
    return Path(base) / "repos"


def is_remote(repo: str) -> bool:
    return "://" in repo or (":" in repo and not os.path.exists(repo) and "@" in repo.split(":")[0])


def open_source(repo: str) -> GitStore:
    """A local repository as it is, or a remote one fetched into a bare mirror in the cache.

    Fetching mirrors every branch (``+refs/heads/*``), pruning deleted ones, so
    the rendered branch is exactly what the remote has now.
    """
    if not is_remote(repo):
        return GitStore(repo)
    mirror = mirror_dir(repo)
    if not (mirror / "HEAD").exists():
        try:
            mirror.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GitkubeError(
                f"cannot use the git cache {cache_dir()}: {exc.strerror or exc}; "
                f"set {CACHE_ENV} to a writable directory"
            ) from None
        _git("init", "--bare", "--quiet", str(mirror))
    _git(
        "--git-dir",
        str(mirror),
        "fetch",
        "--quiet",
        "--prune",
        "--force",
        repo,
        "+refs/heads/*:refs/heads/*",
    )
    return GitStore(mirror)


def mirror_dir(repo: str) -> Path:
    """Where the bare mirror of the remote ``repo`` lives."""
    return cache_dir() / hashlib.sha256(repo.encode()).hexdigest()[:24]


def opened_source(repo: str) -> GitStore:
    """The repository :func:`open_source` last made ready, without fetching again."""
    return GitStore(mirror_dir(repo)) if is_remote(repo) else GitStore(repo)


def _git(*args: str) -> None:
    proc = run_git(*args, timeout=300)
    if proc.returncode != 0:
        raise GitkubeError(
            f"git {args[0] if args[0] != '--git-dir' else args[2]} failed: "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
