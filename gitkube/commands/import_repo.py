"""``gitkube import SRC OUT``: an Argo CD or Flux repo as gitkube app directories.

Reads every YAML file of ``SRC`` for Argo CD ``Application``\\ s and Flux
``Kustomization``\\ s / ``HelmRelease``\\ s that point at paths in the same
repo, copies the tree to ``OUT`` without those controller objects, and
writes an ``app.yaml`` into each directory they point at (name, namespace,
source, images, dependencies). What has no gitkube equivalent (another
repo, a chart from a registry, sync policies, inline Helm values, ...) is
reported, never silently dropped; ``OUT`` must be new or empty.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitkube.primitives.errors import GitkubeError, printable
from gitkube.primitives.filetree import DirectoryTree
from gitkube.primitives.yamlio import dump_document, load_documents
from gitkube.render.sources import CHART_FILE, KUSTOMIZATION_FILES

ARGO_GROUP = "argoproj.io/"
FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"
FLUX_HELM_GROUP = "helm.toolkit.fluxcd.io/"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class ImportedApp:
    directory: str
    settings: dict[str, Any]
    origin: str  # "Application guestbook in apps/guestbook.yaml"


@dataclass
class ImportReport:
    apps: list[ImportedApp] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # one line each: what, where, why
    dropped_files: list[str] = field(default_factory=list)


def import_repo(source: Path, target: Path) -> ImportReport:
    """Map ``source`` into ``target``; nothing is written when a file is unreadable."""
    if not source.is_dir():
        raise GitkubeError("not a directory", file=str(source))
    if target.exists() and any(target.iterdir()):
        raise GitkubeError("directory is not empty; import only fills a new one", file=str(target))
    tree = DirectoryTree(source)
    files = tree.files()
    report = ImportReport()
    controller_files: set[str] = set()
    by_directory: dict[str, ImportedApp] = {}
    for path in files:
        if not path.endswith(YAML_SUFFIXES):
            continue
        try:
            docs = load_documents(tree.read(path), path)
        except GitkubeError:
            continue  # a chart template or other non-YAML: copied as it is
        found = [d for d in docs if isinstance(d, dict) and _controller_kind(d)]
        if not found:
            continue
        if len(found) != len(docs):
            report.unmapped.append(
                f"{path}: holds controller objects and other objects; only the controller "
                "objects were mapped, the file is dropped (move the others into an app)"
            )
        controller_files.add(path)
        for doc in found:
            mapped = _map(doc, path, files, report)
            if mapped is None:
                continue
            if mapped.directory in by_directory:
                report.unmapped.append(
                    f"{mapped.origin}: its path {mapped.directory} is already the app of "
                    f"{by_directory[mapped.directory].origin}; skipped"
                )
                continue
            by_directory[mapped.directory] = mapped
            report.apps.append(mapped)
    if not report.apps and not report.unmapped:
        raise GitkubeError(
            "no Argo CD Application or Flux Kustomization/HelmRelease found", file=str(source)
        )
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path in controller_files:
            report.dropped_files.append(path)
            continue
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(tree.read(path))
    for app in report.apps:
        settings_path = target / app.directory / "app.yaml"
        settings = dict(app.settings)
        if settings_path.is_file():
            existing = yaml.safe_load(settings_path.read_text()) or {}
            settings = {**existing, **settings}
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        settings_path.write_text(f"# imported from {app.origin}\n" + dump_document(settings))
    return report


def _mapping(value: Any) -> dict[str, Any]:
    """A mapping field of a controller object, or an empty one when absent or malformed."""
    return value if isinstance(value, dict) else {}


def _controller_kind(doc: Mapping[str, Any]) -> str | None:
    api_version, kind = str(doc.get("apiVersion", "")), doc.get("kind")
    if api_version.startswith(ARGO_GROUP) and kind in ("Application", "ApplicationSet"):
        return f"argo-{kind}"
    if api_version.startswith(FLUX_KUSTOMIZE_GROUP) and kind == "Kustomization":
        return "flux-Kustomization"
    if api_version.startswith(FLUX_HELM_GROUP) and kind == "HelmRelease":
        return "flux-HelmRelease"
    if api_version.startswith("source.toolkit.fluxcd.io/"):
        return "flux-source"
    return None


def _repo_path(entry: Any, files: list[str]) -> str | None:
    """A repo directory path from a controller's ``path`` (``./apps/web``), if it exists."""
    if not isinstance(entry, str):
        return None
    path = posixpath.normpath(entry.strip().lstrip("/").removeprefix("./") or ".")
    if path in (".", "") or path.startswith(".."):
        return None
    return path if any(f.startswith(path + "/") for f in files) else None


def _map(
    doc: Mapping[str, Any], file: str, files: list[str], report: ImportReport
) -> ImportedApp | None:
    kind = _controller_kind(doc)
    meta = _mapping(doc.get("metadata"))
    name = str(meta.get("name", "?"))
    origin = f"{doc.get('kind')} {printable(name)} in {file}"
    spec = _mapping(doc.get("spec"))
    if kind == "argo-ApplicationSet":
        report.unmapped.append(f"{origin}: ApplicationSets generate apps; write one per app")
        return None
    if kind == "flux-source":
        return None  # a GitRepository/HelmRepository: the repo itself, or what charts come from
    if kind == "argo-Application":
        return _map_argo(spec, origin, files, report)
    if kind == "flux-Kustomization":
        return _map_flux_kustomization(spec, origin, files, report)
    return _map_flux_helm(spec, origin, files, report)


def _note_unmapped(
    origin: str, spec: Mapping[str, Any], keys: Mapping[str, str], report: ImportReport
) -> None:
    for key, why in keys.items():
        if spec.get(key) not in (None, {}, []):
            report.unmapped.append(f"{origin}: {key} not mapped ({why})")


def _map_argo(
    spec: Mapping[str, Any], origin: str, files: list[str], report: ImportReport
) -> ImportedApp | None:
    sources = spec.get("sources")
    if sources:
        report.unmapped.append(f"{origin}: multi-source Applications are not mapped")
        return None
    source = _mapping(spec.get("source"))
    if source.get("chart"):
        report.unmapped.append(
            f"{origin}: chart {printable(str(source['chart']))} comes from a Helm repository; "
            "vendor it into the repo and set source.helm.chart"
        )
        return None
    directory = _repo_path(source.get("path"), files)
    if directory is None:
        report.unmapped.append(
            f"{origin}: path {printable(str(source.get('path')))} is not a directory of this "
            "repo (another repo?)"
        )
        return None
    settings: dict[str, Any] = {}
    destination = _mapping(spec.get("destination"))
    if isinstance(destination.get("namespace"), str) and destination["namespace"]:
        settings["namespace"] = destination["namespace"]
    if destination.get("server") not in (None, "https://kubernetes.default.svc"):
        report.unmapped.append(f"{origin}: destination.server not mapped (one cluster per repo)")
    helm: dict[str, Any] | None = _mapping(source.get("helm")) if "helm" in source else None
    if helm is not None or _has(files, directory, (CHART_FILE,)):
        helm = helm or {}
        options: dict[str, Any] = {"chart": "."}
        values = helm.get("valueFiles") or []
        if values:
            options["values"] = [str(v) for v in values]
        if helm.get("releaseName"):
            options["releaseName"] = str(helm["releaseName"])
        settings["source"] = {"helm": options}
        _note_unmapped(
            origin,
            helm,
            {
                "parameters": "inline values: put them in a values file",
                "values": "inline values: put them in a values file",
                "valuesObject": "inline values: put them in a values file",
            },
            report,
        )
    elif _has(files, directory, KUSTOMIZATION_FILES):
        settings["source"] = "kustomize"
        kustomize = _mapping(source.get("kustomize"))
        images = _images(kustomize.get("images") or [], origin, report)
        if images:
            settings["images"] = images
        _note_unmapped(
            origin,
            kustomize,
            {
                "namePrefix": "set it in the kustomization",
                "nameSuffix": "set it in the kustomization",
                "commonLabels": "set it in the kustomization",
                "patches": "move them into the kustomization",
            },
            report,
        )
    directory_options = _mapping(source.get("directory"))
    _note_unmapped(
        origin,
        directory_options,
        {"recurse": "each gitkube app is one directory", "jsonnet": "no jsonnet source installed"},
        report,
    )
    _note_unmapped(
        origin,
        spec,
        {
            "syncPolicy": "gitkube sync/agent decide when to sync; prune is always on for owned objects",
            "ignoreDifferences": "no gitkube equivalent",
        },
        report,
    )
    return ImportedApp(directory, settings, origin)


def _map_flux_kustomization(
    spec: Mapping[str, Any], origin: str, files: list[str], report: ImportReport
) -> ImportedApp | None:
    directory = _repo_path(spec.get("path"), files)
    if directory is None:
        report.unmapped.append(
            f"{origin}: path {printable(str(spec.get('path')))} is not a directory of this repo"
        )
        return None
    settings: dict[str, Any] = {}
    if isinstance(spec.get("targetNamespace"), str):
        settings["namespace"] = spec["targetNamespace"]
    if _has(files, directory, KUSTOMIZATION_FILES):
        settings["source"] = "kustomize"
    images = _images(spec.get("images") or [], origin, report)
    if images:
        settings["images"] = images
    depends = [d.get("name") for d in spec.get("dependsOn") or [] if isinstance(d, dict)]
    if depends:
        report.unmapped.append(
            f"{origin}: dependsOn {', '.join(map(str, depends))} names Flux objects; "
            "set dependsOn in app.yaml to their app directories"
        )
    _note_unmapped(
        origin,
        spec,
        {
            "postBuild": "variable substitution has no gitkube equivalent",
            "patches": "move them into a kustomization.yaml",
            "decryption": "use gitkube's SOPS files (docs/secrets.md)",
            "healthChecks": "gitkube sync --wait judges every object",
        },
        report,
    )
    return ImportedApp(directory, settings, origin)


def _map_flux_helm(
    spec: Mapping[str, Any], origin: str, files: list[str], report: ImportReport
) -> ImportedApp | None:
    chart_spec = (
        (spec.get("chart") or {}).get("spec") if isinstance(spec.get("chart"), dict) else None
    )
    chart_spec = chart_spec if isinstance(chart_spec, dict) else {}
    source_ref = _mapping(chart_spec.get("sourceRef"))
    directory = _repo_path(chart_spec.get("chart"), files)
    if source_ref.get("kind") != "GitRepository" or directory is None:
        report.unmapped.append(
            f"{origin}: chart {printable(str(chart_spec.get('chart')))} is not a chart directory "
            "of this repo; vendor it and set source.helm.chart"
        )
        return None
    options: dict[str, Any] = {"chart": "."}
    if isinstance(spec.get("releaseName"), str):
        options["releaseName"] = spec["releaseName"]
    values = [v for v in chart_spec.get("valuesFiles") or [] if isinstance(v, str)]
    local = []
    for value in values:
        path = _repo_path_file(value, files)
        if path is None:
            report.unmapped.append(f"{origin}: values file {printable(value)} not in the repo")
        else:
            local.append(posixpath.relpath(path, directory))
    if local:
        options["values"] = local
    settings: dict[str, Any] = {"source": {"helm": options}}
    namespace = spec.get("targetNamespace")
    if isinstance(namespace, str):
        settings["namespace"] = namespace
    _note_unmapped(
        origin,
        spec,
        {
            "values": "inline values: put them in a values file",
            "valuesFrom": "values from ConfigMaps/Secrets: put them in a values file",
            "postRenderers": "no gitkube equivalent",
        },
        report,
    )
    return ImportedApp(directory, settings, origin)


def _repo_path_file(entry: str, files: list[str]) -> str | None:
    path = posixpath.normpath(entry.strip().lstrip("/").removeprefix("./"))
    return path if path in files else None


def _has(files: list[str], directory: str, names: tuple[str, ...]) -> bool:
    return any(f"{directory}/{n}" in files for n in names)


def _images(entries: list[Any], origin: str, report: ImportReport) -> list[dict[str, str]]:
    """Argo's ``name=ref`` / ``name:tag`` strings or Flux's image objects as app.yaml images."""
    images = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            images.append(
                {
                    k: str(v)
                    for k, v in entry.items()
                    if k in ("name", "newName", "newTag", "digest")
                }
            )
        elif isinstance(entry, str):
            name, sep, ref = entry.partition("=")
            if not sep:
                name, ref = entry, entry
            base, _, digest = ref.partition("@")
            slash, colon = base.rfind("/"), base.rfind(":")
            image: dict[str, str] = {
                "name": name if sep else base[:colon] if colon > slash else base
            }
            new_name = base[:colon] if colon > slash else base
            if new_name != image["name"]:
                image["newName"] = new_name
            if colon > slash:
                image["newTag"] = base[colon + 1 :]
            if digest:
                image["digest"] = digest
            images.append(image)
        else:
            report.unmapped.append(f"{origin}: image override {entry!r} not understood")
    return images
