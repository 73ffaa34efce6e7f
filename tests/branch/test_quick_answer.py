"""A plain ``gitkube render`` with nothing to do, or with a change the incremental render
patches, is answered before the command line loads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.branch.conftest import app_files, commit_all, edit, git

# Runs the real entry point and reports whether typer (the command line) was loaded.
ENTRY = (
    "import sys\n"
    "sys.argv = ['gitkube', *sys.argv[1:]]\n"
    "from gitkube.__main__ import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print('typer loaded' if 'typer' in sys.modules else 'typer not loaded')\n"
)


def gitkube(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], cwd=repo, capture_output=True, text=True
    )


def test_a_no_op_render_prints_what_the_command_line_prints(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    first = gitkube(repo, "render")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "typer loaded"  # a render to do: the full command

    quick = gitkube(repo, "render")
    full = gitkube(repo, "render", "--ref", "HEAD")  # any option: the full command line
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert quick.stdout.splitlines() == [*full.stdout.splitlines()[:-1], "typer not loaded"]
    assert "unchanged at" in quick.stdout
    assert quick.stderr == full.stderr == ""


def test_uncommitted_changes_still_get_their_warning(git_repo: Callable[..., Path]) -> None:
    repo = git_repo()
    assert gitkube(repo, "render").returncode == 0
    (repo / "web" / "frontend" / "extra.yaml").write_text("kind: ConfigMap\n")
    again = gitkube(repo, "render")
    assert again.returncode == 0, again.stderr
    assert "uncommitted change" in again.stderr
    assert again.stdout.splitlines()[-1] == "typer loaded"


def test_a_patched_render_commits_and_prints_what_the_command_line_prints(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    assert gitkube(repo, "render").returncode == 0  # the tree's index, for the next render
    edit(repo, app_files("frontend", replicas=3))
    commit_all(repo)
    quick = gitkube(repo, "render")
    assert quick.returncode == 0, quick.stderr
    assert quick.stdout.splitlines()[-1] == "typer not loaded"
    assert "replicas: 3" in git(repo, "show", "rendered:web/frontend/deployment-frontend.yaml")
    edit(repo, app_files("frontend", replicas=4))
    commit_all(repo)
    git(repo, "branch", "-q", "twin", "rendered")  # the same render, made by the command line
    full = gitkube(repo, "render", "--branch", "twin")
    quick = gitkube(repo, "render")
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert full.stdout.splitlines()[-1] == "typer loaded"
    assert quick.stdout.splitlines()[-1] == "typer not loaded"
    tip = git(repo, "rev-parse", "rendered")[:12]
    assert quick.stdout.splitlines()[:-1] == [
        line.replace("twin", "rendered").replace(git(repo, "rev-parse", "twin")[:12], tip)
        for line in full.stdout.splitlines()[:-1]
    ]
    assert quick.stderr == full.stderr == ""
    assert git(repo, "rev-parse", "rendered^{tree}") == git(repo, "rev-parse", "twin^{tree}")


def test_a_patched_render_with_uncommitted_changes_warns_as_the_command_line(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    assert gitkube(repo, "render").returncode == 0
    warnings = {}
    for replicas, args in ((3, ("render",)), (4, ("render", "--branch", "twin"))):
        edit(repo, app_files("frontend", replicas=replicas))
        commit_all(repo)
        git(repo, "branch", "-f", "-q", "twin", "rendered")
        (repo / "notes.txt").write_text(f"draft {replicas}\n")  # left out of the render
        done = gitkube(repo, *args)
        assert done.returncode == 0, done.stderr
        warnings[done.stdout.splitlines()[-1]] = done.stderr
    assert warnings.keys() == {"typer not loaded", "typer loaded"}
    assert warnings["typer not loaded"] == warnings["typer loaded"]
    assert warnings["typer loaded"].startswith("warning: 1 uncommitted change left out")


def test_a_json_diff_of_two_commits_prints_what_the_command_line_prints(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    assert gitkube(repo, "render").returncode == 0
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, app_files("frontend", replicas=3))
    head = commit_all(repo)
    for output in ("-o", "--output"):
        quick = gitkube(repo, "diff", base, head, output, "json")
        full = gitkube(repo, "diff", "-C", ".", base, head, output, "json")  # any other option
        assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
        assert quick.stdout.splitlines() == [*full.stdout.splitlines()[:-1], "typer not loaded"]
        assert '"changed": 1' in quick.stdout
        assert quick.stderr == full.stderr == ""
    # an error is the command line's to report, in its words and exit code
    wrong = gitkube(repo, "diff", "nowhere", head, "-o", "json")
    assert wrong.returncode == 1 and wrong.stdout.splitlines()[-1] == "typer loaded"
    assert '"error"' in wrong.stdout and "names no commit" in wrong.stderr


# The quick answer with an exit handler registered while it works, and an object that
# says when the interpreter frees it.
TEARDOWN_PROBE = (
    "import atexit, sys\n"
    "import gitkube.render.quick_answer as quick\n"
    "class Probe:\n"
    "    def __del__(self):\n"
    "        sys.stderr.write('torn down\\n')\n"
    "probe = Probe()\n"
    "answer = quick.unchanged_render_line\n"
    "def answering(repo):\n"
    "    atexit.register(lambda: sys.stderr.write('exit handler ran\\n'))\n"
    "    return answer(repo)\n"
    "quick.unchanged_render_line = answering\n"
    "sys.argv = ['gitkube', *sys.argv[1:]]\n"
    "from gitkube.__main__ import main\n"
    "main()\n"
)


def test_a_quick_answer_ends_without_tearing_the_interpreter_down(
    git_repo: Callable[..., Path],
) -> None:
    repo = git_repo()
    assert gitkube(repo, "render").returncode == 0
    for args, torn_down in ((["render"], False), (["render", "--ref", "HEAD"], True)):
        done = subprocess.run(
            [sys.executable, "-c", TEARDOWN_PROBE, *args], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "unchanged at" in done.stdout  # printed and flushed either way
        assert ("torn down" in done.stderr) is torn_down, done.stderr
        assert ("exit handler ran" in done.stderr) is not torn_down  # the quick one registers it
