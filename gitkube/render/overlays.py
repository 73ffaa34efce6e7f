"""Each cluster's view of a multi-cluster repo: the single-cluster repo it renders as.

For every cluster of ``clusters:`` (see :mod:`gitkube.domain.clusters`) the
source tree is seen as a single-``cluster:`` repo would be written for it,
and the unchanged single-cluster renderer renders that view:

- ``gitkube.yaml`` holds that cluster alone (:func:`cluster_settings`);
- apps whose ``app.yaml`` ``clusters:`` does not take the cluster are left out;
- ``<app>/clusters/<cluster>/app.yaml`` is merged into the app's ``app.yaml``
  as a JSON merge patch (``null`` removes a key), and ``clusters:`` removed;
- every other YAML document in ``<app>/clusters/<cluster>/`` patches the one
  manifest of the app with its kind and name (and apiVersion and namespace
  when the patch gives them), as kustomize overlays do
  (:mod:`gitkube.render.strategic`);
- ``<app>/clusters/`` itself is never an app.

Files the view does not change are passed through by path, so the render
cache keys an unchanged app on its own blobs. Errors name the file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.clusters import (
    APP_CLUSTERS_SCHEMA,
    CLUSTERS_KEY,
    CONFIG_FILE,
    FIXED_APP_KEYS,
    OVERLAY_DIRECTORY,
    ClusterSpec,
    cluster_settings,
    clusters_of,
    multi_cluster,
    rendered_branch,
    selected_clusters,
)
from gitkube.domain.config import DEFAULT_MAX_FILE_BYTES, schema_error_message
from gitkube.domain.schema import first_error
from gitkube.domain.secrets import is_sops_path
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.filetree import FileTree, is_hidden
from gitkube.primitives.yamlio import dump_document, load_documents, load_one
from gitkube.render.pipeline import APP_FILE, YAML_SUFFIXES, read_config
from gitkube.render.strategic import apply_patch, json_merge

# Reads source files by path (only those asked for).
SourceReader = Callable[[Iterable[str]], Mapping[str, bytes]]


@dataclass
class ClusterView:
    """One cluster's view: the paths it keeps and the files it writes anew."""

    cluster: str
    branch: str
    kept: list[str]  # source paths passed through unchanged
    made: dict[str, bytes] = field(default_factory=dict)  # path -> content made for this view
    origins: dict[str, list[str]] = field(default_factory=dict)  # made path -> its sources

    def where(self, path: str | None) -> str:
        """How an error about ``path`` names the cluster (and the files a made file came from)."""
        sources = self.origins.get(path or "")
        return f"cluster {self.cluster}" + (f"; made from {' + '.join(sources)}" if sources else "")

    apps: list[str] = field(default_factory=list)

    def paths(self) -> list[str]:
        return sorted({*self.kept, *self.made})


def read_raw_settings(data: bytes | None) -> dict[str, Any] | None:
    """gitkube.yaml as written when it declares ``clusters:`` (checked), else None."""
    if data is None:
        return None
    try:
        raw = load_one(data, CONFIG_FILE)
    except GitkubeError:
        return None  # the single-cluster render reports it, as before
    if not multi_cluster(raw):
        return None
    read_config(data)  # the whole file checked: errors name gitkube.yaml
    assert isinstance(raw, dict)
    return raw


def cluster_views(paths: Iterable[str], read: SourceReader) -> list[ClusterView] | None:
    """Every cluster's view of the tree, or None when gitkube.yaml has no ``clusters:``.

    ``read`` is asked for gitkube.yaml, the app.yaml files, the overlay files
    and the manifests that patches change; nothing else is read.
    """
    visible = sorted(p for p in paths if not is_hidden(p))
    if CONFIG_FILE not in visible:
        return None
    raw = read_raw_settings(read([CONFIG_FILE])[CONFIG_FILE])
    if raw is None:
        return None
    specs = clusters_of(raw)
    names = [spec.name for spec in specs]

    by_directory: dict[str, list[str]] = {}
    for path in visible:
        if path.endswith(YAML_SUFFIXES):
            by_directory.setdefault(posixpath.dirname(path), []).append(path)
    overlays = _overlay_directories(by_directory, names)
    apps = [d for d in by_directory if d and d not in overlays]

    wanted = [
        *(f"{app}/{APP_FILE}" for app in apps if f"{app}/{APP_FILE}" in by_directory[app]),
        *(f for directory in overlays for f in by_directory[directory]),
    ]
    sources = dict(read(wanted))
    app_set = set(apps)
    settings = {
        path: _settings(sources[path], path)
        for path in wanted
        if path.endswith(f"/{APP_FILE}") and posixpath.dirname(path) in app_set
    }

    runs_on: dict[str, list[str]] = {}
    for app in apps:
        settings_file = f"{app}/{APP_FILE}"
        patterns = settings.get(settings_file, {}).get(CLUSTERS_KEY)
        runs_on[app] = selected_clusters(patterns, names, settings_file)
    for directory, (app, cluster) in overlays.items():
        if cluster not in runs_on[app]:
            raise GitkubeError(
                f'app {app} does not run on cluster "{cluster}" (clusters: in {app}/{APP_FILE}); '
                "remove the overlay or add the cluster",
                file=by_directory[directory][0],
            )

    manifests = _ManifestCache(read, by_directory)
    views: list[ClusterView] = []
    for spec in specs:
        views.append(
            _view(
                spec,
                raw,
                visible,
                by_directory,
                apps,
                overlays,
                runs_on,
                settings,
                sources,
                manifests,
            )
        )
    return views


def _overlay_directories(
    by_directory: dict[str, list[str]], names: list[str]
) -> dict[str, tuple[str, str]]:
    """``<app>/clusters/<cluster>`` directories -> (app, cluster); misplaced ones refused."""
    overlays: dict[str, tuple[str, str]] = {}
    for directory in by_directory:
        parent, cluster = posixpath.split(directory)
        app, marker = posixpath.split(parent)
        if marker != OVERLAY_DIRECTORY or not app or app not in by_directory:
            continue
        if cluster not in names:
            raise GitkubeError(
                f'no cluster "{cluster}" in {CONFIG_FILE} (clusters: {", ".join(names)})',
                file=by_directory[directory][0],
            )
        overlays[directory] = (app, cluster)
    for directory, files in by_directory.items():
        for overlay in overlays:
            if directory.startswith(f"{overlay}/"):
                raise GitkubeError(
                    f"an overlay directory ({overlay}) holds files, not directories", file=files[0]
                )
    return overlays


def _settings(data: bytes, path: str) -> dict[str, Any]:
    try:
        value = load_one(data, path)
    except GitkubeError as exc:
        raise exc.one_line() from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GitkubeError("app.yaml must be a mapping of settings", file=path)
    if CLUSTERS_KEY in value:
        error = first_error(APP_CLUSTERS_SCHEMA, value[CLUSTERS_KEY])
        if error is not None:
            raise GitkubeError(f"clusters: {schema_error_message(error)}", file=path)
    return value


class _ManifestCache:
    """An app's manifests parsed once, for every cluster whose patches need them."""

    def __init__(self, read: SourceReader, by_directory: dict[str, list[str]]) -> None:
        self.read = read
        self.by_directory = by_directory
        self.parsed: dict[str, list[tuple[str, list[Any]]]] = {}

    def of(self, app: str) -> list[tuple[str, list[Any]]]:
        if app not in self.parsed:
            files = [
                f
                for f in self.by_directory[app]
                if posixpath.basename(f) != APP_FILE and not is_sops_path(f)
            ]
            data = self.read(files)
            parsed = []
            for path in files:
                try:
                    parsed.append((path, load_documents(data[path], path)))
                except GitkubeError as exc:
                    raise exc.one_line() from None
            self.parsed[app] = parsed
        return self.parsed[app]


def _view(
    spec: ClusterSpec,
    raw: dict[str, Any],
    visible: list[str],
    by_directory: dict[str, list[str]],
    apps: list[str],
    overlays: dict[str, tuple[str, str]],
    runs_on: dict[str, list[str]],
    settings: dict[str, dict[str, Any]],
    sources: Mapping[str, bytes],
    manifests: _ManifestCache,
) -> ClusterView:
    view = ClusterView(spec.name, rendered_branch(raw, spec.name), kept=[])
    view.made[CONFIG_FILE] = dump_document(cluster_settings(raw, spec)).encode()
    here = {app for app in apps if spec.name in runs_on[app]}
    view.apps = sorted(here)
    mine = {app: d for d, (app, cluster) in overlays.items() if cluster == spec.name}
    left_out = {app for app in apps if app not in here}
    for path in visible:
        directory = posixpath.dirname(path)
        if path == CONFIG_FILE or directory in overlays:
            continue  # made for the view / never an app (any file beside an overlay too)
        if path.endswith(YAML_SUFFIXES) and directory in left_out:
            continue
        view.kept.append(path)

    for app in sorted(here):
        settings_file = f"{app}/{APP_FILE}"
        overlay = mine.get(app)
        override_file = f"{overlay}/{APP_FILE}" if overlay else None
        base = settings.get(settings_file)
        override = (
            settings_of_override(sources[override_file], override_file)
            if override_file and override_file in sources
            else None
        )
        if override is not None or (base is not None and CLUSTERS_KEY in base):
            merged = {k: v for k, v in (base or {}).items() if k != CLUSTERS_KEY}
            if override:
                merged = json_merge(merged, override)
            view.made[settings_file] = dump_document(merged).encode() if merged else b""
            view.origins[settings_file] = [
                f for f in (settings_file, override_file) if f and f in sources
            ]
        if overlay:
            patches = [f for f in by_directory[overlay] if f != override_file]
            for path, (data, used) in _patched(app, patches, sources, manifests).items():
                view.made[path] = data
                view.origins[path] = [path, *used]
    view.kept = [p for p in view.kept if p not in view.made]
    return view


def settings_of_override(data: bytes, path: str) -> dict[str, Any] | None:
    value = _settings(data, path)
    for key in FIXED_APP_KEYS:
        if key in value:
            raise GitkubeError(
                f'"{key}" cannot differ per cluster (set it in the app\'s own {APP_FILE})',
                file=path,
            )
    return value or None


def _patched(
    app: str,
    patch_files: list[str],
    sources: Mapping[str, bytes],
    manifests: _ManifestCache,
) -> dict[str, tuple[bytes, list[str]]]:
    """The app's manifest files that this cluster's patches change, re-written (with the
    patch files that changed each)."""
    documents = {path: list(docs) for path, docs in manifests.of(app)}
    patched_by: dict[tuple[str, int], str] = {}
    for patch_file in patch_files:
        try:
            patches = load_documents(sources[patch_file], patch_file)
        except GitkubeError as exc:
            raise exc.one_line() from None
        for patch in patches:
            kind, name = _identity(patch, patch_file)
            target = _find_target(app, documents, patch, kind, name, patch_file)
            if target in patched_by:
                raise GitkubeError(
                    f"{kind} {name} is patched twice for this cluster (also in "
                    f"{patched_by[target]}); put its changes in one patch",
                    file=patch_file,
                    app=app,
                )
            patched_by[target] = patch_file
            path, index = target
            try:
                documents[path][index] = apply_patch(documents[path][index], patch)
            except GitkubeError as exc:
                raise GitkubeError(
                    f"patch of {kind} {name}: {exc.message}", file=patch_file, app=app
                ) from None
    changed = {path for path, _ in patched_by}
    return {
        path: (
            "---\n".join(dump_document(doc) for doc in documents[path]).encode(),
            sorted({f for (p, _i), f in patched_by.items() if p == path}),
        )
        for path in sorted(changed)
    }


def _identity(patch: Any, file: str) -> tuple[str, str]:
    meta = patch.get("metadata") if isinstance(patch, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = patch.get("kind") if isinstance(patch, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        raise GitkubeError(
            "a patch names the object it changes with kind: and metadata.name:", file=file
        )
    return kind, name


def _find_target(
    app: str,
    documents: dict[str, list[Any]],
    patch: dict[str, Any],
    kind: str,
    name: str,
    file: str,
) -> tuple[str, int]:
    api_version = patch.get("apiVersion")
    namespace = (patch.get("metadata") or {}).get("namespace")
    found: list[tuple[str, int]] = []
    for path, docs in documents.items():
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict) or doc.get("kind") != kind:
                continue
            meta = doc.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            if meta.get("name") != name:
                continue
            if api_version is not None and doc.get("apiVersion") != api_version:
                continue
            if namespace is not None and meta.get("namespace") not in (None, namespace):
                continue
            found.append((path, index))
    if not found:
        raise GitkubeError(
            f"the patch of {kind} {name} matches no manifest of app {app}", file=file, app=app
        )
    if len(found) > 1:
        raise GitkubeError(
            f"the patch of {kind} {name} matches {len(found)} manifests of app {app} "
            f"({', '.join(p for p, _ in found)}); give apiVersion or metadata.namespace",
            file=file,
            app=app,
        )
    return found[0]


class ViewTree:
    """A :class:`FileTree` of one cluster's view over a source tree."""

    def __init__(self, source: FileTree, view: ClusterView) -> None:
        self.source = source
        self.view = view
        self._paths = view.paths()

    def files(self) -> list[str]:
        return list(self._paths)

    def read(self, path: str) -> bytes:
        made = self.view.made.get(path)
        return made if made is not None else self.source.read(path)

    def size(self, path: str) -> int:
        made = self.view.made.get(path)
        if made is not None:
            return len(made)
        size_of = getattr(self.source, "size", None)
        return int(size_of(path)) if size_of is not None else len(self.source.read(path))


def views_of_tree(tree: FileTree) -> list[ClusterView] | None:
    """:func:`cluster_views` of a file tree (a work tree, a test's memory tree)."""

    def read(paths: Iterable[str]) -> dict[str, bytes]:
        return {p: _read_limited(tree, p) for p in paths}

    return cluster_views(tree.files(), read)


def _read_limited(tree: FileTree, path: str) -> bytes:
    size_of = getattr(tree, "size", None)
    if size_of is not None and size_of(path) > DEFAULT_MAX_FILE_BYTES:
        raise GitkubeError(f"file is over {DEFAULT_MAX_FILE_BYTES:,} bytes", file=path)
    return tree.read(path)
