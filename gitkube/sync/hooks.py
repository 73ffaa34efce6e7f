"""Hook Jobs and Pods: run at a point of a sync that changes their app.

A Job or Pod annotated ``gitkube.dev/hook: pre-sync | post-sync |
sync-failed`` is not applied with its app's objects. A sync that changes the
app (creates, updates, replaces or deletes any of its other objects) creates
it fresh, named after the rendered commit (``migrate`` -> ``migrate-1a2b3c4d``),
at that point: pre-sync before the app's first object is written (a failure
writes nothing of the app and prunes nothing), post-sync once the app is
applied and healthy, sync-failed when the sync fails. Sync waits for it to
finish (a Job Complete or Failed, a Pod Succeeded or Failed) up to a
timeout; a hook that fails or times out fails the sync.
``gitkube.dev/hook-delete: on-success`` (the default), ``always`` or
``never`` decides whether it is deleted afterwards. Its instances carry the
ApplySet label like every object gitkube owns, but the normal prune leaves
them to this module (a running hook is never deleted under it).

A sync that changes nothing of an app runs none of its hooks: re-running a
sync runs no hook. Render and ``gitkube diff`` only render hooks; only sync
runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.keys import HOOK_ANNOTATION, HOOK_DELETE_ANNOTATION, HOOK_OF_ANNOTATION
from gitkube.domain.targets import Action, Change, DesiredObject, SyncState, Target
from gitkube.primitives.errors import GitkubeError

PRE_SYNC = "pre-sync"
POST_SYNC = "post-sync"
SYNC_FAILED = "sync-failed"
HOOK_POINTS = (PRE_SYNC, POST_SYNC, SYNC_FAILED)
DELETE_POLICIES = ("on-success", "always", "never")
HOOK_KINDS = ("Job", "Pod")
SUFFIX_LENGTH = 8  # characters of the rendered commit in an instance's name


def annotations_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return (body.get("metadata") or {}).get("annotations") or {}


def is_hook(obj: DesiredObject) -> bool:
    return str(obj.body.get("kind")) in HOOK_KINDS and HOOK_ANNOTATION in annotations_of(obj.body)


def instance(obj: DesiredObject, commit: str) -> DesiredObject:
    """The object a sync of ``commit`` creates for the hook ``obj``."""
    body = dict(obj.body)
    meta = dict(body.get("metadata") or {})
    name = str(meta.get("name", ""))
    meta["name"] = f"{name}-{commit[:SUFFIX_LENGTH]}"
    meta["annotations"] = {**annotations_of(obj.body), HOOK_OF_ANNOTATION: name}
    body["metadata"] = meta
    return DesiredObject(body=body, path=obj.path, app=obj.app)


@dataclass
class HookRun:
    """One hook's run in this sync: what it was, how it ended, how long it took."""

    app: str
    point: str
    name: str  # the instance's name
    hook: str  # the name in the rendered commit
    file: str
    result: str = "Pending"  # Succeeded, Failed, TimedOut, Skipped
    message: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "hook": self.point,
            "name": self.name,
            "of": self.hook,
            "file": self.file,
            "result": self.result,
            "message": self.message,
            "seconds": round(self.seconds, 1),
        }


@dataclass
class HookPlan:
    """The hooks a sync runs, by app and point, and their instances' planned changes."""

    changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    runs: list[HookRun] = field(default_factory=list)

    def for_app(self, app: str, point: str) -> list[Change]:
        return self.changes.get((app, point), [])

    def as_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.runs]


def split_hooks(
    objects: Sequence[DesiredObject], commit: str
) -> tuple[list[DesiredObject], list[DesiredObject]]:
    """The objects applied as usual, and the hook instances of this commit."""
    plain = [o for o in objects if not is_hook(o)]
    hooks = [instance(o, commit) for o in objects if is_hook(o)]
    return plain, hooks


def plan_hooks(changes: list[Change], instances: Sequence[DesiredObject]) -> HookPlan:
    """Keep the hook changes of the apps this plan changes; drop the others from ``changes``."""
    ids = {o.id: o for o in instances}
    changing = {
        c.app for c in changes if c.id not in ids and c.action is not Action.UNCHANGED and c.app
    }
    plan = HookPlan()
    kept = []
    for change in changes:
        obj = ids.get(change.id)
        if obj is None:
            kept.append(change)
            continue
        if obj.app not in changing:
            continue  # the app does not change: its hooks do not run
        point = str(annotations_of(obj.body)[HOOK_ANNOTATION])
        if change.action in (Action.UNCHANGED, Action.UPDATE):
            # This commit's instance exists already (kept by hook-delete: never, or
            # failed): it is run again, fresh, so the hook really runs for this sync
            # (a Job's template cannot be updated in place anyway).
            change.action = Action.REPLACE
            change.note = "hook: run again for this sync"
        else:
            change.note = f"hook: runs {point}"
        plan.changes.setdefault((obj.app, point), []).append(change)
        plan.runs.append(
            HookRun(
                obj.app,
                point,
                obj.id.name,
                str(annotations_of(obj.body)[HOOK_OF_ANNOTATION]),
                obj.path,
                result="Planned",
            )
        )
        kept.append(change)
    changes[:] = kept
    return plan


def hook_changes(plan: HookPlan) -> set[tuple[str, Any]]:
    return {(c.target, c.id) for cs in plan.changes.values() for c in cs}


def outcome(live: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """``Succeeded``/``Failed`` once a Job or Pod finished, else ``None``."""
    if live is None:
        return None, "not created yet"
    status = live.get("status") or {}
    if live.get("kind") == "Pod":
        phase = status.get("phase")
        if phase in ("Succeeded", "Failed"):
            return str(phase), str(status.get("message") or status.get("reason") or "")
        return None, str(phase or "Pending")
    for condition in status.get("conditions") or ():
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "Succeeded", str(condition.get("message", ""))
        if condition.get("type") == "Failed":
            reason = str(condition.get("reason", "Failed"))
            return "Failed", ": ".join(p for p in (reason, condition.get("message", "")) if p)
    return None, "running"


def run_hooks(
    plan: HookPlan,
    app: str,
    point: str,
    targets: Sequence[Target],
    desired: Mapping[Any, DesiredObject],
    state: SyncState,
    *,
    timeout: float,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create the app's hooks of ``point``, wait for each, apply the delete policy.

    Raises :class:`GitkubeError` naming the hook when one fails or times out.
    """
    by_name = {t.name: t for t in targets}
    for change in plan.for_app(app, point):
        run = next(r for r in plan.runs if r.name == change.id.name and r.point == point)
        target = by_name[change.target]
        obj = desired[change.id]
        started = clock()
        target.apply([change], state)
        result, message = None, ""
        live: Mapping[str, Any] | None = None
        while True:
            live = target.observe([obj]).get(obj.id)
            result, message = outcome(live)
            run.seconds = clock() - started
            if result is not None or run.seconds + poll > timeout:
                break
            sleep(poll)
        run.result, run.message = result or "TimedOut", message
        policy = str(annotations_of(obj.body).get(HOOK_DELETE_ANNOTATION, "on-success"))
        if (
            live is not None
            and result is not None
            and (policy == "always" or (policy == "on-success" and result == "Succeeded"))
        ):
            target.delete([Change(change.target, Action.DELETE, obj.id, app=app, live=live)], state)
        if run.result != "Succeeded":
            why = f"did not finish within {timeout:g}s" if result is None else message
            raise GitkubeError(
                f"{point} hook {obj.id.kind} {obj.id.name} of app {app} "
                f"{'timed out' if result is None else 'failed'}: {why}",
                file=obj.path,
                app=app,
            )
