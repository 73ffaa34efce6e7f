"""Wall clock, CPU and peak memory of one whole child process (bench helper)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    seconds: float  # wall clock
    cpu: float  # user + system of the process and the children it waited for
    rss_mb: float  # peak resident set of the process (or its largest child)
    returncode: int
    stderr: str


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to the end; its own resource usage, from wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode(errors="replace")  # small: errors and warnings only
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=elapsed,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        returncode=proc.returncode,
        stderr=stderr,
    )


COMPILE_INSTALL = (
    "import compileall, os, gitkube, gitkube_plugins\n"
    "for module in (gitkube, gitkube_plugins):\n"
    "    compileall.compile_dir(os.path.dirname(module.__file__), quiet=1)\n"
)


def compile_install(python: str) -> None:
    """Give the gitkube install of ``python`` its bytecode, as pip gives a user's install:
    an editable install under PYTHONDONTWRITEBYTECODE would compile gitkube every run."""
    subprocess.run([python, "-c", COMPILE_INSTALL], check=True, capture_output=True)
