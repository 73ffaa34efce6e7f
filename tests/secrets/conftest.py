"""The real sops and age, built from the Go module proxy (gitkube.testing.sopstool)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitkube.primitives import sops
from gitkube.testing import sopstool


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str
    file: Path


@dataclass(frozen=True)
class RealSops:
    """Runs the pinned sops binary with a clean environment (no keys but the ones given)."""

    bin_dir: Path

    def run(
        self, *args: str | Path, key_file: Path | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SOPS_") and k != "XDG_CONFIG_HOME"
        }
        env["HOME"] = str(cwd or Path.cwd())  # never the user's ~/.config/sops
        if key_file is not None:
            env["SOPS_AGE_KEY_FILE"] = str(key_file)
        return subprocess.run(
            [str(self.bin_dir / "sops"), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
        )

    def encrypt_json(self, document: Any, rel: str, cwd: Path) -> None:
        """Encrypt ``document`` into the YAML SOPS file ``cwd/rel`` under ``cwd/.sops.yaml``.

        The plaintext goes in as JSON: any string survives that exactly, while
        PyYAML and go-yaml disagree on some (a NEL after a line break).
        """
        plain = cwd / f".{Path(rel).name}.plain.json"
        plain.write_text(json.dumps(document))
        done = self.run(
            "--encrypt",
            "--input-type",
            "json",
            "--output-type",
            "yaml",
            "--filename-override",
            rel,
            plain.name,
            cwd=cwd,
        )
        plain.unlink()
        assert done.returncode == 0, done.stderr
        (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
        (cwd / rel).write_text(done.stdout)

    def decrypt(self, path: Path, key_file: Path) -> Any:
        done = self.run("--decrypt", "--output-type", "json", path, key_file=key_file)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def real_sops() -> RealSops:
    # Built (or reused from the cache) like the control plane; never skipped.
    return RealSops(sopstool.build())


def make_key(directory: Path, name: str = "age.key") -> AgeKey:
    identity, recipient = sops.generate_identity()
    path = directory / name
    path.write_text(f"# public key: {recipient}\n{identity}\n")
    path.chmod(0o600)
    return AgeKey(identity, recipient, path)


@pytest.fixture
def age_key(tmp_path: Path) -> AgeKey:
    return make_key(tmp_path)
