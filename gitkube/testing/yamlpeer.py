"""kubectl's YAML reader as a peer: what Kubernetes itself reads from a file.

gitkube promises that a manifest means what kubectl reads (DESIGN: Kubernetes'
reader is the reference). This module builds a small Go program
(``data/yamlpeer/main.go``) against the very module versions the local
control plane is built from (``k8s.io/apimachinery``, ``sigs.k8s.io/yaml``),
caches it next to the control plane, and runs it as one long-lived process
that answers file after file, so property tests can compare thousands of
generated files with gitkube's reader in a few seconds.

Command line::

    python -m gitkube.testing.yamlpeer build     # build or reuse; prints the binary's path
    python -m gitkube.testing.yamlpeer FILE...   # print what kubectl reads from each file
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from gitkube.primitives.kubeyaml import room_for_nesting
from gitkube.testing.controlplane import (
    KUBERNETES_VERSION,
    ControlPlaneError,
    _go,
    _locked,
    cache_root,
    find_go,
)

SOURCE = Path(__file__).parent / "data" / "yamlpeer" / "main.go"
# The staging modules share Kubernetes' minor version: v1.37.2 -> v0.37.2.
APIMACHINERY_VERSION = "v0." + KUBERNETES_VERSION.removeprefix("v1.")


def binary_path(root: Path | None = None) -> Path:
    # Keyed by the pinned version and the program's source: an edit rebuilds.
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return (root or cache_root()) / f"yamlpeer-{APIMACHINERY_VERSION}-{digest}" / "yamlpeer"


def build(root: Path | None = None, *, log: TextIO | None = None) -> Path:
    """Build the peer unless the cache has it; return its path (a few seconds once modules are cached)."""
    log = log or sys.stderr
    target = binary_path(root)
    if target.exists():
        return target
    with _locked(target.parent / ".build.lock"):
        if target.exists():
            return target
        go = find_go()
        with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as tmp:
            module = Path(tmp)
            (module / "main.go").write_bytes(SOURCE.read_bytes())
            (module / "go.mod").write_text(
                "module gitkube.local/yamlpeer\n\ngo 1.24\n\n"
                f"require k8s.io/apimachinery {APIMACHINERY_VERSION}\n"
            )
            # `go mod tidy` adds sigs.k8s.io/yaml and golang.org/x/text at the
            # versions apimachinery itself requires: the control plane's versions.
            _go(go, ["mod", "tidy"], module, log)
            _go(go, ["build", "-trimpath", "-o", str(module / "yamlpeer"), "."], module, log)
            os.replace(module / "yamlpeer", target)
    return target


@dataclass(frozen=True)
class PeerReading:
    """What kubectl reads from one file: its documents, or why it refuses the file."""

    documents: list[Any] | None
    error: str | None
    strict_error: str | None  # set when strict reading (duplicate keys) refuses it

    @property
    def refused(self) -> bool:
        return self.error is not None


class YamlPeer:
    """One running peer process; use as a context manager or call :meth:`close`."""

    def __init__(self, binary: Path | None = None) -> None:
        self._process = subprocess.Popen(
            [str(binary or build())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()

    def read(self, data: bytes) -> PeerReading:
        """What kubectl reads from a file holding ``data``."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        with self._lock:
            process.stdin.write(b"%d\n" % len(data) + data)
            process.stdin.flush()
            line = process.stdout.readline()
        if not line:
            raise ControlPlaneError(f"the YAML peer exited (code {process.poll()})")
        with room_for_nesting():
            answer = json.loads(line)
        return PeerReading(
            documents=answer.get("docs", []) if "error" not in answer else None,
            error=answer.get("error"),
            strict_error=answer.get("strict"),
        )

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> YamlPeer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitkube.testing.yamlpeer")
    parser.add_argument("files", nargs="*", help="files to read as kubectl does, or `build`")
    args = parser.parse_args(argv)
    if args.files == ["build"]:
        print(build())
        return 0
    with YamlPeer() as peer:
        for name in args.files:
            reading = peer.read(Path(name).read_bytes())
            shown = {"error": reading.error} if reading.refused else reading.documents
            print(f"{name}: {json.dumps(shown, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
