"""Reading source trees out of git and writing rendered trees into it.

Everything goes through the object database: a source tree is read from a
commit (``git ls-tree`` + one ``git cat-file --batch``) or from the index
(``git ls-files -s``), never from the work tree; a rendered tree is written
with one ``git fast-import`` stream and published with a compare-and-swap
``git update-ref``. The work tree, the index, ``HEAD`` and any checked-out
branch are never touched, so all of it works in a bare repository too.

Every git process gitkube starts goes through :func:`run_git` (gitkube's one
git wrapper): ``git rev-parse`` finds and opens the repository; the bulk work
runs in single git processes, because storing thousands of objects one call
at a time is slow.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from gitkube.primitives.errors import GitkubeError

FILE_MODE = "100644"
EXECUTABLE_MODE = "100755"
SYMLINK_MODE = "120000"
TREE_MODE = "040000"
GITLINK_MODE = "160000"

# Who rendered commits are by; the date is the time of the render (only the
# tree id has to be reproducible).
IDENTITY = "gitkube <gitkube@localhost>"
MAX_SYMLINK_HOPS = 40


class GitCommandError(GitkubeError):
    """A git command failed in a way the user has to look at."""


class TreeChange(NamedTuple):
    """One file that differs between two trees: its modes before and after
    (``000000``: absent) and its blob id after."""

    path: str
    old_mode: str
    new_mode: str
    new_oid: str


class Entry(NamedTuple):
    """One file of a tree or of the index: where it is, what it is, its blob id."""

    path: str
    mode: str
    oid: str


def _c_quote(path: str) -> str:
    """A path as fast-import reads it: C-quoted when it could be misread."""
    if path.startswith('"') or any(c in path for c in '\n\\"') or path != path.strip(" "):
        escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return path


def run_git(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run one git command and return it, whatever its exit status (the caller decides)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, check=False, timeout=timeout
    )


def start_git(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    requests: bool = False,
    errors: bool = False,
) -> subprocess.Popen[bytes]:
    """Start one git command that runs while gitkube goes on; its output is read
    (and the process waited for) by ``communicate()`` on the returned process.
    ``requests``: its stdin is a pipe, to be written while it runs; ``errors``: so is
    its stderr, for the message of a failure."""
    return subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        stdin=subprocess.PIPE if requests else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if errors else subprocess.DEVNULL,
    )


def exit_text(returncode: int) -> str:
    """How a git process ended, for a message: a signal by name, a full disk said plainly."""
    if returncode >= 0:
        return f"exit {returncode}"
    import signal

    name = signal.Signals(-returncode).name
    if -returncode == signal.SIGXFSZ:
        return f"killed by {name}: file too large (disk full or a file size limit)"
    return f"killed by {name}"


# Bare or not, the git directory, the common one (of every work tree), absolute.
_WHERE_IS_THE_REPOSITORY = (
    "rev-parse",
    "--path-format=absolute",
    "--is-bare-repository",
    "--absolute-git-dir",
    "--git-common-dir",
)


class GitStore:
    """A git repository (bare or not), as gitkube reads and writes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._batch: _CatFile | None = None
        self._commits: dict[str, tuple[str, str]] = {}  # commit id -> (itself, its tree)
        self._branch_names: set[str] = set()  # names check_branch_name found valid
        if not os.path.exists(path):
            raise GitkubeError("no such directory", file=str(path))
        # The repository ``path`` is in (or under), as git itself finds it.
        where = path if os.path.isdir(path) else os.path.dirname(path) or "."
        if self._open_work_tree(where):
            return
        found = run_git(*_WHERE_IS_THE_REPOSITORY, cwd=where)
        lines = found.stdout.decode().splitlines()
        if found.returncode != 0 or len(lines) != 3:
            raise GitkubeError(
                "not a git repository (render --out DIR renders a plain directory)",
                file=str(path),
            )
        self.bare = lines[0] == "true"
        self.git_dir = Path(lines[1])
        self.common_dir = Path(lines[2])
        top = None if self.bare else run_git("rev-parse", "--show-toplevel", cwd=where)
        work_tree = top.stdout.decode().strip() if top and top.returncode == 0 else ""
        self.cwd = Path(work_tree) if work_tree else self.git_dir
        fmt = self._config("extensions.objectformat") or "sha1"
        if fmt not in ("sha1", "sha256"):
            raise GitkubeError(f"unsupported object format {fmt}", file=str(self.git_dir))
        self.hash_name = fmt

    def __getstate__(self) -> dict[str, object]:
        # A copy in another process (pickled) starts its own cat-file when it reads.
        return {**self.__dict__, "_batch": None}

    def _open_work_tree(self, where: str | os.PathLike[str]) -> bool:
        """Open the repository of a work tree with one git process (the common case);
        False when ``where`` is not in a work tree or git cannot say all at once."""
        found = run_git(
            *_WHERE_IS_THE_REPOSITORY, "--show-object-format", "--show-toplevel", cwd=where
        )
        lines = found.stdout.decode().splitlines()
        if found.returncode != 0 or len(lines) != 5 or lines[0] != "false":
            return False
        if lines[3] not in ("sha1", "sha256") or not lines[4]:
            return False  # an older git echoes options it does not know
        self.bare = False
        self.git_dir, self.common_dir, self.cwd = Path(lines[1]), Path(lines[2]), Path(lines[4])
        self.hash_name = lines[3]
        return True

    # -- plumbing ------------------------------------------------------------
    def run(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one git command in the repository; a failure becomes a GitkubeError."""
        proc = run_git(*args, cwd=self.cwd, input=input)
        if check:
            self._check(args, proc.returncode, proc.stderr)
        return proc

    def _check(self, args: tuple[str, ...], returncode: int, stderr: bytes) -> None:
        """A failed git command (``args``) as a GitkubeError, with git's message."""
        if returncode == 0:
            return
        message = stderr.decode(errors="replace").strip() or exit_text(returncode)
        command = next(a for i, a in enumerate(args) if a != "-c" and args[i - 1 : i] != ("-c",))
        raise GitCommandError(f"git {command} failed: {message}", file=str(self.cwd))

    def _config(self, key: str) -> str | None:
        proc = self.run("config", "--get", key, check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    # -- refs and commits ----------------------------------------------------
    def resolve(self, rev: str) -> str | None:
        """The object id ``rev`` names (``HEAD``, a branch, ``x^{tree}``...), or None."""
        proc = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def _resolve_pair(self, first: str, second: str) -> tuple[str, str] | None:
        """Two revisions resolved by one git process, or None when either does not
        resolve (the caller asks one at a time, for its own answer or error)."""
        if first.startswith("-") or second.startswith("-"):
            return None  # without --verify (one revision only) rev-parse would take an option
        proc = self.run("rev-parse", first, second, check=False)
        ids = proc.stdout.decode().split()
        width = hashlib.new(self.hash_name).digest_size * 2
        if proc.returncode != 0 or len(ids) != 2:
            return None
        if any(len(i) != width or i.strip("0123456789abcdef") for i in ids):
            return None
        return ids[0], ids[1]

    def resolve_commit(self, ref: str) -> tuple[str, str]:
        """(commit id, tree id) of ``ref``; a clear error when it names no commit."""
        known = self._commits.get(ref)
        if known is not None:
            return known
        both = self._resolve_pair(f"{ref}^{{commit}}", f"{ref}^{{tree}}")
        if both is not None:
            if both[0] == ref:  # a commit id, not a name that may move: asked once
                self._commits[ref] = both
            return both
        commit = self.resolve(f"{ref}^{{commit}}")
        if commit is None:
            if ref == "HEAD" and self.resolve("HEAD") is None:
                raise GitkubeError(
                    "the repository has no commits yet; commit your apps, then render",
                    file=str(self.cwd),
                )
            raise GitkubeError(f'"{ref}" names no commit in this repository', file=str(self.cwd))
        tree = self.resolve(f"{commit}^{{tree}}")
        assert tree is not None
        return commit, tree

    def branch_tip(self, branch: str) -> tuple[str, str] | None:
        """(commit, tree) at the tip of ``refs/heads/<branch>``, or None when absent."""
        self.check_branch_name(branch)
        both = self._resolve_pair(
            f"refs/heads/{branch}^{{commit}}", f"refs/heads/{branch}^{{tree}}"
        )
        if both is not None:
            return both
        commit = self.resolve(f"refs/heads/{branch}^{{commit}}")
        if commit is None:
            return None
        tree = self.resolve(f"{commit}^{{tree}}")
        assert tree is not None
        return commit, tree

    def check_branch_name(self, branch: str) -> None:
        if branch in self._branch_names:
            return  # a name's validity does not change: asked once per store
        if self.run("check-ref-format", f"refs/heads/{branch}", check=False).returncode != 0:
            raise GitkubeError(f'"{branch}" is not a valid branch name')
        self._branch_names.add(branch)

    def checked_out_branches(self) -> set[str]:
        """Branches (full ref names) checked out in any work tree of the repository."""
        out = self.run("worktree", "list", "--porcelain", check=False).stdout.decode()
        return {line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("branch ")}

    def subject(self, commit: str) -> str:
        return self.run("log", "-1", "--format=%s", commit, "--").stdout.decode().strip()

    def commits_with_trailers(self, rev: str, key: str, limit: int = 1000) -> list[tuple[str, str]]:
        """(commit, value of trailer ``key``) for the newest ``limit`` commits of ``rev``."""
        fmt = f"%H %(trailers:key={key},valueonly,separator=%x2C)"
        proc = self.run("log", f"--max-count={limit}", f"--format={fmt}", rev, "--", check=False)
        if proc.returncode != 0:
            return []
        found = []
        for line in proc.stdout.decode().splitlines():
            commit, _, value = line.partition(" ")
            found.append((commit, value.strip()))
        return found

    def update_ref(self, ref: str, new: str, old: str | None, message: str) -> bool:
        """Move ``ref`` to ``new`` only if it is still at ``old`` (None: must not exist).

        Returns False when someone else moved it first: the compare-and-swap lost.
        """
        proc = self.run("update-ref", "-m", message, ref, new, old or "0" * len(new), check=False)
        return proc.returncode == 0

    def push(self, remote: str, branch: str) -> None:
        """Push ``branch`` to the same name on ``remote`` (fast-forward only)."""
        proc = self.run(
            "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False
        )
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()
            raise GitkubeError(f"push of {branch} to {remote} failed: {message}")

    # -- reading trees -------------------------------------------------------
    def ls_tree(self, treeish: str) -> list[Entry]:
        """Every file of a tree, recursively (submodules left out)."""
        out = self.run("ls-tree", "-r", "-z", "--full-tree", treeish).stdout
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, path = record.split(b"\t", 1)
            mode, kind, oid = meta.split(b" ")
            if kind == b"blob":
                entries.append(
                    Entry(path.decode("utf-8", "surrogateescape"), mode.decode(), oid.decode())
                )
        return entries

    def ls_index(self) -> list[Entry]:
        """Every file staged in the index ($GIT_INDEX_FILE during a commit hook)."""
        out = self.run("ls-files", "-s", "-z").stdout
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, oid, stage = meta.decode().split(" ")
            name = path.decode("utf-8", "surrogateescape")
            if stage != "0":
                raise GitkubeError("unmerged path in the index; resolve the conflict", file=name)
            if mode != GITLINK_MODE:
                entries.append(Entry(name, mode, oid))
        return entries

    def read_blobs(self, oids: Iterable[str], *, missing_ok: bool = False) -> dict[str, bytes]:
        """The content of many blobs (ids or ``rev:path``) through ``git cat-file --batch``."""
        wanted = sorted(set(oids))
        found = self._cat_objects(wanted)
        if not missing_ok:
            for oid in wanted:
                if oid not in found:
                    raise GitkubeError(f"object {oid} is missing from the repository")
        return {oid: body for oid, (_kind, body) in found.items()}

    def _cat_objects(self, wanted: list[str]) -> dict[str, tuple[bytes, bytes]]:
        """(type, content) of each object of ``wanted`` that exists.

        A few objects, the most a render or diff of one commit asks at a time,
        are asked of one ``git cat-file --batch`` kept for this store: each
        further process would cost more than reading them. Many objects (a
        whole tree) go to a process of their own, their requests written at
        once."""
        if not wanted:
            return {}
        if len(wanted) <= _FEW_OBJECTS and not any("\n" in name for name in wanted):
            if self._batch is None or not self._batch.usable():
                self._batch = _CatFile(self.cwd)
            found = self._batch.ask(wanted)
            if found is not None:
                return found
            self._batch = None  # it died: asked again below, the one-shot way
        request = ("\n".join(wanted) + "\n").encode("utf-8", "surrogateescape")
        out = self.run("cat-file", "--batch", input=request).stdout
        objects: dict[str, tuple[bytes, bytes]] = {}
        pos = 0
        for name in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) != 3:
                continue  # "<name> missing" (or ambiguous)
            size = int(header[2])
            objects[name] = (header[1], out[pos : pos + size])
            pos += size + 1
        return objects

    def blob_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """The size of many blobs, without reading them (``git cat-file --batch-check``)."""
        wanted = sorted(set(oids))
        if not wanted:
            return {}
        out = self.run("cat-file", "--batch-check", input=("\n".join(wanted) + "\n").encode())
        sizes: dict[str, int] = {}
        for oid, line in zip(wanted, out.stdout.decode().splitlines(), strict=False):
            header = line.split(" ")
            if len(header) == 3:
                sizes[oid] = int(header[2])
        return sizes

    def resolve_symlinks(self, entries: list[Entry]) -> list[Entry]:
        """Entries with every symlink replaced by what it points to inside the tree.

        A link to a file gives that file's blob; a link to a directory gives
        the files under it; a link that leaves the tree is an error; a
        dangling link is left out (as a directory walk does).
        """
        links = [e for e in entries if e.mode == SYMLINK_MODE]
        if not links:
            return entries
        targets = self.read_blobs(e.oid for e in links)
        by_path = {e.path: e for e in entries}
        resolved = [e for e in entries if e.mode != SYMLINK_MODE]
        for link in links:
            resolved.extend(self._follow(link, targets, by_path))
        return sorted(resolved, key=lambda e: e.path)

    def _follow(
        self, link: Entry, targets: dict[str, bytes], by_path: dict[str, Entry]
    ) -> list[Entry]:
        current = link
        for _hop in range(MAX_SYMLINK_HOPS):
            target = targets.get(current.oid)
            if target is None:
                target = self.read_blobs([current.oid])[current.oid]
            text = target.decode("utf-8", "surrogateescape")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(current.path), text))
            if text.startswith("/") or path == ".." or path.startswith("../"):
                raise GitkubeError(
                    f"symlink leaves the repository (points to {text}); "
                    "gitkube reads nothing outside the repo",
                    file=link.path,
                )
            found = by_path.get(path)
            if found is None:
                prefix = "" if path == "." else path + "/"
                under = [e for p, e in by_path.items() if p.startswith(prefix)]
                return [
                    Entry(f"{link.path}/{e.path[len(prefix) :]}", e.mode, e.oid)
                    for e in under
                    if e.mode != SYMLINK_MODE
                ]
            if found.mode != SYMLINK_MODE:
                return [Entry(link.path, found.mode, found.oid)]
            current = found
        raise GitkubeError("too many levels of symbolic links", file=link.path)

    # -- hashing and writing -------------------------------------------------
    def blob_id(self, data: bytes) -> str:
        """The id git gives ``data`` as a blob (computed, nothing written)."""
        h = hashlib.new(self.hash_name)
        h.update(b"blob %d\0" % len(data))
        h.update(data)
        return h.hexdigest()

    def tree_id(self, files: Mapping[str, str]) -> str:
        """The id of the tree holding ``files`` (path -> blob id), regular files only."""
        root: dict[str, object] = {}
        for path, oid in files.items():
            node = root
            *dirs, name = _checked_parts(path)
            for part in dirs:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise GitkubeError(f"{path} would be both a file and a directory")
                node = child
            if isinstance(node.get(name), dict):
                raise GitkubeError(f"{path} would be both a file and a directory")
            node[name] = oid
        return self._hash_tree(root)

    def _hash_tree(self, node: dict[str, object]) -> str:
        items: dict[str, tuple[str, str]] = {}
        for name, value in node.items():
            if isinstance(value, dict):
                items[name] = (TREE_MODE, self._hash_tree(value))
            else:
                assert isinstance(value, str)
                items[name] = (FILE_MODE, value)
        return self._hash_entries(items)

    def _hash_entries(self, items: Mapping[str, tuple[str, str]]) -> str:
        """The id of a tree object of ``items`` (name -> (mode, object id)), in git's order."""
        named = [
            (name.encode("utf-8", "surrogateescape"), mode, oid)
            for name, (mode, oid) in items.items()
        ]
        body = b"".join(
            mode.lstrip("0").encode() + b" " + name + b"\0" + bytes.fromhex(oid)
            for _key, name, mode, oid in sorted(
                (name + b"/" if mode == TREE_MODE else name, name, mode, oid)
                for name, mode, oid in named
            )
        )
        h = hashlib.new(self.hash_name)
        h.update(b"tree %d\0" % len(body))
        h.update(body)
        return h.hexdigest()

    def read_trees(self, specs: Iterable[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """The entries (name -> (mode, object id)) of many trees (ids or ``rev:path``),
        through ``git cat-file --batch``; a spec naming no tree is left out."""
        wanted = sorted(set(specs))
        if any("\n" in spec for spec in wanted):
            raise GitkubeError("a tree path holds a newline")
        width = hashlib.new(self.hash_name).digest_size
        trees: dict[str, dict[str, tuple[str, str]]] = {}
        for spec, (kind, body) in self._cat_objects(wanted).items():
            if kind != b"tree":
                continue
            entries: dict[str, tuple[str, str]] = {}
            at = 0
            while at < len(body):
                space = body.index(b" ", at)
                nul = body.index(b"\0", space)
                mode = body[at:space].decode().rjust(6, "0")
                name = body[space + 1 : nul].decode("utf-8", "surrogateescape")
                entries[name] = (mode, body[nul + 1 : nul + 1 + width].hex())
                at = nul + 1 + width
            trees[spec] = entries
        return trees

    def patched_tree_id(self, base: str, changes: Mapping[str, str | None]) -> str:
        """The id of tree ``base`` with ``changes`` made (path -> blob id, None: removed).

        Only the trees on the way to a changed file are read and hashed again;
        every other directory keeps its id from ``base``. A directory left
        empty is dropped, as git drops it.
        """
        files: dict[str, dict[str, str | None]] = {}  # directory -> name -> blob id
        touched: set[str] = {""}
        for path, oid in changes.items():
            *dirs, name = _checked_parts(path)
            files.setdefault("/".join(dirs), {})[name] = oid
            touched.update("/".join(dirs[:depth]) for depth in range(1, len(dirs) + 1))
        specs = {d: f"{base}:{d}" if d else base for d in touched}
        found = self.read_trees(specs.values())
        new_ids: dict[str, str | None] = {}  # directory -> its new id, None: now empty
        # Deepest first, so each directory's new id is known before its parent's.
        for directory in sorted(touched, key=lambda d: -d.count("/") if d else 1):
            entries = dict(found.get(specs[directory], {}))
            for name, oid in files.get(directory, {}).items():
                current = entries.get(name)
                if oid is None:
                    if current is not None and current[0] != TREE_MODE:
                        del entries[name]
                    continue
                below = f"{directory}/{name}" if directory else name
                if current is not None and current[0] == TREE_MODE and below not in touched:
                    raise GitkubeError(f"{below} would be both a file and a directory")
                entries[name] = (FILE_MODE, oid)
            prefix = f"{directory}/" if directory else ""
            for sub, tree in new_ids.items():
                parent, _, name = sub.rpartition("/")
                if parent != directory or not sub.startswith(prefix):
                    continue
                current = entries.get(name)
                if tree is None:
                    if current is not None and current[0] == TREE_MODE:
                        del entries[name]
                elif current is not None and current[0] != TREE_MODE:
                    raise GitkubeError(f"{sub} would be both a file and a directory")
                else:
                    entries[name] = (TREE_MODE, tree)
            new_ids[directory] = self._hash_entries(entries) if entries or not directory else None
        root = new_ids[""]
        assert root is not None
        return root

    def diff_trees(self, old: str, new: str) -> list[TreeChange]:
        """Every file that differs between two trees (``git diff-tree -r``), renames as
        a removal and an addition."""
        out = self.run("diff-tree", "-r", "-z", "--no-renames", old, new).stdout
        fields = out.split(b"\0")
        changes = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            old_mode, new_mode, _old_oid, new_oid, _status = meta.lstrip(b":").decode().split(" ")
            changes.append(
                TreeChange(path.decode("utf-8", "surrogateescape"), old_mode, new_mode, new_oid)
            )
        return changes

    def start_commit(self, blobs: Mapping[str, bytes]) -> CommitStart:
        """Start the fast-import of :meth:`write_commit`, handing it ``blobs`` (blob id ->
        content) at once: git hashes and packs them (an inventory is megabytes) while
        the caller works out the rest of the commit. Pass it to write_commit, or
        ``close()`` it."""
        return CommitStart(self, blobs)

    def write_commit(
        self,
        changes: Mapping[str, str | None],
        read: Callable[[list[str]], Mapping[str, bytes]],
        *,
        parent: str | None,
        message: str,
        expected_tree: str,
        started: CommitStart | None = None,
    ) -> str:
        """Write a commit of ``parent``'s tree with ``changes`` made (path -> blob id,
        None: removed).

        One fast-import stream carries only the changes: ``read`` is asked for
        the contents of the changed files (those ``started`` was handed aside),
        the rest is inherited. The commit lands on a private temporary ref that
        is removed again, so no visible ref moves here. Returns the new commit's
        id, after checking its tree is ``expected_tree``.
        """
        started = started or CommitStart(self, {})
        temp_ref = f"refs/gitkube/tmp/{os.getpid()}-{os.urandom(16).hex()}"
        stamp = f"{IDENTITY} {int(time.time())} +0000"
        msg = message.encode()
        chunks = [
            f"commit {temp_ref}\nauthor {stamp}\ncommitter {stamp}\n".encode(),
            b"data %d\n" % len(msg),
            msg,
            b"\n",
        ]
        if parent:
            chunks.append(f"from {parent}\n".encode())
        for path in sorted(p for p, oid in changes.items() if oid is None):
            chunks.append(f"D {_c_quote(path)}\n".encode())
        changed = sorted(p for p, oid in changes.items() if oid is not None)
        contents = read([p for p in changed if changes[p] not in started.marks])
        for path in changed:
            mark = started.marks.get(changes[path] or "")
            if mark is not None:
                chunks.append(f"M {FILE_MODE} :{mark} {_c_quote(path)}\n".encode())
                continue
            data = contents[path]
            chunks.append(f"M {FILE_MODE} inline {_c_quote(path)}\n".encode())
            chunks.append(b"data %d\n" % len(data))
            chunks.append(data)
            chunks.append(b"\n")
        started.finish(b"".join(chunks))
        try:
            proc = self.run(
                "rev-parse", f"{temp_ref}^{{commit}}", f"{temp_ref}^{{tree}}", check=False
            )
            commit, tree = ([*proc.stdout.decode().split(), None, None])[:2]
        finally:
            self.run("update-ref", "-d", temp_ref, check=False)
        if commit is None or tree != expected_tree:
            raise GitkubeError(
                f"internal error: fast-import wrote tree {tree}, expected {expected_tree}"
            )
        return commit


# A render writes a handful of objects, one of them the inventory (megabytes at
# 10,000 apps): stored in a pack of its own, quickly compressed, rather than compressed
# once for the pack and again as loose objects. Object ids do not change; git gc packs
# these small packs like any others.
_FAST_IMPORT = (
    "-c",
    "fastimport.unpackLimit=0",
    "-c",
    "pack.compression=1",
    "fast-import",
    "--quiet",
    "--done",
    "--date-format=raw",
)


class CommitStart:
    """A ``git fast-import`` of one commit, started with its large blobs (see
    :meth:`GitStore.start_commit`); :meth:`GitStore.write_commit` finishes it."""

    def __init__(self, store: GitStore, blobs: Mapping[str, bytes]) -> None:
        self.store = store
        self.marks: dict[str, int] = {}  # blob id -> its fast-import mark
        self.proc: subprocess.Popen[bytes] | None = None
        if not blobs:
            return  # started when finished, as one stream
        self.proc = start_git(*_FAST_IMPORT, cwd=store.cwd, requests=True, errors=True)
        assert self.proc.stdin is not None
        for number, (oid, data) in enumerate(blobs.items(), start=1):
            self.marks[oid] = number
            self.proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (number, len(data)))
            self.proc.stdin.write(data)
            self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def finish(self, stream: bytes) -> None:
        """Send the rest of the stream (``done`` added) and wait for git to write it all."""
        request = stream + b"done\n"
        if self.proc is None:
            self.store.run(*_FAST_IMPORT, input=request)
            return
        _out, err = self.proc.communicate(request)
        self.store._check(_FAST_IMPORT, self.proc.returncode, err)

    def close(self) -> None:
        """End a start no commit was written with (its blobs may stay, unreferenced, until
        git gc prunes them)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.communicate(b"done\n")


# Requests up to this many go to a store's kept cat-file process: written at once,
# they fit in a pipe (so the write never waits for git to be read), then answered.
_FEW_OBJECTS = 64


class _CatFile:
    """One ``git cat-file --batch`` answering request after request, for one GitStore.

    It ends with its store (or the interpreter). A forked child starts its own
    rather than share the parent's pipes; a lock keeps threads' requests apart.
    """

    def __init__(self, cwd: Path) -> None:
        self.pid = os.getpid()
        self.proc = start_git("cat-file", "--batch", cwd=cwd, requests=True)
        self.lock = threading.Lock()
        weakref.finalize(self, _end_cat_file, self.proc, self.pid)

    def usable(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def ask(self, wanted: list[str]) -> dict[str, tuple[bytes, bytes]] | None:
        """(type, content) of each existing object of ``wanted``; None when git died."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        found: dict[str, tuple[bytes, bytes]] = {}
        with self.lock:
            try:
                request = "".join(f"{name}\n" for name in wanted)
                self.proc.stdin.write(request.encode("utf-8", "surrogateescape"))
                self.proc.stdin.flush()
                for name in wanted:
                    header = self.proc.stdout.readline().split(b" ")
                    if not header[-1].endswith(b"\n"):
                        raise EOFError("git cat-file ended")
                    if len(header) != 3:
                        continue  # "<name> missing" (or ambiguous)
                    size = int(header[2])
                    body = self.proc.stdout.read(size + 1)
                    if len(body) != size + 1:
                        raise EOFError("git cat-file ended")
                    found[name] = (header[1], body[:size])
            except (OSError, EOFError, ValueError):
                _end_cat_file(self.proc, self.pid)
                return None
        return found


def _end_cat_file(proc: subprocess.Popen[bytes], pid: int) -> None:
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()  # git reads the end of its input and exits
        except OSError:
            pass
    if pid == os.getpid():  # a forked child's copy of the pipes is closed, not waited for
        proc.wait()


def file_changes(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str | None]:
    """What turns the files ``old`` into ``new`` (path -> blob id, None: removed)."""
    changes: dict[str, str | None] = {path: None for path in old.keys() - new.keys()}
    changes.update((path, oid) for path, oid in new.items() if old.get(path) != oid)
    return changes


def _checked_parts(path: str) -> list[str]:
    """The segments of a path to write into a tree. The renderer checks paths; this is
    the last line before a tree with a ".." or empty entry could be written."""
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise GitkubeError(f"refusing to write a tree entry {path!r}")
    return parts
