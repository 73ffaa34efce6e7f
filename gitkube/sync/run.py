"""``gitkube plan`` and ``gitkube sync``: make the cluster and GCE equal to a rendered commit.

The sync side never runs repo code or render hooks (DESIGN §2): it reads the
rendered commit's files and inventory, and the installed targets apply them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gitkube.domain.notify import DEGRADED, DRIFT_REPAIRED, FAILED, REFUSED, SYNCED, Event
from gitkube.domain.plugin_manager import PluginHooks, build_plugin_manager
from gitkube.domain.targets import (
    Action,
    Change,
    DesiredObject,
    Handover,
    ObjectId,
    SyncResult,
    SyncSettings,
    SyncState,
    Target,
)
from gitkube.primitives.errors import GitkubeError, SafetyRefusal
from gitkube.primitives.kubeapi import KubeApi
from gitkube.primitives.kubeyaml import room_for_nesting
from gitkube.sync.desired import DesiredState, load_desired
from gitkube.sync.hooks import (
    POST_SYNC,
    PRE_SYNC,
    SYNC_FAILED,
    HookPlan,
    hook_changes,
    plan_hooks,
    run_hooks,
    split_hooks,
)
from gitkube.sync.order import Phase, dependencies, phases
from gitkube.sync.sops import decrypt_desired
from gitkube.sync.source import open_source
from gitkube.sync.trust import TrustOptions, check_trust
from gitkube.sync.wait import (
    CHANGED,
    AppHealth,
    changed_objects,
    health_snapshot,
    wait_for_health,
)

# How long a phase may take to become healthy before its dependents are given up
# (without --wait, which sets it).
PHASE_TIMEOUT = 300.0


@dataclass(frozen=True)
class SyncOptions:
    repo: str = "."
    ref: str = "refs/heads/rendered"
    kubeconfig: str | None = None
    context: str | None = None
    gce_endpoint: str | None = None
    only: frozenset[str] | None = None
    adopt: bool = False
    force_conflicts: bool = False
    allow_replace: bool = False
    allow_mass_prune: bool = False
    trust: TrustOptions = field(default_factory=TrustOptions)  # signatures, rewinds, re-render
    age_key_file: str | None = None  # decrypts SOPS Secrets (gitkube/sync/sops.py)
    handover: Handover | None = None  # the agent's shard, when sharded (gitkube/sync/shard.py)


@dataclass
class PreparedRun:
    """A computed plan with its targets, ready to be applied."""

    desired: DesiredState
    targets: list[Target]
    assigned: dict[str, list[DesiredObject]]
    state: SyncState
    result: SyncResult
    hooks: PluginHooks
    hook_plan: HookPlan = field(default_factory=HookPlan)
    hook_objects: dict[ObjectId, DesiredObject] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)


def _settings(options: SyncOptions, desired: DesiredState) -> SyncSettings:
    return SyncSettings(
        config=desired.config,
        applyset=desired.applyset,
        kubeconfig=options.kubeconfig,
        context=options.context,
        gce_endpoint=options.gce_endpoint or desired.config.gce_endpoint,
        adopt=options.adopt,
        force_conflicts=options.force_conflicts,
        allow_replace=options.allow_replace,
        rendered_commit=desired.commit,
        source_commit=desired.source_commit,
        handover=options.handover,
    )


def prepare(
    options: SyncOptions,
    desired: DesiredState | None = None,
    *,
    enforce_safety: bool = True,
    hooks: PluginHooks | None = None,
    api: KubeApi | None = None,
) -> PreparedRun:
    """Read the rendered commit, observe every target and plan. Writes nothing.

    With ``enforce_safety`` a plan that breaks a prune rule raises
    :class:`SafetyRefusal`; without, the refusal is recorded on the result so
    ``gitkube plan`` can show what would be refused and why. ``api`` is the
    Kubernetes client every target of the run shares (the agent's); without
    it, the run connects once, when a target first needs the cluster.
    """
    if options.kubeconfig is not None and not os.path.isfile(options.kubeconfig):
        # Checked first: a typo must not surface as a cloud credentials error.
        raise GitkubeError("kubeconfig not found", file=options.kubeconfig)
    if desired is None:
        desired = load_desired(open_source(options.repo), options.ref)
    if not desired.objects:
        raise SafetyRefusal(
            f"rendered commit {desired.commit[:12]} has no objects; refusing to plan the "
            "deletion of everything gitkube owns"
        )
    # The parent the trust step reads is the one the targets see; one client for all.
    state = SyncState(kube=api)
    # Before any target looks: an untrusted commit is not even planned.
    check_trust(
        options.trust,
        desired,
        repo=options.repo,
        kubeconfig=options.kubeconfig,
        context=options.context,
        kubernetes=options.only is None or "kubernetes" in options.only,
        state=state,
        record=enforce_safety,  # plan writes nothing, not even a refusal's Event
    )
    # After the trust checks (they read the commit as rendered), before any target looks.
    desired = decrypt_desired(desired, options.age_key_file, options.kubeconfig, options.context)
    settings = _settings(options, desired)
    hooks = hooks or build_plugin_manager()
    targets = hooks.sync_targets(settings)
    assigned: dict[str, list[DesiredObject]] = {t.name: [] for t in targets}
    # Hooks are planned with their target's objects but applied by gitkube.sync.hooks.
    plain, hook_instances = split_hooks(desired.objects, desired.commit)
    hook_assigned: dict[str, list[DesiredObject]] = {t.name: [] for t in targets}
    for objects, into in ((plain, assigned), (hook_instances, hook_assigned)):
        for obj in objects:
            target = next((t for t in targets if t.handles(obj)), None)
            if target is None:
                raise GitkubeError(f"no installed sync target handles {obj.id}", file=obj.path)
            into[target.name].append(obj)
    if options.only:
        unknown = options.only - {t.name for t in targets}
        if unknown:
            raise GitkubeError(
                f"--only {', '.join(sorted(unknown))}: no such target "
                f"(targets: {', '.join(t.name for t in targets)})"
            )
        # The other targets' objects are neither planned nor pruned this run.
        targets = [t for t in targets if t.name in options.only]
    changes: list[Change] = []
    for target in targets:
        changes.extend(target.plan(assigned[target.name] + hook_assigned[target.name], state))
    if not desired.config.prune:
        changes = [c for c in changes if c.action is not Action.DELETE]
    hook_plan = plan_hooks(changes, hook_instances)
    result = SyncResult(desired.commit, desired.source_commit, changes, applied=False)
    result.hooks = hook_plan.as_dicts() or None
    in_hooks = hook_changes(hook_plan)
    ordered = phases([c for c in changes if (c.target, c.id) not in in_hooks], desired.objects)
    if len(ordered) > 1:
        waits_for = dependencies(desired.objects)
        result.phases = [p.as_dict(waits_for) for p in ordered]
    try:
        _check_prune_fraction(result, targets, desired, options)
    except SafetyRefusal as refusal:
        if enforce_safety:
            raise
        result.refused = refusal.message
    return PreparedRun(
        desired,
        targets,
        assigned,
        state,
        result,
        hooks,
        hook_plan,
        {o.id: o for o in hook_instances},
        ordered,
    )


def _check_prune_fraction(
    result: SyncResult, targets: Sequence[Target], desired: DesiredState, options: SyncOptions
) -> None:
    deletes = result.count(Action.DELETE)
    owned = sum(t.owned_count() for t in targets)
    limit = desired.config.max_prune_fraction
    if deletes and owned and deletes / owned > limit and not options.allow_mass_prune:
        raise SafetyRefusal(
            f"the plan deletes {deletes} of the {owned} objects gitkube owns "
            f"({deletes / owned:.0%} > sync.maxPruneFraction {limit:.0%}); "
            "nothing was changed. Check the rendered commit, or rerun with --allow-mass-prune"
        )


@room_for_nesting()
def plan(options: SyncOptions) -> SyncResult:
    return prepare(options, enforce_safety=False).result


@room_for_nesting()
def sync(
    options: SyncOptions,
    *,
    should_continue: Callable[[], bool] = lambda: True,
    desired: DesiredState | None = None,
    wait: float | None = None,
    report: Callable[[list[AppHealth]], None] | None = None,
    assess_health: bool = False,
    drift: bool = False,
    known_degraded: frozenset[str] = frozenset(),
    api: KubeApi | None = None,
) -> SyncResult:
    """Plan, then apply: creates and updates target by target, deletes last and reversed.

    Nothing is written when any change is blocked. ``should_continue`` is
    asked between steps (the agent answers False once it lost its lease or got
    SIGTERM), so a run stops between writes, never inside one. With ``wait``
    (seconds), the objects the run changed are then polled until their apps
    are healthy (see :mod:`gitkube.sync.wait`); ``result.health`` says how
    that went, and ``report`` hears every poll. ``assess_health`` (the agent)
    judges every app once instead, from what the plan listed. Either verdict
    is recorded with the run (the ApplySet parent, ``gitkube status``).

    Every ``gitkube_notify`` hook hears how the run went: refused, failed,
    synced (or ``drift``: the agent re-applied without a new commit), and
    apps that became Degraded (those in ``known_degraded`` already were).
    """
    if desired is None:
        desired = load_desired(open_source(options.repo), options.ref)
    hooks = build_plugin_manager()
    events = _Events(hooks, _settings(options, desired), desired)
    try:
        run = prepare(options, desired, hooks=hooks, api=api)
    except SafetyRefusal as refusal:
        events.send(REFUSED, refusal.message)
        raise
    try:
        result = _apply(run, should_continue, wait, report, assess_health)
    except GitkubeError as exc:
        events.send(FAILED, exc.message)
        raise
    events.after(result, drift=drift, known_degraded=known_degraded)
    return result


def _apply(
    run: PreparedRun,
    should_continue: Callable[[], bool],
    wait: float | None,
    report: Callable[[list[AppHealth]], None] | None,
    assess_health: bool,
) -> SyncResult:
    result = run.result
    blocked = [c for c in result.changes if c.blocked]
    if blocked:
        details = "; ".join(f"{c.id}: {c.blocked}" for c in blocked[:5])
        raise GitkubeError(
            f"{len(blocked)} change(s) cannot be made, nothing was changed: {details}"
        )
    result.applied = True
    timeout = PHASE_TIMEOUT if wait is None else wait

    def hooks_of(app: str, point: str) -> None:
        run_hooks(
            run.hook_plan, app, point, run.targets, run.hook_objects, run.state, timeout=timeout
        )
        result.hooks = run.hook_plan.as_dicts() or None

    try:
        ordered = run.phases
        last_phase = {app: n for n, phase in enumerate(ordered, 1) for app in phase.apps}
        started: set[str] = set()
        for number, phase in enumerate(ordered, 1):
            for app in phase.apps:
                if app not in started:
                    started.add(app)
                    hooks_of(app, PRE_SYNC)
            for target in run.targets:
                if not should_continue():
                    raise GitkubeError("stopped before finishing (lease lost or shutting down)")
                target.apply([c for c in phase.changes if c.target == target.name], run.state)
            finishing = [
                app
                for app in phase.apps
                if last_phase[app] == number and run.hook_plan.for_app(app, POST_SYNC)
            ]
            if number < len(ordered) or finishing:
                _wait_for_phase(run, number, phase, ordered[number:], wait, report)
            for app in finishing:
                hooks_of(app, POST_SYNC)
        for target in reversed(run.targets):
            if not should_continue():
                raise GitkubeError("stopped before pruning (lease lost or shutting down)")
            target.delete([c for c in result.changes if c.target == target.name], run.state)
        if wait is not None:
            outcome = wait_for_health(
                run.targets,
                changed_objects(result, run.assigned),
                run.hooks,
                timeout=wait,
                report=report,
            )
            result.health = outcome.as_dict()
        if wait is not None or assess_health:
            # Every app, for the record: unchanged objects are judged from the
            # plan's LISTs, so a run that changed nothing makes no request here.
            snapshot = health_snapshot(run.targets, result, run.assigned, run.hooks)
            result.app_health = snapshot.as_dict()
    except GitkubeError as exc:
        result.error = str(exc)
        _sync_failed_hooks(run, result, timeout)
        _finish(run, result)
        raise
    _finish(run, result)
    return result


def _sync_failed_hooks(run: PreparedRun, result: SyncResult, timeout: float) -> None:
    """Run every sync-failed hook of the apps this sync changes; their own failure
    is added to the run's error, never hides it."""
    for app, point in sorted(run.hook_plan.changes):
        if point != SYNC_FAILED:
            continue
        try:
            run_hooks(
                run.hook_plan, app, point, run.targets, run.hook_objects, run.state, timeout=timeout
            )
        except GitkubeError as exc:
            result.error = f"{result.error}; {exc.message}"
    result.hooks = run.hook_plan.as_dicts() or None


def _wait_for_phase(
    run: PreparedRun,
    number: int,
    phase: Phase,
    later: Sequence[Phase],
    wait: float | None,
    report: Callable[[list[AppHealth]], None] | None,
) -> None:
    """Wait until what ``phase`` changed is healthy; otherwise stop before the later phases."""
    changed = {(c.target, c.id) for c in phase.changes if c.action in CHANGED}
    objects = {
        target: [o for o in objects if (target, o.id) in changed]
        for target, objects in run.assigned.items()
    }
    timeout = PHASE_TIMEOUT if wait is None else wait
    outcome = wait_for_health(run.targets, objects, run.hooks, timeout=timeout, report=report)
    if outcome.healthy:
        return
    waiting = sorted({app for p in later for app in p.apps})
    why = (f"timed out after {timeout:g}s: " if outcome.timed_out else "") + "; ".join(
        a.describe() for a in outcome.problems()[:5]
    )
    raise GitkubeError(
        f"phase {number} ({', '.join(phase.apps)}, wave {phase.wave}) is not healthy: {why}; "
        f"not applied: {', '.join(waiting)} (they wait for it); nothing pruned"
    )


class _Events:
    """Turns a run's outcome into notifications (see :mod:`gitkube.domain.notify`)."""

    def __init__(self, hooks: PluginHooks, settings: SyncSettings, desired: DesiredState) -> None:
        self.hooks = hooks
        self.settings = settings
        self.desired = desired

    def send(self, kind: str, message: str, apps: Sequence[str] = (), **counts: int) -> None:
        self.hooks.notify(
            Event(
                kind=kind,
                cluster=self.desired.config.cluster.name,
                message=message,
                commit=self.desired.commit,
                source_commit=self.desired.source_commit,
                apps=tuple(sorted(apps)),
                counts=counts,
            ),
            self.settings,
        )

    def after(self, result: SyncResult, *, drift: bool, known_degraded: frozenset[str]) -> None:
        changed = [c for c in result.changes if c.action is not Action.UNCHANGED]
        if changed:
            counts = {
                "created": result.count(Action.CREATE),
                "updated": result.count(Action.UPDATE) + result.count(Action.REPLACE),
                "deleted": result.count(Action.DELETE),
            }
            summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
            self.send(
                DRIFT_REPAIRED if drift else SYNCED,
                f"{'repaired drift: ' if drift else ''}{summary}",
                sorted({c.app for c in changed if c.app}),
                **counts,
            )
        verdicts = (result.health or result.app_health or {}).get("apps", ())
        degraded = [
            a for a in verdicts if a["state"] == "Degraded" and a["app"] not in known_degraded
        ]
        if degraded:
            self.send(
                DEGRADED,
                "; ".join(
                    f"{a['app']}: {a['object']}: {a['reason']}: {a['message']}"[:300]
                    for a in degraded[:5]
                ),
                [a["app"] for a in degraded],
            )


def _finish(run: PreparedRun, result: SyncResult) -> None:
    for target in run.targets:
        try:
            target.finish(result)
        except GitkubeError:
            if result.error is None:
                raise
