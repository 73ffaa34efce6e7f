"""``gitkube set image APP NAME=REF`` and ``gitkube set APP KEY=VALUE``: edit the source repo.

What a CI pipeline runs after building an image (as ``kustomize edit set
image`` is for kustomize). Files are read with ruamel.yaml's round-trip
loader only to *find* the value; the change itself is a splice of that one
scalar in the original text, in the quoting style it had. So comments, key
order, quoting, anchors and blank lines elsewhere stay byte-identical. Only
a key or entry that does not exist yet is added through ruamel's emitter.

Where ``set image`` writes, in order:

1. a kustomize app: its kustomization's ``images`` (kustomize's own field);
2. an ``images`` entry of ``app.yaml`` for NAME;
3. the ``image`` of every container in the app's manifests whose image name is NAME;
4. else a new ``images`` entry in ``app.yaml`` (the image plugin applies it,
   to plain, kustomize and helm output alike).
"""

from __future__ import annotations

import io
import posixpath
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gitkube.domain.config import schema_error_message
from gitkube.domain.plugin_manager import build_plugin_manager
from gitkube.domain.resources import POD_TEMPLATE_PATHS
from gitkube.domain.schema import first_error
from gitkube.primitives.errors import GitkubeError, printable
from gitkube.primitives.filetree import DirectoryTree
from gitkube.render.pipeline import APP_FILE, CORE_APP_KEYS, YAML_SUFFIXES, read_config
from gitkube.render.sources import KUSTOMIZATION_FILES

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$")  # an image name (registry port allowed)


@dataclass
class Edit:
    """What one ``set`` changed: the files and a line per change."""

    app: str
    files: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    commit: str | None = None


# -- the image reference ----------------------------------------------------------


def split_reference(name: str, ref: str) -> tuple[str | None, str | None, str | None]:
    """(newName, newTag, digest) for ``NAME=REF``: a tag, a digest or a full reference."""
    if not _NAME.fullmatch(name):
        raise GitkubeError(f'"{printable(name)}" is not an image name')
    if _DIGEST.fullmatch(ref):
        return None, None, ref
    if ref.startswith("sha256:"):
        raise GitkubeError(f'"{printable(ref)}": a digest is sha256:<64 hex digits>')
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", ref):
        return None, ref, None
    base, _, digest = ref.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise GitkubeError(f'"{printable(ref)}": a digest is sha256:<64 hex digits>')
    slash, colon = base.rfind("/"), base.rfind(":")
    new_name, tag = (base[:colon], base[colon + 1 :]) if colon > slash else (base, None)
    if not _NAME.fullmatch(new_name) or (
        tag is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
    ):
        raise GitkubeError(
            f'"{printable(ref)}" is neither a tag, a sha256 digest nor an image reference'
        )
    return (new_name if new_name != name else None), tag, digest or None


def _image_name(image: str) -> str:
    base = image.partition("@")[0]
    slash, colon = base.rfind("/"), base.rfind(":")
    return base[:colon] if colon > slash else base


# -- the splice ----------------------------------------------------------------------


class YamlFile:
    """One file's text and its round-trip parse, edited by splices."""

    def __init__(self, root: Path, path: str) -> None:
        self.root, self.path = root, path
        try:
            self.text = (root / path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise GitkubeError(f"cannot read: {exc}", file=path) from None
        self.changed = False
        self._reload()

    def _reload(self) -> None:
        loader = YAML()
        loader.preserve_quotes = True
        try:
            self.docs = list(loader.load_all(self.text))
        except YAMLError as exc:
            raise GitkubeError(f"not YAML: {' '.join(str(exc).split())}", file=self.path) from None

    def _offset(self, line: int, column: int) -> int:
        lines = self.text.splitlines(keepends=True)
        return sum(len(text) for text in lines[:line]) + column

    def set_scalar(self, mapping: CommentedMap, key: str, value: Any) -> None:
        """Replace the scalar at ``mapping[key]`` in the text, keeping its quoting."""
        owner = _owner_of(mapping, key)
        line, column = owner.lc.value(key)
        start = self._offset(line, column)
        start = self._skip_properties(start)
        if self.text.startswith("*", start):  # an alias: the value is where its anchor is
            name = re.match(r"\*([^\s,\]}]+)", self.text[start:])
            anchor = re.search(rf"&{re.escape(name.group(1))}[ \t]+", self.text) if name else None
            if anchor is None:
                raise GitkubeError(f"{key}: cannot find the anchor of its alias", file=self.path)
            start = self._skip_properties(anchor.start())
        end = self._scalar_end(start, key)
        old = self.text[start:end]
        new = _format_like(old, value)
        if new != old:
            self.text = self.text[:start] + new + self.text[end:]
            self.changed = True
            self._reload()

    def _skip_properties(self, at: int) -> int:
        """Past an anchor (``&a``) and a tag (``!!str``) before a value."""
        while True:
            found = re.match(r"(&[^\s,\]}]+|![^\s,\]}]*)[ \t]+", self.text[at:])
            if not found:
                return at
            at += found.end()

    def _scalar_end(self, start: int, key: str) -> int:
        text = self.text
        quote = text[start : start + 1]
        if quote in ("'", '"'):
            at = start + 1
            while at < len(text):
                if quote == "'" and text.startswith("''", at):
                    at += 2
                    continue
                if quote == '"' and text[at] == "\\":
                    at += 2
                    continue
                if text[at] == quote:
                    return at + 1
                if text[at] == "\n":
                    break
                at += 1
            raise GitkubeError(f"{key}: a quoted value over several lines", file=self.path)
        if quote in ("|", ">", "[", "{", ""):
            raise GitkubeError(f"{key}: not a one-line value; edit it by hand", file=self.path)
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        segment = text[start:line_end]
        stop = len(segment)
        for pattern in (" #", "\t#", ",", "]", "}"):
            found = segment.find(pattern)
            if found >= 0 and (pattern in (" #", "\t#") or self._in_flow(start)):
                stop = min(stop, found)
        return start + len(segment[:stop].rstrip())

    def _in_flow(self, at: int) -> bool:
        line_start = self.text.rfind("\n", 0, at) + 1
        return "{" in self.text[line_start:at] or "[" in self.text[line_start:at]

    def dump(self) -> None:
        """Re-emit the documents through ruamel (only when a key or entry was added)."""
        out = io.StringIO()
        dumper = YAML()
        dumper.preserve_quotes = True
        dumper.width = 4096
        mapping, sequence, offset = _indentation(self.text)
        dumper.indent(mapping=mapping, sequence=sequence, offset=offset)
        dumper.dump_all(self.docs, out)
        self.text = out.getvalue()
        self.changed = True
        self._reload()

    def save(self) -> None:
        # the result must still be YAML kubectl reads, or nothing is written
        try:
            list(yaml.safe_load_all(self.text))
        except yaml.YAMLError as exc:
            raise GitkubeError(f"the edit would not parse: {exc}", file=self.path) from None
        (self.root / self.path).write_text(self.text)


def _owner_of(mapping: CommentedMap, key: str) -> CommentedMap:
    """The mapping that holds ``key`` as written: itself, or one merged in with ``<<``."""
    if key in mapping.lc.data:
        return mapping
    for item in getattr(mapping, "merge", []) or []:
        merged = item[1] if isinstance(item, tuple) else item  # (position, map) in older ruamel
        if isinstance(merged, CommentedMap) and key in merged:
            return _owner_of(merged, key)
    raise GitkubeError(f"{key} is not in the mapping")


def _indentation(text: str) -> tuple[int, int, int]:
    """ruamel's (mapping, sequence, offset) indentation as the file writes it."""
    mapping = 2
    found = re.search(r"^([ ]+)\S", text, re.MULTILINE)
    if found:
        mapping = len(found.group(1))
    dash = re.search(r"^( *)(\S[^\n]*:)\n( *)- ", text, re.MULTILINE)
    if dash:
        offset = len(dash.group(3)) - len(dash.group(1))
        return mapping, offset + 2, offset
    return mapping, mapping, 0


def _format_like(old: str, value: Any) -> str:
    """``value`` written in the style of ``old`` (single, double or no quotes)."""
    text = value if isinstance(value, str) else yaml.safe_dump(value).strip().removesuffix("...")
    text = text.strip() if not isinstance(value, str) else text
    if old.startswith("'") and isinstance(value, str):
        return "'" + text.replace("'", "''") + "'"
    if old.startswith('"') and isinstance(value, str):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, str):
        try:
            plain_reads_back = yaml.safe_load(text) == value and "\n" not in text
        except yaml.YAMLError:
            plain_reads_back = False
        if not plain_reads_back:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


# -- the app -------------------------------------------------------------------------


def _app_directory(repo: Path, app: str) -> str:
    directory = posixpath.normpath(app.strip("/"))
    if directory.startswith("..") or directory.startswith("/") or directory == ".":
        raise GitkubeError(f'"{printable(app)}" is not an app directory of the repo')
    if not (repo / directory).is_dir():
        raise GitkubeError("no such app directory", file=directory)
    DirectoryTree(repo / directory).files()  # refuses symlinks out of the repo
    return directory


def _kustomization(repo: Path, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        if (repo / directory / name).is_file():
            return f"{directory}/{name}"
    return None


def _top_mapping(doc_file: YamlFile) -> CommentedMap:
    if not doc_file.docs:
        doc_file.docs = [CommentedMap()]
    if len(doc_file.docs) != 1 or not isinstance(doc_file.docs[0], CommentedMap):
        raise GitkubeError("expected one YAML mapping", file=doc_file.path)
    return doc_file.docs[0]


def _set_images_entry(
    doc_file: YamlFile, name: str, new_name: str | None, tag: str | None, digest: str | None
) -> bool:
    """Update or add NAME's entry of an ``images`` list; whether it existed."""
    top = _top_mapping(doc_file)
    images = top.get("images")
    if images is not None and not isinstance(images, CommentedSeq):
        raise GitkubeError("images must be a list", file=doc_file.path)
    wanted = {"newName": new_name, "newTag": tag, "digest": digest}
    for entry in images or []:
        if isinstance(entry, CommentedMap) and entry.get("name") == name:
            for key, value in wanted.items():
                current = _entry_named(doc_file, name)
                if value is not None and key in current:
                    doc_file.set_scalar(current, key, value)
            # keys to add or drop (a tag replaces a digest and the other way round)
            top = _top_mapping(doc_file)
            entry = next(e for e in top["images"] if e.get("name") == name)
            structural = False
            for key, value in wanted.items():
                if value is not None and key not in entry:
                    entry[key] = value
                    structural = True
            for key in ("newTag", "digest"):
                if wanted[key] is None and key in entry and (tag or digest):
                    del entry[key]
                    structural = True
            if structural:
                doc_file.dump()
            return True
    entry = CommentedMap([("name", name)])
    for key, value in wanted.items():
        if value is not None:
            entry[key] = value
    if images is None:
        top["images"] = CommentedSeq([entry])
    else:
        images.append(entry)
    doc_file.dump()
    return False


def _entry_named(doc_file: YamlFile, name: str) -> CommentedMap:
    """NAME's ``images`` entry in the file as parsed now (after any splice)."""
    images = _top_mapping(doc_file).get("images") or []
    return next(e for e in images if isinstance(e, CommentedMap) and e.get("name") == name)


def _containers(doc: Any) -> Iterator[CommentedMap]:
    if not isinstance(doc, CommentedMap):
        return
    if doc.get("kind") == "List":
        for item in doc.get("items") or []:
            yield from _containers(item)
        return
    kind = doc.get("kind")
    templates = [()] if kind == "Pod" else POD_TEMPLATE_PATHS.get(str(kind), ())
    for template in templates:
        node: Any = doc
        for key in (*template, "spec"):
            node = node.get(key) if isinstance(node, CommentedMap) else None
        if not isinstance(node, CommentedMap):
            continue
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for container in node.get(key) or []:
                if isinstance(container, CommentedMap) and isinstance(container.get("image"), str):
                    yield container


def set_image(repo: Path, app: str, assignment: str, *, commit: bool = False) -> Edit:
    """``gitkube set image APP NAME=REF``; see the module docstring for where it writes."""
    name, sep, ref = assignment.partition("=")
    if not sep or not name or not ref:
        raise GitkubeError(f'"{printable(assignment)}": give NAME=REF (a tag, digest or image)')
    new_name, tag, digest = split_reference(name, ref)
    directory = _app_directory(repo, app)
    edit = Edit(directory)
    kustomization = _kustomization(repo, directory)
    settings_path = f"{directory}/{APP_FILE}"
    if kustomization is not None:
        doc_file = YamlFile(repo, kustomization)
        _set_images_entry(doc_file, name, new_name, tag, digest)
        _finish(edit, doc_file, f"images[{name}] = {ref}")
    elif (repo / settings_path).is_file() and _has_images_entry(
        YamlFile(repo, settings_path), name
    ):
        doc_file = YamlFile(repo, settings_path)
        _set_images_entry(doc_file, name, new_name, tag, digest)
        _finish(edit, doc_file, f"images[{name}] = {ref}")
    else:
        for path in sorted((repo / directory).iterdir()):
            relative = f"{directory}/{path.name}"
            if not path.name.endswith(YAML_SUFFIXES) or path.name == APP_FILE:
                continue
            doc_file = YamlFile(repo, relative)
            for doc in list(doc_file.docs):
                for container in _containers(doc):
                    if _image_name(container["image"]) == name:
                        image = (new_name or name) + (f":{tag}" if tag else "")
                        image += f"@{digest}" if digest else ""
                        doc_file.set_scalar(container, "image", image)
            if doc_file.changed:
                _finish(edit, doc_file, f"image {name} = {ref}")
        if not edit.files:
            if not (repo / settings_path).is_file():
                (repo / settings_path).write_text("")
            doc_file = YamlFile(repo, settings_path)
            _set_images_entry(doc_file, name, new_name, tag, digest)
            _finish(edit, doc_file, f"images[{name}] = {ref}")
    if commit:
        edit.commit = _commit(repo, edit, f"chore({directory}): set image {name} to {ref}")
    return edit


def _has_images_entry(doc_file: YamlFile, name: str) -> bool:
    top = _top_mapping(doc_file)
    return any(isinstance(e, dict) and e.get("name") == name for e in top.get("images") or [])


def _finish(edit: Edit, doc_file: YamlFile, change: str) -> None:
    doc_file.save()
    edit.files.append(doc_file.path)
    edit.changes.append(f"{doc_file.path}: {change}")


def set_value(repo: Path, app: str, assignment: str, *, commit: bool = False) -> Edit:
    """``gitkube set APP KEY=VALUE``: one app.yaml value (dotted KEY reaches into
    mappings, a number into lists), checked against the key's schema first."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise GitkubeError(f'"{printable(assignment)}": give KEY=VALUE')
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    directory = _app_directory(repo, app)
    settings_path = f"{directory}/{APP_FILE}"
    if not (repo / settings_path).is_file():
        (repo / settings_path).write_text("")
    doc_file = YamlFile(repo, settings_path)
    top = _top_mapping(doc_file)
    parts = key.split(".")
    node: Any = top
    for part in parts[:-1]:
        child = node[int(part)] if isinstance(node, CommentedSeq) and part.isdigit() else None
        if isinstance(node, CommentedMap):
            child = node.get(part)
            if child is None:
                child = node[part] = CommentedMap()
        if not isinstance(child, CommentedMap | CommentedSeq):
            raise GitkubeError(f"{key}: {part} is not a mapping or list", file=settings_path)
        node = child
    last = parts[-1]
    _check_value(repo, top, parts, value, settings_path)
    if isinstance(node, CommentedMap) and last in node and not isinstance(node[last], dict | list):
        doc_file.set_scalar(node, last, value)
    elif isinstance(node, CommentedSeq) and last.isdigit():
        raise GitkubeError(f"{key}: set list items through their fields", file=settings_path)
    else:
        node[last] = value
        doc_file.dump()
    edit = Edit(directory)
    _finish(edit, doc_file, f"{key} = {raw}")
    if commit:
        edit.commit = _commit(repo, edit, f"chore({directory}): set {key} to {raw}")
    return edit


def _check_value(repo: Path, top: CommentedMap, parts: list[str], value: Any, file: str) -> None:
    """The top-level key's new value must match its schema: nothing is written otherwise."""
    config_file = repo / "gitkube.yaml"
    config = read_config(config_file.read_bytes() if config_file.is_file() else None)
    hooks = build_plugin_manager(config.disabled_plugins)
    schemas: dict[str, Mapping[str, Any]] = dict(CORE_APP_KEYS)
    schemas.update({k: s for k, (_plugin, s) in hooks.app_keys().items()})
    if parts[0] not in schemas:
        raise GitkubeError(
            f'unknown key "{parts[0]}"; known keys: {", ".join(sorted(schemas))}', file=file
        )
    current = _plain(top.get(parts[0]))
    if len(parts) == 1:
        current = value
    else:
        current = current if isinstance(current, dict | list) else {}
        node = current
        for part in parts[1:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
    error = first_error(schemas[parts[0]], current)
    if error is not None:
        raise GitkubeError(f"{parts[0]}: {schema_error_message(error)}", file=file)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _commit(repo: Path, edit: Edit, message: str) -> str:
    """Commit exactly the edited files (other staged changes stay staged)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        if done.returncode != 0:
            raise GitkubeError(f"git {args[0]} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    git("add", "--", *edit.files)
    git("commit", "-q", "-m", message, "--", *edit.files)
    return git("rev-parse", "HEAD")
