"""``gitkube`` and ``python -m gitkube``: the command line's entry point.

``gitkube --version`` is answered here, before typer and the commands are
imported: it is what scripts and CI call to check an install, and importing
the command line takes several times longer than Python's own start. So is a
plain ``gitkube render`` with nothing to do, or one that patches a tree
rendered before, and ``gitkube diff BASE HEAD -o json`` (gitkube.render.quick_answer).
"""

import atexit
import os
import sys

from gitkube import __version__


class _Answered:
    early = False  # a quick answer was printed: see _end_without_teardown


def _end_without_teardown() -> None:
    """After a quick answer, end the process without tearing the interpreter down.

    A render or diff answered here has imported some 600 modules and holds
    tables of every rendered object; unloading and freeing them one by one
    takes ~30 ms, a tenth of the answer, for a process that is over.
    Registered before anything else, this runs after every other exit
    handler (they run last in, first out): threads are joined, kept git
    processes closed, logs flushed by then. Anything else ends as usual.
    """
    if not _Answered.early:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # Python reports a closed or broken stdout, as it always did
    os._exit(0)


def main() -> None:
    atexit.register(_end_without_teardown)
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"gitkube {__version__}\n")
        return
    if sys.argv[1:] == ["render"]:
        # The post-commit hook's call: a no-op or a patch is answered before typer loads.
        from pathlib import Path

        from gitkube.primitives.errors import GitkubeError
        from gitkube.render.quick_answer import unchanged_render_line

        try:
            line = unchanged_render_line(Path("."))
        except (GitkubeError, OSError):
            line = None  # the command line reports it
        if line is not None:
            sys.stdout.write(line + "\n")
            _Answered.early = True
            return
    args = sys.argv[1:]
    if (
        len(args) == 5
        and args[0] == "diff"
        and args[3:] in (["-o", "json"], ["--output", "json"])
        and not any(ref.startswith("-") for ref in args[1:3])
    ):
        from pathlib import Path

        from gitkube.render.quick_answer import diff_json

        try:
            text = diff_json(Path("."), args[1], args[2])
        except Exception:  # the command line runs it again and reports it, in its words
            text = None
        if text is not None:
            sys.stdout.write(text)
            _Answered.early = True
            return
    from gitkube.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
