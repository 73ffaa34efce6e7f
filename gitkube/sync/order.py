"""The order of an apply: apps after the apps they depend on, objects by wave.

Render writes each app's ``dependsOn`` on its objects
(:data:`~gitkube.domain.keys.DEPENDS_ON_ANNOTATION`) and leaves
``gitkube.dev/wave`` as the user wrote it; render has already refused
cycles, unknown apps and waves that are not integers. Here the changes of a
plan are cut into phases: an app's level is one more than the highest level
of the apps it depends on, and a phase is one (level, wave). Sync applies the
phases in order and waits for each to be healthy before the next
(:mod:`gitkube.sync.run`); a plan without dependencies or waves is one phase,
applied exactly as before. Deletes are not phased: they run last, after
every phase succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.keys import DEPENDS_ON_ANNOTATION, WAVE_ANNOTATION
from gitkube.domain.targets import Action, Change, DesiredObject
from gitkube.primitives.errors import GitkubeError


@dataclass
class Phase:
    """Changes applied together, then waited healthy before the next phase."""

    level: int
    wave: int
    changes: list[Change] = field(default_factory=list)

    @property
    def apps(self) -> list[str]:
        return sorted({c.app for c in self.changes if c.app})

    def as_dict(self, waits_for: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "apps": self.apps,
            "waitsFor": {app: list(waits_for[app]) for app in self.apps if waits_for.get(app)},
            "changes": sum(1 for c in self.changes if c.action is not Action.UNCHANGED),
        }


def dependencies(objects: Sequence[DesiredObject]) -> dict[str, list[str]]:
    """Each app's dependencies, as render wrote them on its objects."""
    deps: dict[str, list[str]] = {}
    for obj in objects:
        annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(DEPENDS_ON_ANNOTATION)
        deps.setdefault(obj.app, [])
        if value:
            deps[obj.app] = sorted(set(deps[obj.app]) | set(str(value).split(",")))
    return deps


def levels(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """An app's level: 0 without dependencies, else one above its highest dependency."""
    found: dict[str, int] = {}

    def level(app: str, seen: tuple[str, ...]) -> int:
        if app in found:
            return found[app]
        if app in seen:
            # Render refuses cycles; a hand-made rendered commit still must not loop.
            raise GitkubeError(f"dependsOn: a dependency cycle through app {app}")
        below = [level(d, (*seen, app)) for d in deps.get(app, ()) if d in deps]
        found[app] = 1 + max(below) if below else 0
        return found[app]

    for app in sorted(deps):
        level(app, ())
    return found


def wave_of(body: Mapping[str, Any] | None) -> int:
    annotations = ((body or {}).get("metadata") or {}).get("annotations") or {}
    try:
        return int(str(annotations.get(WAVE_ANNOTATION, 0)))
    except ValueError:
        return 0  # render refuses such a wave; a hand-made commit gets wave 0


def phases(changes: Sequence[Change], objects: Sequence[DesiredObject]) -> list[Phase]:
    """The creates, updates and unchanged objects of a plan, cut into ordered phases."""
    app_levels = levels(dependencies(objects))
    by_key: dict[tuple[int, int], Phase] = {}
    loose: list[Change] = []
    for change in changes:
        if change.action is Action.DELETE:
            continue
        if not change.app:
            loose.append(change)  # a namespace gitkube creates: before everything
            continue
        key = (app_levels.get(change.app, 0), wave_of(change.desired))
        by_key.setdefault(key, Phase(*key)).changes.append(change)
    ordered = [by_key[k] for k in sorted(by_key)]
    if loose:
        if not ordered:
            ordered = [Phase(0, 0)]
        ordered[0].changes[:0] = loose
    return ordered
