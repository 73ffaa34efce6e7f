"""``gitkube promote APP --from staging --to prod``: copy an app's per-cluster values.

The values are what ``<app>/clusters/<from>/app.yaml`` sets (image tags,
replicas, addresses...). They are written into ``<app>/clusters/<to>/app.yaml``
in the work tree with ruamel.yaml's round trip, so the comments, key order
and quoting of everything else in that file stay byte for byte; ``images``
entries are matched by ``name`` and only their ``newName``/``newTag``/
``digest`` change. The user reviews the edit (``git diff``, ``gitkube diff``)
and commits it; nothing is rendered or committed here.

A file whose unchanged round trip would not give back its own bytes (an
indentation ruamel cannot reproduce) is refused rather than reformatted.
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitkube.domain.clusters import CLUSTERS_KEY, CONFIG_FILE, OVERLAY_DIRECTORY, multi_cluster
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.yamlio import load_one

APP_FILE = "app.yaml"
IMAGE_FIELDS = ("newName", "newTag", "digest")


@dataclass
class Promotion:
    """What ``promote`` changed (or would have: ``changed`` False when already equal)."""

    app: str
    source: str
    target: str
    file: str
    changed: bool
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "from": self.source,
            "to": self.target,
            "file": self.file,
            "changed": self.changed,
            "keys": self.keys,
        }


def promote(repo: Path, app: str, source: str, target: str) -> Promotion:
    """Copy ``app``'s values of cluster ``source`` to cluster ``target`` in the work tree."""
    app = app.strip("/")
    clusters = _cluster_names(repo)
    for name in (source, target):
        if name not in clusters:
            raise GitkubeError(
                f'no cluster "{name}" in {CONFIG_FILE} (clusters: {", ".join(clusters)})',
                file=CONFIG_FILE,
            )
    if source == target:
        raise GitkubeError(f"--from and --to are both {source}")
    if not (repo / app).is_dir():
        raise GitkubeError(f'no app "{app}" in the repo', file=app)
    from_file = f"{app}/{OVERLAY_DIRECTORY}/{source}/{APP_FILE}"
    to_file = f"{app}/{OVERLAY_DIRECTORY}/{target}/{APP_FILE}"
    if not (repo / from_file).is_file():
        raise GitkubeError(f"app {app} has no values for cluster {source}", file=from_file)
    _check_runs_on(repo, app, target)
    yaml = _round_trip()
    source_text = (repo / from_file).read_text()
    values = _load(yaml, source_text, from_file)
    if not values:
        raise GitkubeError(f"app {app} has no values for cluster {source}", file=from_file)
    target_path = repo / to_file
    if not target_path.is_file():
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_text(source_text)
        return Promotion(app, source, target, to_file, True, [str(k) for k in values])
    before = target_path.read_text()
    yaml = _round_trip(before)
    document = _load(yaml, before, to_file)
    if _dump(yaml, document) != before:
        raise GitkubeError(
            "cannot edit this file without reformatting it (its indentation is not "
            "one ruamel.yaml writes back); copy the values by hand",
            file=to_file,
        )
    if document is None:
        document = yaml.load("{}\n")
    changed_keys = [str(key) for key, value in values.items() if _copy(document, key, value)]
    after = _dump(yaml, document)
    if after != before:
        target_path.write_text(after)
    return Promotion(app, source, target, to_file, after != before, changed_keys)


def _cluster_names(repo: Path) -> list[str]:
    path = repo / CONFIG_FILE
    raw = load_one(path.read_bytes(), CONFIG_FILE) if path.is_file() else None
    if not multi_cluster(raw):
        raise GitkubeError(
            "promote needs clusters: in gitkube.yaml (this repo has one cluster)", file=CONFIG_FILE
        )
    assert isinstance(raw, dict)
    return list(raw[CLUSTERS_KEY])


def _check_runs_on(repo: Path, app: str, target: str) -> None:
    """The app must run on ``target``: values for a cluster it skips would be an error."""
    import fnmatch

    settings_file = repo / app / APP_FILE
    if not settings_file.is_file():
        return
    settings = load_one(settings_file.read_bytes(), f"{app}/{APP_FILE}")
    patterns = settings.get(CLUSTERS_KEY) if isinstance(settings, dict) else None
    if patterns is not None and not any(fnmatch.fnmatch(target, p) for p in patterns):
        raise GitkubeError(
            f"app {app} does not run on cluster {target} (clusters: {', '.join(patterns)})",
            file=f"{app}/{APP_FILE}",
        )


def _round_trip(text: str = "") -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the author wrote on one
    sequence, offset = _sequence_indent(text)
    yaml.indent(mapping=2, sequence=sequence, offset=offset)
    return yaml


def _sequence_indent(text: str) -> tuple[int, int]:
    """(sequence, offset) of the file's block lists: ``- `` under its key or indented."""
    lines = text.splitlines()
    for before, line in itertools.pairwise(lines):
        key = re.match(r"^(\s*)[^\s#-][^#]*:\s*$", before)
        dash = re.match(r"^(\s*)- ", line)
        if key and dash:
            return (4, 2) if len(dash.group(1)) > len(key.group(1)) else (2, 0)
    return 2, 0


def _load(yaml: YAML, text: str, file: str) -> Any:
    try:
        value = yaml.load(text)
    except YAMLError as exc:
        raise GitkubeError(" ".join(str(exc).split()), file=file) from None
    if value is not None and not isinstance(value, dict):
        raise GitkubeError("app.yaml must be a mapping of settings", file=file)
    return value


def _dump(yaml: YAML, document: Any) -> str:
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _copy(document: Any, key: Any, value: Any) -> bool:
    """Set ``document[key]`` from the source cluster's value; whether anything changed."""
    if key == "images" and isinstance(value, list) and isinstance(document.get(key), list):
        return _copy_images(document[key], value)
    if document.get(key) == value:
        return False
    document[key] = value
    return True


def _copy_images(target: list[Any], source: list[Any]) -> bool:
    """Each image's tag, name and digest, matched by ``name``; other entries untouched."""
    changed = False
    for entry in source:
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        match = next(
            (t for t in target if isinstance(t, dict) and t.get("name") == entry["name"]), None
        )
        if match is None:
            target.append(entry)
            changed = True
            continue
        for name in IMAGE_FIELDS:
            if name in entry and match.get(name) != entry[name]:
                match[name] = entry[name]
                changed = True
            elif name not in entry and name in match:
                del match[name]
                changed = True
    return changed
