"""``gitkube`` and ``python -m gitkube``: the command line's entry point.

``gitkube --version`` is answered here, before typer and the commands are
imported: it is what scripts and CI call to check an install, and importing
the command line takes several times longer than Python's own start.
"""

import sys

from gitkube import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"gitkube {__version__}\n")
        return
    from gitkube.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
