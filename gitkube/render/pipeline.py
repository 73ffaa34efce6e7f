"""The render pipeline: source tree → apps → plugins → rendered objects.

Pure and offline (DESIGN §2): the same tree and plugin versions always give
the same bytes, and nothing here touches the network, a cluster or the disk
outside the tree it reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube import __version__
from gitkube.domain.config import (
    CONFIG_FILE,
    DEFAULT_MAX_FILE_BYTES,
    RepoConfig,
    closest,
    parse_config,
    schema_error_message,
    sync_settings_document,
)
from gitkube.domain.context import Problem, RenderContext
from gitkube.domain.inventory import INVENTORY_FILE, inventory_document
from gitkube.domain.names import app_path_problem, layout_conflicts, output_path_problem
from gitkube.domain.ownership import applyset_for, stamp_ownership
from gitkube.domain.plugin_manager import PluginHooks, build_plugin_manager
from gitkube.domain.requirements import MISSING_PLUGIN_HINT, check_required_plugins
from gitkube.domain.resources import (
    App,
    Resource,
    in_kubectl_order,
    rendered_path,
    written_pod_labels,
)
from gitkube.domain.schema import SchemaCheck
from gitkube.domain.scopes import Scopes, crd_scopes
from gitkube.domain.secrets import is_sops_path
from gitkube.domain.secrets import wrap as wrap_sops
from gitkube.domain.sources import PLAIN, SourceObject
from gitkube.primitives.errors import GitkubeError, printable
from gitkube.primitives.filetree import FileTree
from gitkube.primitives.gcpause import collector_paused
from gitkube.primitives.kubeyaml import room_for_nesting
from gitkube.primitives.yamlio import dump_document, dump_many, load_many
from gitkube.render.manifests import MAX_DEPTH, check_shape, settle_identity
from gitkube.render.ordering import (
    DEPENDS_ON_KEY,
    DEPENDS_ON_SCHEMA,
    check_order,
    stamp_dependencies,
)
from gitkube.render.sources import Checkout, TreeAppSource, source_layout

APP_FILE = "app.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
SOPS_CONFIG_FILE = ".sops.yaml"  # sops' creation rules (docs/secrets.md), not a manifest

# app.yaml keys that belong to gitkube itself rather than to a plugin.
_DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
CORE_APP_KEYS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": _DNS_LABEL},
    "namespace": {"type": "string", "pattern": _DNS_LABEL},
    DEPENDS_ON_KEY: DEPENDS_ON_SCHEMA,
}


@dataclass
class RenderResult:
    """What a render produced, ready to be written or committed."""

    config: RepoConfig
    apps: list[App]
    resources: list[Resource]
    files: dict[str, bytes]
    warnings: list[Problem] = field(default_factory=list)
    plugin_versions: dict[str, str] = field(default_factory=dict)
    # (group, kind) -> namespaced of every CRD the render knew (see scopes.py)
    crds: dict[tuple[str, str], bool] = field(default_factory=dict)

    def inventory(self, source_commit: str | None = None) -> dict[str, Any]:
        """The inventory of DESIGN §5: versions and every object's id and hash."""
        objects = []
        for resource in self.resources:
            path = rendered_path(resource, self.config.namespace)
            item = {
                "path": path,
                "app": resource.app.path,
                "apiVersion": resource.api_version,
                "kind": resource.kind,
                "namespace": resource.namespace,
                "name": resource.name,
                "sha256": hashlib.sha256(self.files[path]).hexdigest(),
            }
            if resource.app.rendered_with:  # kustomize/helm apps: the tool and its version
                item["renderedWith"] = resource.app.rendered_with
            objects.append(item)
        return inventory_document(
            source_commit=source_commit,
            gitkube_version=__version__,
            plugins=self.plugin_versions,
            applyset_id=applyset_for(self.config).id,
            settings=sync_settings_document(self.config),
            objects=objects,
        )

    def all_files(self, source_commit: str | None = None) -> dict[str, bytes]:
        """Every rendered file plus the inventory, by path."""
        files = dict(self.files)
        files[INVENTORY_FILE] = dump_document(self.inventory(source_commit)).encode()
        return files


# etcd's default request limit (--max-request-bytes): the API server cannot
# store an object larger than this, so it is refused at render time.
MAX_OBJECT_BYTES = 1536 * 1024


@collector_paused()  # a render makes every object at once, none in a cycle (gcpause.py)
@room_for_nesting()
def render_tree(
    tree: FileTree,
    *,
    plugins: Callable[[RepoConfig], PluginHooks] | None = None,
    known_crds: Mapping[tuple[str, str], bool] | None = None,
    repo_checks: bool = True,
    checked: frozenset[str] = frozenset(),
) -> RenderResult:
    """Render a source tree. Raises :class:`GitkubeError` on any bad input.

    :param plugins: makes the plugin manager for the repo's config; default:
        :func:`build_plugin_manager` with the config's disabled plugins.
    :param known_crds: scopes of CustomResourceDefinitions outside ``tree``
        (apps taken from the render cache); the tree's own CRDs are added.
    :param repo_checks: run :func:`check_repo`; the render cache renders the
        apps it misses without it, then runs it once over every app.
    :param checked: gitkube.yaml and app.yaml files whose very contents passed
        their schemas in a clean render by this code and these plugins (the
        incremental render knows them): the schemas are not asked again.
    """
    paths = tree.files()
    config = read_config(
        read_within_limit(tree, CONFIG_FILE, DEFAULT_MAX_FILE_BYTES)
        if CONFIG_FILE in set(paths)
        else None,
        checked=CONFIG_FILE in checked,
    )
    check_required_plugins(config.required_plugins)
    hooks = (plugins or _default_plugins)(config)
    ctx = RenderContext(config=config, applyset_id=applyset_for(config).id, hooks=hooks)
    app_keys = hooks.app_keys()
    hooks.check_options(config.plugin_options)
    validators = _app_key_validators(app_keys)
    valid_settings: set[tuple[str, str]] = set()  # app.yaml values their schema accepted

    early: dict[str, list[Any]] = {}  # app.yaml and kustomizations, read for the layout

    def read_yaml(path: str) -> list[Any]:
        if path not in early:
            early[path] = _parse(path, read_within_limit(tree, path, config.max_file_bytes))
        return early[path]

    # Kustomize bases and charts' insides are inputs of the apps using them, not apps.
    layout = source_layout(paths, read_yaml)
    by_directory = [
        (directory, files)
        for directory, files in _yaml_files_by_directory(paths)
        if directory not in layout.not_apps
    ]
    for directory, directory_files in by_directory:
        problem = app_path_problem(directory) if directory else None
        if problem is not None:
            raise GitkubeError(problem, file=printable(directory_files[0]))
    app_files = [f for directory, files in by_directory if directory for f in files]
    # Every app's problems are collected, so a pull request with two broken
    # apps hears about both at once; a broken app is left out of later stages.
    errors = ErrorList()
    parsed: dict[str, list[Any]] = {}
    for file in app_files:
        with errors.collect():
            if file in early:
                parsed[file] = early[file]
                continue
            data = read_within_limit(tree, file, config.max_file_bytes)
            # SOPS files are checked and wrapped, never decrypted (domain/secrets.py).
            parsed[file] = (
                wrap_sops(file, data, config) if is_sops_path(file) else _parse(file, data)
            )

    apps: list[App] = []
    resources: list[Resource] = []
    checkout = Checkout(tree, lambda path: read_within_limit(tree, path, config.max_file_bytes))
    with checkout:  # tools read the repo from a private copy, removed after
        for directory, yaml_files in by_directory:
            if directory and any(f not in parsed for f in yaml_files):
                continue  # a file of this app did not parse: reported above
            with errors.collect():
                app = _read_app(parsed, directory, yaml_files, validators, valid_settings, checked)
                if app is None:
                    continue
                found = layout.apps.get(directory)
                source = (
                    TreeAppSource(app, found.kind, found.options, found.inputs, parsed, checkout)
                    if found
                    else TreeAppSource(app, PLAIN, {}, app.manifest_files, parsed, checkout)
                )
                if source.kind == PLAIN:
                    # read before the hook: a bad manifest is the user's error, not a plugin's
                    source.manifests()
                objects = _checked(hooks.source(app, ctx, source), app)
                if "name" not in app.settings:
                    app.name = (
                        _name_from_labels([(o.file, o.body, o.item) for o in objects]) or app.name
                    )
                app_resources = [Resource(o.body, app, o.file, o.item or None) for o in objects]
                for plugin, obj in hooks.generate(app, ctx, tuple(app_resources)):
                    check_shape(obj, f"generated by plugin {plugin}", None, app.path)
                    app_resources.append(
                        Resource(obj, app, f"generated by plugin {plugin}", generated_by=plugin)
                    )
                app.pod_labels = written_pod_labels(app_resources)
                apps.append(app)
                resources.extend(app_resources)

    scopes = Scopes({**(known_crds or {}), **crd_scopes(r.body for r in resources)})
    applyset = applyset_for(config)
    for resource in resources:
        with errors.collect():
            settle_identity(resource, scopes, _default_namespace(resource.app, config))
            hooks.transform(resource, ctx)
            stamp_ownership(resource, applyset)
            stamp_dependencies(resource)
            in_kubectl_order(resource)
    errors.raise_if_any()

    # Plugins validate in path order, as the render cache has them: one order, one result.
    resources.sort(key=lambda r: rendered_path(r, config.namespace))
    if repo_checks:
        owner, warnings = check_repo(resources, config, ctx)
    else:
        owner, warnings = paths_of(resources, config.namespace), []
    texts = dump_many([resource.body for resource in owner.values()])
    rendered: dict[str, bytes] = {}
    for (path, resource), text in zip(owner.items(), texts, strict=True):
        data = text.encode()
        if len(data) > MAX_OBJECT_BYTES:
            raise GitkubeError(
                f"rendered object is {len(data):,} bytes; the API server stores at most "
                f"{MAX_OBJECT_BYTES:,} (etcd's request limit): split it or move data out",
                file=resource.source,
                app=resource.app.path,
                obj=resource.describe(),
            )
        rendered[path] = data
    return RenderResult(
        config=config,
        apps=apps,
        resources=resources,
        files=dict(sorted(rendered.items())),
        warnings=warnings,
        plugin_versions=hooks.versions(),
        crds=scopes.crds,
    )


class ErrorList:
    """Render errors gathered across apps, raised together (the first few, and a count)."""

    SHOWN = 20

    def __init__(self) -> None:
        self.errors: list[GitkubeError] = []

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except GitkubeError as exc:
            if exc.exit_code != 1:
                raise  # a safety refusal or the like ends the render at once
            self.errors.append(exc)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            lines = [str(e) for e in self.errors[: self.SHOWN]]
            if len(self.errors) > self.SHOWN:
                lines.append(f"... and {len(self.errors) - self.SHOWN} more errors")
            raise GitkubeError(f"{len(self.errors)} errors:\n" + "\n".join(lines))


def check_repo(
    resources: Sequence[Resource], config: RepoConfig, ctx: RenderContext
) -> tuple[dict[str, Resource], list[Problem]]:
    """The checks that need every app at once, for full and cached renders alike:
    every plugin's ``gitkube_validate`` (errors stop the render) and the
    rendered paths (:func:`paths_of`). Returns the paths and the warnings."""
    check_order(resources)
    problems = ctx.hooks.validate(resources, ctx)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise GitkubeError(
            "\n".join(str(p) for p in errors) if len(errors) > 1 else errors[0].message,
            file=None if len(errors) > 1 else errors[0].file,
            app=None if len(errors) > 1 else errors[0].app,
            obj=None if len(errors) > 1 else errors[0].obj,
        )
    return paths_of(resources, config.namespace), [p for p in problems if p.severity == "warning"]


def paths_of(resources: Iterable[Resource], namespace: str) -> dict[str, Resource]:
    """Each object's rendered path, refusing two objects at one path and unsafe paths.

    The paths are built from validated parts only; checking them again here
    is what guarantees nothing is written outside the output (a plugin
    could have renamed an object after the checks).
    """
    owner: dict[str, Resource] = {}
    for resource in resources:
        path = rendered_path(resource, namespace)
        problem = output_path_problem(path)
        if problem is not None:
            raise GitkubeError(
                f"rendered path {printable(path)} {problem}",
                file=resource.source,
                app=resource.app.path,
                obj=resource.describe(),
            )
        if path in owner:
            raise GitkubeError(
                f"{resource.describe()} and {owner[path].describe()} "
                f"(from {owner[path].source}) would both be written to {path}",
                file=resource.source,
                app=resource.app.path,
            )
        owner[path] = resource
    conflict = layout_conflicts([*owner, INVENTORY_FILE])
    if conflict is not None:
        file, nested = conflict
        culprit = owner.get(nested) or owner[file]
        raise GitkubeError(
            f"{file} would be both a rendered file and a directory holding {nested}; "
            "rename the app directory",
            file=culprit.source,
            app=culprit.app.path,
        )
    return owner


def read_within_limit(tree: FileTree, path: str, limit: int) -> bytes:
    """A file's bytes, refusing (before reading when the tree knows sizes) a file over ``limit``."""
    size_of = getattr(tree, "size", None)
    size = size_of(path) if size_of is not None else None
    data = tree.read(path) if size is None or size <= limit else b""
    size = len(data) if size is None else size
    if size > limit:
        raise GitkubeError(
            f"file is {size:,} bytes, over the limit of {limit:,} (render.maxFileBytes in "
            f"{CONFIG_FILE}); manifests this big are not hand-written config",
            file=printable(path),
        )
    return data


def _parse(path: str, data: bytes) -> list[Any]:
    """One file's documents; any parser complaint is one line naming the file."""
    try:
        (docs,) = load_many([(path, data)])
    except GitkubeError as exc:
        raise exc.one_line() from None
    except RecursionError:  # a walk over a document nested deeper than Python's stack
        raise GitkubeError(
            f"nested more than {MAX_DEPTH} levels deep; no Kubernetes object is", file=path
        ) from None
    return docs


def read_config(text: bytes | None, *, checked: bool = False) -> RepoConfig:
    """:func:`parse_config`, its errors on one line (YAML parser messages span lines)."""
    try:
        return parse_config(text, checked=checked)
    except GitkubeError as exc:
        raise exc.one_line() from None
    except RecursionError:
        raise GitkubeError(f"nested more than {MAX_DEPTH} levels deep", file=CONFIG_FILE) from None


def _default_plugins(config: RepoConfig) -> PluginHooks:
    return build_plugin_manager(config.disabled_plugins)


def _yaml_files_by_directory(paths: list[str]) -> list[tuple[str, list[str]]]:
    by_dir: dict[str, list[str]] = {}
    for path in paths:
        if path.endswith(YAML_SUFFIXES):
            by_dir.setdefault(posixpath.dirname(path), []).append(path)
    return sorted(by_dir.items())


def _app_key_validators(
    app_keys: dict[str, tuple[str, Any]],
) -> dict[str, tuple[str, SchemaCheck]]:
    keys = {key: ("gitkube", schema) for key, schema in CORE_APP_KEYS.items()}
    for key, (plugin, schema) in app_keys.items():
        if key in keys:
            raise GitkubeError(f'app.yaml key "{key}" is reserved by gitkube', plugin=plugin)
        keys[key] = (plugin, schema)
    return {key: (plugin, SchemaCheck(schema)) for key, (plugin, schema) in keys.items()}


def _default_namespace(app: App, config: RepoConfig) -> str:
    """Where the app's namespaced objects without a namespace go: a helm app's
    release namespace (as ``helm install -n`` would), else the app's, else the repo's."""
    source = app.settings.get("source")
    helm = source.get("helm") if isinstance(source, dict) else None
    release = helm.get("namespace") if isinstance(helm, dict) else None
    return str(release or app.settings.get("namespace") or config.namespace)


def _checked(objects: list[SourceObject], app: App) -> list[SourceObject]:
    """A source's objects, each checked as a manifest unless the core's helpers did."""
    for obj in objects:
        if not isinstance(obj, SourceObject):
            raise GitkubeError(
                f"gitkube_source returned a {type(obj).__name__}, not a SourceObject",
                app=app.path,
            )
        if not obj.checked:
            check_shape(obj.body, obj.file, obj.item or None, app.path)
    return objects


def _read_app(
    parsed: dict[str, list[Any]],
    directory: str,
    files: list[str],
    validators: dict[str, tuple[str, SchemaCheck]],
    valid_settings: set[tuple[str, str]],
    checked: frozenset[str],
) -> App | None:
    """Parse one directory's ``app.yaml`` into an app (its source reads the rest)."""
    if directory == "":
        stray = [f for f in files if f not in (CONFIG_FILE, SOPS_CONFIG_FILE)]
        if stray:
            raise GitkubeError(
                "a manifest at the repo root belongs to no app; move it into an app directory",
                file=stray[0],
            )
        return None
    settings_file = f"{directory}/{APP_FILE}"
    settings: dict[str, Any] = {}
    if settings_file in files:
        settings = _read_settings(
            parsed[settings_file],
            settings_file,
            validators,
            valid_settings,
            settings_file in checked,
        )
    return App(
        path=directory,
        name=settings.get("name") or posixpath.basename(directory),
        settings=settings,
        settings_file=settings_file if settings_file in files else None,
        manifest_files=[f for f in files if f != settings_file],
    )


def _name_from_labels(manifests: list[tuple[str, dict[str, Any], str]]) -> str | None:
    """The ``app`` label every manifest of the app carries, when they all carry the same.

    Third-party manifests often label their objects ``app: <name>`` already, with
    a name that is not the directory's. A mix of values is an error naming the
    files; one that is not a valid app name is left to the labels plugin to report.
    """
    files_by_value: dict[str, list[str]] = {}
    unlabelled = False
    for path, doc, _item in manifests:
        meta = doc.get("metadata")
        labels = meta.get("labels") if isinstance(meta, dict) else None
        value = labels.get("app") if isinstance(labels, dict) else None
        if isinstance(value, str) and value:
            files_by_value.setdefault(value, [])
            if path not in files_by_value[value]:
                files_by_value[value].append(path)
        else:
            unlabelled = True
    if len(files_by_value) > 1:
        listing = "; ".join(
            f'"{printable(value)}" in {", ".join(files)}'
            for value, files in sorted(files_by_value.items())
        )
        raise GitkubeError(
            f"the app's manifests carry different app labels ({listing}); give them one "
            "value, or set name: in app.yaml and make the labels agree with it",
            file=next(iter(sorted(files_by_value.items())))[1][0],
        )
    if unlabelled or not files_by_value:
        return None
    (value,) = files_by_value
    return value if re.fullmatch(_DNS_LABEL, value) else None


def _read_settings(
    docs: list[Any],
    path: str,
    validators: dict[str, tuple[str, SchemaCheck]],
    valid_settings: set[tuple[str, str]],
    checked: bool,
) -> dict[str, Any]:
    """``app.yaml``'s settings, each checked against its key's schema.

    ``valid_settings`` holds (key, value as canonical JSON) pairs found valid
    already: apps of one repo repeat their settings (one registry, one
    exposure), and a schema's verdict depends on the value alone.
    """
    if len(docs) > 1:
        raise GitkubeError("expected one YAML document, found several", file=path)
    if not docs:
        return {}
    settings = docs[0]
    if not isinstance(settings, dict):
        raise GitkubeError("app.yaml must be a mapping of settings", file=path)
    for key, value in settings.items():
        if key not in validators:
            suggestion = closest(str(key), set(validators))
            raise GitkubeError(
                f'unknown key "{key}"{suggestion}; known keys: {", ".join(sorted(validators))}'
                + ("" if suggestion else f"; {MISSING_PLUGIN_HINT}"),
                file=path,
            )
        plugin, schema = validators[key]
        if checked:
            continue  # the tree index vouches for this file (render/incremental.py)
        try:
            canonical = (key, json.dumps(value, sort_keys=True, allow_nan=False))
        except (TypeError, ValueError):
            canonical = None  # not plain JSON: checked every time
        if canonical is not None and canonical in valid_settings:
            continue
        error = schema.first_error(value)
        if error is not None:
            raise GitkubeError(
                f"{key}: {schema_error_message(error)}",
                file=path,
                plugin=None if plugin == "gitkube" else plugin,
            )
        if canonical is not None:
            valid_settings.add(canonical)
    return settings
