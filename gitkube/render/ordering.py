"""Render's half of ordered syncs: ``dependsOn`` in app.yaml and ``gitkube.dev/wave``.

Sync never reads app.yaml, so an app's dependencies travel on its rendered
objects (:data:`DEPENDS_ON_ANNOTATION`); sync orders the apply from them
(:mod:`gitkube.sync.order`). Everything that would make that order
impossible is refused here, at render, where the pull request shows it: a
dependency on an app that does not exist, a cycle, a wave that is no integer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitkube.domain.keys import (
    DEPENDS_ON_ANNOTATION,
    HOOK_ANNOTATION,
    HOOK_DELETE_ANNOTATION,
    WAVE_ANNOTATION,
)
from gitkube.domain.resources import App, Resource
from gitkube.primitives.errors import GitkubeError

DEPENDS_ON_KEY = "dependsOn"
# Kept in step with gitkube.sync.hooks (the halves do not import each other).
HOOK_POINTS = ("pre-sync", "post-sync", "sync-failed")
DELETE_POLICIES = ("on-success", "always", "never")
HOOK_KINDS = ("Job", "Pod")
# A run's name is the hook's plus "-" and 8 characters of the rendered commit.
MAX_HOOK_NAME = 63 - 9
# The app.yaml schema of the key (an app path as a directory name: "web/ghost").
DEPENDS_ON_SCHEMA = {
    "type": "array",
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1, "pattern": "^[^,\\s]+$"},
}


def dependencies_of(app: App) -> list[str]:
    return sorted(str(d).strip("/") for d in app.settings.get(DEPENDS_ON_KEY) or ())


def stamp_dependencies(resource: Resource) -> None:
    """Write the app's dependencies on one of its objects, for sync to read."""
    deps = dependencies_of(resource.app)
    if deps:
        resource.annotations()[DEPENDS_ON_ANNOTATION] = ",".join(deps)


def _where(app: App) -> str:
    return app.settings_file or (app.manifest_files[0] if app.manifest_files else app.path)


def check_order(resources: Iterable[Resource]) -> None:
    """Refuse unknown dependencies, dependency cycles and malformed waves."""
    apps: dict[str, App] = {}
    for resource in resources:
        apps.setdefault(resource.app.path, resource.app)
        check_wave_and_hook(resource)
    graph = {path: dependencies_of(app) for path, app in sorted(apps.items())}
    for path, deps in graph.items():
        for dep in deps:
            if dep == path:
                raise GitkubeError(
                    f"dependsOn: app {path} depends on itself", file=_where(apps[path])
                )
            if dep not in apps:
                raise GitkubeError(
                    f'dependsOn: no app "{dep}" renders any object (apps: {", ".join(apps)})',
                    file=_where(apps[path]),
                )
    cycle = find_cycle(graph)
    if cycle:
        files = ", ".join(dict.fromkeys(_where(apps[p]) for p in cycle))
        raise GitkubeError(
            f"dependsOn: the apps depend on each other in a cycle ({' -> '.join([*cycle, cycle[0]])}); "
            f"see {files}",
            file=_where(apps[cycle[0]]),
        )


def check_wave_and_hook(resource: Resource) -> None:
    """The part of :func:`check_order` about one object: its wave and hook annotations."""
    wave = resource.annotations().get(WAVE_ANNOTATION)
    if wave is not None and not _is_int(wave):
        raise GitkubeError(
            f'{WAVE_ANNOTATION}: "{wave}" is not an integer (waves are "-1", "0", "1", ...)',
            file=resource.source,
            app=resource.app.path,
            obj=resource.describe(),
        )
    _check_hook(resource)


def _check_hook(resource: Resource) -> None:
    annotations = resource.annotations()
    point = annotations.get(HOOK_ANNOTATION)
    policy = annotations.get(HOOK_DELETE_ANNOTATION)
    if point is None and policy is None:
        return
    problem = None
    if point is None:
        problem = f"{HOOK_DELETE_ANNOTATION} is set but {HOOK_ANNOTATION} is not"
    elif resource.kind not in HOOK_KINDS:
        problem = f"{HOOK_ANNOTATION}: only a Job or a Pod can be a hook, not a {resource.kind}"
    elif point not in HOOK_POINTS:
        problem = f'{HOOK_ANNOTATION}: "{point}" is not one of {", ".join(HOOK_POINTS)}'
    elif policy is not None and policy not in DELETE_POLICIES:
        problem = f'{HOOK_DELETE_ANNOTATION}: "{policy}" is not one of {", ".join(DELETE_POLICIES)}'
    elif len(resource.name) > MAX_HOOK_NAME:
        problem = (
            f"a hook's name may have at most {MAX_HOOK_NAME} characters (each run adds "
            "-<8 characters of the rendered commit)"
        )
    if problem:
        raise GitkubeError(
            problem, file=resource.source, app=resource.app.path, obj=resource.describe()
        )


def find_cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """One dependency cycle of ``graph`` (app -> the apps it depends on), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return path[path.index(dep) :]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _is_int(value: object) -> bool:
    try:
        int(str(value))
    except ValueError:
        return False
    return True
