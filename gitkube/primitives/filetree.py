"""Read-only views of a source tree: a directory on disk or a git tree.

The renderer reads its input only through :class:`FileTree`, so the same
code renders a work tree, a commit, or the staged index without checking
anything out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from gitkube.primitives.errors import GitkubeError


class FileTree(Protocol):
    """A set of files named by POSIX paths relative to the tree's root."""

    def files(self) -> list[str]:
        """Every non-hidden file, sorted; no path has a component starting with '.'."""
        ...

    def read(self, path: str) -> bytes:
        """The content of one file listed by :meth:`files`."""
        ...

    # A tree may also offer ``size(path) -> int``: the renderer then refuses
    # files over its limit without reading them.


def is_hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


class DirectoryTree:
    """A directory on disk. Symlinks may point only inside the directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise GitkubeError("not a directory", file=str(root))
        self._checked: dict[str, Path] = {}  # path -> where it really is, inside the root

    def files(self) -> list[str]:
        found: list[str] = []
        seen_dirs = {self.root}
        self._walk(self.root, "", found, seen_dirs, linked=False)
        found.sort()
        return found

    def _walk(
        self, real_dir: Path, rel_dir: str, found: list[str], seen: set[Path], *, linked: bool
    ) -> None:
        try:
            entries = list(os.scandir(real_dir))
        except OSError as exc:
            raise GitkubeError(
                f"cannot read directory: {exc.strerror}", file=rel_dir.rstrip("/") or "."
            ) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = f"{rel_dir}{entry.name}"
            if entry.is_symlink():
                target = self._inside(Path(entry.path), rel)
                if target.is_dir():
                    if target not in seen:  # a link back up would loop forever
                        seen.add(target)
                        self._walk(target, rel + "/", found, seen, linked=True)
                elif target.is_file():
                    found.append(rel)
            elif entry.is_dir():
                self._walk(Path(entry.path), rel + "/", found, seen, linked=linked)
            elif entry.is_file():
                found.append(rel)
                if not linked:
                    # reached without any symlink: inside the root by construction,
                    # so reading it needs no resolve() (a third of a cold render)
                    self._checked[rel] = Path(entry.path)

    def _inside(self, link: Path, rel: str) -> Path:
        try:
            target = link.resolve()
        except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
            raise GitkubeError("symlink loop: the link points back at itself", file=rel) from None
        if target != self.root and self.root not in target.parents:
            raise GitkubeError(
                f"symlink leaves the repository (points to {target}); "
                "gitkube reads nothing outside the repo",
                file=rel,
            )
        return target

    def _real(self, path: str) -> Path:
        """Where ``path`` is, checked once to be inside the root (size, then read, ask)."""
        real = self._checked.get(path)
        if real is None:
            real = self._checked[path] = self._inside(self.root / path, path)
        return real

    def read(self, path: str) -> bytes:
        try:
            return self._real(path).read_bytes()
        except OSError as exc:
            raise GitkubeError(f"cannot read: {exc.strerror}", file=path) from None

    def size(self, path: str) -> int:
        try:
            return self._real(path).stat().st_size
        except OSError as exc:
            raise GitkubeError(f"cannot read: {exc.strerror}", file=path) from None


class MemoryTree:
    """Files held in memory: what a git tree or a test hands the renderer."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self._blobs = {p: b for p, b in blobs.items() if not is_hidden(p)}

    def files(self) -> list[str]:
        return sorted(self._blobs)

    def read(self, path: str) -> bytes:
        return self._blobs[path]

    def size(self, path: str) -> int:
        return len(self._blobs[path])


def file_stamps(paths: Iterable[str]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of each path (``[path]`` when it cannot be read).

    Cheap evidence that code or files did not change since a cache entry was made.
    """
    stamps: list[list[Any]] = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append([path, st.st_size, st.st_mtime_ns])
        except OSError:
            stamps.append([path])
    return stamps
