"""Which directories are apps, which source builds each, and what each reads.

A plain app is a directory of manifests. A kustomize app (a directory with a
``kustomization.yaml``) and a helm app (``app.yaml`` ``source: {helm: ...}``,
or a directory with a ``Chart.yaml``) read more than their own YAML: bases and
components elsewhere in the repo, chart templates, values files. This module
works that out from the tree before anything renders, so that

* a kustomize base, a component and a chart's insides are inputs of the apps
  that use them, not apps of their own;
* a remote base or a chart from the network is refused before any tool runs
  (rendering reads the repo alone: offline and reproducible);
* the render cache keys a tool-built app by every file it may read
  (:attr:`SourceApp.inputs`) and by the tools on PATH (:func:`tool_stamp`).

It also holds what the ``gitkube_source`` hook receives
(:class:`TreeAppSource`) and the private checkout tools read from.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.domain.resources import App
from gitkube.domain.sources import HELM, KUSTOMIZE, PLAIN, SOURCE_KEY, SourceObject
from gitkube.primitives.errors import GitkubeError, printable
from gitkube.primitives.filetree import FileTree, file_stamps
from gitkube.primitives.yamlio import load_documents
from gitkube.render.manifests import check_shape, expand_documents

APP_FILE = "app.yaml"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
# Every file source_layout may read.
LAYOUT_FILES = frozenset((APP_FILE, *KUSTOMIZATION_FILES))
# Kustomization fields naming other kustomizations or resource files.
_REFERENCE_FIELDS = ("resources", "bases", "components")
# Fields that make kustomize fetch or run things: refused, with the way out.
_REFUSED_FIELDS = {
    "helmCharts": "use app.yaml source: {helm: ...} with the chart in the repo",
    "helmChartInflationGenerator": "use app.yaml source: {helm: ...} with the chart in the repo",
    "helmGlobals": "use app.yaml source: {helm: ...} with the chart in the repo",
}
# How a reference that is no repo path looks when it is a URL (kustomize's
# remote targets: scheme://, git@host:, git::, host/org/repo, ?ref=).
_REMOTE = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|git::|(github|gitlab|bitbucket)\.(com|org)/)|[?&](ref|version)=",
    re.IGNORECASE,
)
# The tools a tool-built app's output depends on (their stamp keys the cache).
SOURCE_TOOLS = ("kustomize", "kubectl", "helm")

YamlReader = Callable[[str], list[Any]]


@dataclass
class SourceApp:
    """A tool-built app: its source, its ``source`` options, every file it reads."""

    kind: str
    options: dict[str, Any]
    inputs: list[str] = field(default_factory=list)


@dataclass
class SourceLayout:
    """What :func:`source_layout` found: tool-built apps and the directories
    that are their inputs rather than apps."""

    apps: dict[str, SourceApp] = field(default_factory=dict)
    not_apps: set[str] = field(default_factory=set)

    def kind_of(self, directory: str) -> str:
        found = self.apps.get(directory)
        return found.kind if found else PLAIN


def source_layout(paths: Iterable[str], read_yaml: YamlReader) -> SourceLayout:
    """Find the tool-built apps of a tree and the files each reads.

    ``read_yaml(path)`` parses one repo file (raising a :class:`GitkubeError`
    naming it). Raises for a remote base or chart, a reference outside the
    repo, and a ``source`` naming a chart or values file that is not there.
    """
    files = sorted(paths)
    present = set(files)
    directories = {posixpath.dirname(p) for p in files}
    layout = SourceLayout()
    chart_dirs = {posixpath.dirname(p) for p in files if posixpath.basename(p) == CHART_FILE}
    top_charts = {c for c in chart_dirs if not any(_under(c, o) for o in chart_dirs if o != c)}
    kustomizations = {
        posixpath.dirname(p): p for p in files if posixpath.basename(p) in KUSTOMIZATION_FILES
    }
    declared = _declared_sources(files, read_yaml)
    walker = _KustomizeWalker(files, present, directories, kustomizations, read_yaml)
    referenced: set[str] = set()
    for directory in sorted(kustomizations):
        if not any(_under(directory, c) for c in top_charts):
            referenced |= walker.walk(directory)[0] - {directory}
    for chart in top_charts:
        layout.not_apps |= {d for d in directories if _under(d, chart) and d != chart}
    has_app_file = {d for d in directories if f"{d}/{APP_FILE}" in present}

    for directory in sorted(directories):
        if not directory or directory in layout.not_apps:
            continue
        source = declared.get(directory)
        if source is None and directory in referenced and directory not in has_app_file:
            continue
        kind, options = _kind(directory, source, kustomizations, top_charts)
        if kind == KUSTOMIZE:
            if directory not in kustomizations:
                raise GitkubeError(
                    "source: kustomize, but the directory has no kustomization.yaml",
                    file=f"{directory}/{APP_FILE}",
                )
            dirs, refs = walker.walk(directory)
            inputs = {p for d in dirs for p in walker.files_under(d)} | refs
            layout.apps[directory] = SourceApp(kind, options, sorted(inputs))
        elif kind == HELM:
            chart, values = _helm_paths(directory, options, present, directories, has_app_file)
            if chart in directories:
                layout.not_apps |= {d for d in directories if _under(d, chart) and d != directory}
                inputs = set(walker.files_under(chart))
            else:
                inputs = {chart}
            inputs |= set(values) | set(walker.own_files(directory))
            layout.apps[directory] = SourceApp(kind, options, sorted(inputs))
        elif kind != PLAIN:
            # A third-party source: the app directory (and below) is its input.
            layout.apps[directory] = SourceApp(kind, options, sorted(walker.files_under(directory)))
    for directory in referenced:
        if directory not in layout.apps:
            layout.not_apps.add(directory)
    return layout


def may_declare_source(data: bytes) -> bool:
    """Whether an app.yaml's bytes could hold a ``source`` key at all.

    An incremental render reads every app.yaml to find the tool-built apps;
    parsing 10,000 of them costs more than the rest of the work. A key is
    ``source`` only when its text shows, except through an escape (``\\``),
    a tag (``!!binary``, ``!``) or a UTF-16 encoding: those files are parsed.
    """
    return (
        SOURCE_KEY.encode() in data
        or b"\\" in data
        or b"!" in data
        or data.startswith((b"\xff\xfe", b"\xfe\xff"))
    )


def tool_stamp() -> list[Any]:
    """Where the source tools on PATH are, with their size and mtime: a new
    kustomize or helm changes the cache key of every tool-built app."""
    found = [shutil.which(tool) or f"missing:{tool}" for tool in SOURCE_TOOLS]
    return file_stamps(found)


def _under(directory: str, parent: str) -> bool:
    return directory == parent or parent == "" or directory.startswith(parent + "/")


def _declared_sources(files: list[str], read_yaml: YamlReader) -> dict[str, Any]:
    """app.yaml ``source`` of each directory that sets one (errors are the pipeline's)."""
    found: dict[str, Any] = {}
    for path in files:
        if posixpath.basename(path) != APP_FILE:
            continue
        try:
            docs = read_yaml(path)
        except GitkubeError:
            continue  # reported by the pipeline, which reads every app.yaml
        if len(docs) == 1 and isinstance(docs[0], dict) and SOURCE_KEY in docs[0]:
            found[posixpath.dirname(path)] = docs[0][SOURCE_KEY]
    return found


def _kind(
    directory: str, source: Any, kustomizations: Mapping[str, str], charts: set[str]
) -> tuple[str, dict[str, Any]]:
    if isinstance(source, str):
        return source, {}
    if isinstance(source, dict) and len(source) == 1:
        ((kind, options),) = source.items()
        return str(kind), dict(options) if isinstance(options, dict) else {}
    if source is not None:
        return PLAIN, {}  # a malformed setting: the schema check reports it
    if directory in kustomizations:
        return KUSTOMIZE, {}
    if directory in charts:
        return HELM, {"chart": "."}
    return PLAIN, {}


def _resolve(base: str, entry: str) -> str | None:
    """``entry`` relative to ``base`` as a repo path, or None when it leaves the repo."""
    if entry.startswith("/"):
        return None
    path = posixpath.normpath(posixpath.join(base, entry)) if base else posixpath.normpath(entry)
    if path == ".." or path.startswith("../"):
        return None
    return "" if path == "." else path


def _helm_paths(
    directory: str,
    options: Mapping[str, Any],
    present: set[str],
    directories: set[str],
    has_app_file: set[str],
) -> tuple[str, list[str]]:
    """The chart (a directory or a ``.tgz``) and values files of a helm app, checked."""
    where = f"{directory}/{APP_FILE}" if directory in has_app_file else f"{directory}/{CHART_FILE}"
    chart_entry = options.get("chart")
    if not isinstance(chart_entry, str) or not chart_entry:
        raise GitkubeError("source.helm.chart: name the chart's path in the repo", file=where)
    if _REMOTE.search(chart_entry) or chart_entry.startswith("oci:"):
        raise GitkubeError(
            f'source.helm.chart "{printable(chart_entry)}" is a chart from the network; '
            "gitkube renders offline from the repo alone: vendor the chart into the repo "
            "(a directory or a .tgz)",
            file=where,
        )
    chart = _resolve(directory, chart_entry)
    if chart is None:
        raise GitkubeError(
            f'source.helm.chart "{printable(chart_entry)}" points outside the repo', file=where
        )
    if not (f"{chart}/{CHART_FILE}" in present or (chart.endswith(".tgz") and chart in present)):
        raise GitkubeError(
            f'source.helm.chart "{printable(chart_entry)}" is neither a chart directory '
            f"(with {CHART_FILE}) nor a .tgz in the repo; charts from the network are refused",
            file=where,
        )
    values: list[str] = []
    for entry in options.get("values") or ():
        path = _resolve(directory, entry) if isinstance(entry, str) else None
        if path is None or path not in present:
            raise GitkubeError(
                f'source.helm.values: "{printable(str(entry))}" is not a file in the repo',
                file=where,
            )
        values.append(path)
    return chart, values


class _KustomizeWalker:
    """Follows ``resources``/``bases``/``components`` through the repo."""

    def __init__(
        self,
        files: list[str],
        present: set[str],
        directories: set[str],
        kustomizations: Mapping[str, str],
        read_yaml: YamlReader,
    ) -> None:
        self.files, self.present, self.directories = files, present, directories
        self.kustomizations, self.read_yaml = kustomizations, read_yaml
        self._walked: dict[str, tuple[set[str], set[str]]] = {}
        self._by_directory: dict[str, list[str]] = {}
        for path in files:
            self._by_directory.setdefault(posixpath.dirname(path), []).append(path)

    def own_files(self, directory: str) -> list[str]:
        return self._by_directory.get(directory, [])

    def files_under(self, directory: str) -> list[str]:
        return [p for d, fs in self._by_directory.items() if _under(d, directory) for p in fs]

    def walk(self, root: str) -> tuple[set[str], set[str]]:
        """(kustomization directories reachable from ``root``, files referenced)."""
        if root in self._walked:
            return self._walked[root]
        dirs: set[str] = set()
        refs: set[str] = set()
        pending = [root]
        while pending:
            directory = pending.pop()
            if directory in dirs:
                continue
            dirs.add(directory)
            for target in self._references(directory):
                if target in self.present:
                    refs.add(target)
                else:
                    pending.append(target)
        self._walked[root] = (dirs, refs)
        return dirs, refs

    def _references(self, directory: str) -> list[str]:
        path = self.kustomizations[directory]
        docs = self.read_yaml(path)
        kustomization = docs[0] if len(docs) == 1 else None
        if not isinstance(kustomization, dict):
            raise GitkubeError("a kustomization must be one YAML mapping", file=path)
        for key, advice in _REFUSED_FIELDS.items():
            if key in kustomization:
                raise GitkubeError(
                    f"{key} makes kustomize fetch charts from the network; {advice}", file=path
                )
        found: list[str] = []
        for key in _REFERENCE_FIELDS:
            entries = kustomization.get(key) or []
            if not isinstance(entries, list):
                raise GitkubeError(f"{key} must be a list of paths", file=path)
            for entry in entries:
                found.append(self._target(path, directory, key, entry))
        return found

    def _target(self, path: str, directory: str, key: str, entry: Any) -> str:
        if not isinstance(entry, str) or not entry:
            raise GitkubeError(f"{key}: every entry must be a path", file=path)
        shown = printable(entry)
        if _REMOTE.search(entry):
            raise GitkubeError(
                f'{key} entry "{shown}" is a remote base; gitkube renders offline from the '
                "repo alone: vendor it into the repo and name its path",
                file=path,
            )
        target = _resolve(directory, entry)
        if target is None:
            raise GitkubeError(f'{key} entry "{shown}" points outside the repo', file=path)
        if target in self.present:
            return target
        if target in self.kustomizations:
            return target
        if target in self.directories or any(d.startswith(target + "/") for d in self.directories):
            raise GitkubeError(
                f'{key} entry "{shown}" is a directory without a kustomization.yaml', file=path
            )
        raise GitkubeError(
            f'{key} entry "{shown}" is not in the repo (remote bases are refused: '
            "gitkube renders offline from the repo alone)",
            file=path,
        )


class Checkout:
    """The tree's files written to a private temporary directory, once, when a
    tool first needs them. Regular files only: a symlink in the tree was
    resolved inside the repo when read, so no tool can follow one out."""

    def __init__(self, tree: FileTree, read: Callable[[str], bytes]) -> None:
        self.tree, self.read = tree, read
        self._root: Path | None = None

    def path(self) -> Path:
        if self._root is None:
            root = Path(tempfile.mkdtemp(prefix="gitkube-source-"))
            try:
                for name in self.tree.files():
                    target = root / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(self.read(name))
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            self._root = root
        return self._root

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Checkout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TreeAppSource:
    """:class:`gitkube.domain.sources.AppSource` for one app of a render."""

    def __init__(
        self,
        app: App,
        kind: str,
        options: Mapping[str, Any],
        inputs: list[str],
        parsed: Mapping[str, list[Any]],
        checkout: Checkout,
    ) -> None:
        self.app = app
        self.kind = kind
        self.options = options
        self.directory = app.path
        self.inputs = inputs
        self._parsed = parsed
        self._checkout = checkout
        self._manifests: list[SourceObject] | None = None

    def manifests(self) -> list[SourceObject]:
        if self._manifests is None:
            self._manifests = [
                SourceObject(doc, file, item, checked=True)
                for file in self.app.manifest_files
                for doc, item in expand_documents(self._parsed[file], file)
            ]
        return list(self._manifests)

    def checkout(self) -> Path:
        return self._checkout.path()

    def objects_from_yaml(self, text: str, file: str) -> list[SourceObject]:
        docs = load_documents(text, file)
        found: list[SourceObject] = []
        for index, doc in enumerate(docs, start=1):
            if isinstance(doc, dict) and doc.get("kind") == "List":
                found.extend(
                    SourceObject(item, file, where, checked=True)
                    for item, where in expand_documents([doc], file)
                )
                continue
            check_shape(doc, file, f"document {index} of its output", self.app.path)
            found.append(SourceObject(doc, file, f"document {index} of its output", checked=True))
        return found

    def record_tool(self, tool: str) -> None:
        self.app.rendered_with = tool
