"""``gitkube sync --wait``: after the apply, wait until what changed works.

Every object the run created, updated or replaced is read back from its
target on each poll and judged by the ``gitkube_health`` hook; an app is as
healthy as its least healthy object. Waiting ends when every changed app is
Healthy, as soon as one is Degraded, or at the timeout. A run that changed
nothing waits for nothing and makes no request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.health import Health, HealthState, worst
from gitkube.domain.plugin_manager import PluginHooks
from gitkube.domain.targets import Action, DesiredObject, ObjectId, SyncResult, Target

CHANGED = (Action.CREATE, Action.UPDATE, Action.REPLACE)


@dataclass
class AppHealth:
    """One app's verdict and the object that decided it."""

    app: str
    health: Health
    object: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "state": self.health.state.value,
            "reason": self.health.reason,
            "message": self.health.message,
            "object": self.object,
        }

    def describe(self) -> str:
        where = f"{self.object}: " if self.object else ""
        return f"{self.app}: {where}{self.health.describe()}"


@dataclass
class WaitOutcome:
    apps: list[AppHealth] = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        return not self.timed_out and all(a.health.state is HealthState.HEALTHY for a in self.apps)

    def problems(self) -> list[AppHealth]:
        return [a for a in self.apps if a.health.state is not HealthState.HEALTHY]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "timedOut": self.timed_out,
            "seconds": round(self.seconds, 1),
            "apps": [a.as_dict() for a in self.apps],
        }


def changed_objects(
    result: SyncResult, assigned: Mapping[str, Sequence[DesiredObject]]
) -> dict[str, list[DesiredObject]]:
    """The objects the run changed, by target name."""
    changed_ids = {(c.target, c.id) for c in result.changes if c.action in CHANGED}
    return {
        target: [o for o in objects if (target, o.id) in changed_ids]
        for target, objects in assigned.items()
        if any((target, o.id) in changed_ids for o in objects)
    }


def wait_for_health(
    targets: Sequence[Target],
    objects: Mapping[str, Sequence[DesiredObject]],
    hooks: PluginHooks,
    *,
    timeout: float,
    poll: float = 2.0,
    report: Callable[[list[AppHealth]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Poll the changed objects until every app is Healthy, one is Degraded, or time is up."""
    started = clock()
    by_name = {t.name: t for t in targets}
    outcome = WaitOutcome()
    if not any(objects.values()):
        return outcome
    while True:
        judged: dict[str, list[tuple[str, Health]]] = {}
        for target_name, wanted in objects.items():
            live = by_name[target_name].observe(wanted)
            for obj in wanted:
                health = hooks.health(obj.body, live.get(obj.id))
                judged.setdefault(obj.app, []).append((_describe(obj.id), health))
        outcome.apps = [_verdict(app, judged[app]) for app in sorted(judged)]
        outcome.seconds = clock() - started
        if report is not None:
            report(outcome.apps)
        states = {a.health.state for a in outcome.apps}
        if HealthState.DEGRADED in states or states == {HealthState.HEALTHY}:
            return outcome
        if outcome.seconds + poll > timeout:
            outcome.timed_out = True
            return outcome
        sleep(poll)


def health_snapshot(
    targets: Sequence[Target],
    result: SyncResult,
    assigned: Mapping[str, Sequence[DesiredObject]],
    hooks: PluginHooks,
) -> WaitOutcome:
    """Every app's health now, without waiting (the agent's view after each run).

    Objects the run did not change are judged from what the plan already
    listed, so a cycle with no change makes no request; changed ones are
    read back.
    """
    listed = {
        (c.target, c.id): c.live
        for c in result.changes
        if c.action is Action.UNCHANGED and c.live is not None
    }
    to_read = {
        target: [o for o in objects if (target, o.id) not in listed]
        for target, objects in assigned.items()
    }
    by_name = {t.name: t for t in targets}
    judged: dict[str, list[tuple[str, Health]]] = {}
    for target_name, objects in assigned.items():
        if target_name not in by_name:
            continue  # left out of this run (--only)
        wanted = to_read.get(target_name) or []
        read = by_name[target_name].observe(wanted) if wanted else {}
        for obj in objects:
            live = listed.get((target_name, obj.id), read.get(obj.id))
            judged.setdefault(obj.app, []).append((_describe(obj.id), hooks.health(obj.body, live)))
    return WaitOutcome(apps=[_verdict(app, judged[app]) for app in sorted(judged)])


def _verdict(app: str, healths: list[tuple[str, Health]]) -> AppHealth:
    verdict = worst(h for _name, h in healths)
    deciding = next((name for name, h in healths if h is verdict), None)
    return AppHealth(app, verdict, None if verdict.state is HealthState.HEALTHY else deciding)


def _describe(oid: ObjectId) -> str:
    return f"{oid.kind} {oid.name}"
