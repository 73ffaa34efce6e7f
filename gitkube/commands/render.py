"""``gitkube render``: render a repo into a directory (or onto the rendered branch)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitkube.domain.context import Problem
from gitkube.domain.render import INVENTORY_FILE, RenderResult, render_tree
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import DirectoryTree


@dataclass
class RenderSummary:
    """What the CLI reports about a render."""

    apps: int
    objects: int
    gce_objects: int
    output: str
    warnings: list[Problem] = field(default_factory=list)
    commit: str | None = None
    changed: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "apps": self.apps,
            "objects": self.objects,
            "gceObjects": self.gce_objects,
            "output": self.output,
            "commit": self.commit,
            "changed": self.changed,
            "warnings": [str(w) for w in self.warnings],
        }


def summarize(result: RenderResult, output: str) -> RenderSummary:
    return RenderSummary(
        apps=len(result.apps),
        objects=len(result.resources),
        gce_objects=sum(1 for r in result.resources if r.is_gce),
        output=output,
        warnings=result.warnings,
    )


def render_to_directory(repo: Path, out: Path) -> RenderSummary:
    """Render the work tree at ``repo`` into ``out``, all or nothing.

    Everything is rendered in memory first and written to a sibling temporary
    directory that replaces ``out`` in one rename, so an error leaves ``out``
    as it was. An existing ``out`` that is not a previous gitkube output is
    refused rather than replaced.
    """
    result = render_tree(DirectoryTree(repo))
    write_directory(out, result.all_files())
    return summarize(result, str(out))


def write_directory(out: Path, files: dict[str, bytes]) -> None:
    out = out.absolute()
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / INVENTORY_FILE).is_file())
    ):
        raise GitkubeError(
            "output directory exists and was not written by gitkube render; "
            "choose an empty or new directory",
            file=str(out),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.rendering-"))
    try:
        for directory in sorted({os.path.dirname(path) for path in files}):
            os.makedirs(os.path.join(staging, directory), exist_ok=True)
        for path, data in files.items():
            with open(os.path.join(staging, path), "wb") as handle:
                handle.write(data)
        os.chmod(staging, 0o755)
        if out.exists():
            retired = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, retired / "tree")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
