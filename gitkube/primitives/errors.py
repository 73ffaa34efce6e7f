"""The one exception family gitkube raises for problems a user can fix.

The CLI turns a :class:`GitkubeError` into one readable message and a non-zero
exit; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GitkubeError(Exception):
    """A problem with the user's input or environment, worded for the user.

    ``file``, ``line``, ``plugin``, ``app`` and ``obj`` say where it happened and
    end up in the message, so every error names what to look at.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        plugin: str | None = None,
        app: str | None = None,
        obj: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.plugin = plugin
        self.app = app
        self.obj = obj
        super().__init__(str(self))

    def __reduce__(self) -> tuple[object, ...]:
        # Keep file, line, plugin... when an error crosses a process boundary.
        fields = {k: getattr(self, k) for k in ("file", "line", "plugin", "app", "obj")}
        return (_rebuild, (type(self), self.message, fields))

    def noting(self, context: str) -> GitkubeError:
        """The same error with ``[context]`` added to its message (same type and exit code)."""
        fields = {k: getattr(self, k) for k in ("file", "line", "plugin", "app", "obj")}
        error = GitkubeError(f"{self.message} [{context}]", **fields)
        error.exit_code = self.exit_code
        return error

    def one_line(self) -> GitkubeError:
        """The same error with its message folded onto one line.

        For messages quoted from elsewhere (a YAML parser's problem text can
        span lines); gitkube's own messages are written as one line.
        """
        if "\n" not in self.message:
            return self
        fields = {k: getattr(self, k) for k in ("file", "line", "plugin", "app", "obj")}
        error = GitkubeError(" ".join(self.message.split()), **fields)
        error.exit_code = self.exit_code
        return error

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.app:
            parts.append(f"app {self.app}")
        if self.obj:
            parts.append(self.obj)
        if self.plugin:
            parts.append(f"plugin {self.plugin}")
        return ", ".join(printable(part) for part in parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class SafetyRefusal(GitkubeError):
    """A safety rule refused the operation (exit code 2): nothing was changed."""

    exit_code = 2


def printable(text: str) -> str:
    """``text`` safe to print in a one-line message: file and object names may hold
    newlines, control characters or undecodable bytes."""
    if text.isprintable() and text.isascii():
        return text
    if text.isprintable():
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def _rebuild(cls: type[GitkubeError], message: str, fields: dict[str, object]) -> GitkubeError:
    return cls(message, **fields)  # type: ignore[arg-type]
