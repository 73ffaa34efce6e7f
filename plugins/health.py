"""health: whether applied objects work, read from their live status.

The rules follow ``kubectl rollout status`` for workloads, ``kubectl wait``'s
conditions for the rest, and the kstatus convention of cli-utils (a ``Ready``
or ``Available`` condition) for kinds it does not know by name. Compute
Engine resources arrive in the Compute API's own JSON (what the GCE target
lists). A plugin that knows a kind better answers first (``gitkube_health``
takes the first answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitkube.plugin_api import ATTACH_ANNOTATION, HEALTHY, Health, HealthState, hookimpl

Status = Mapping[str, Any]
PROGRESSING, DEGRADED = HealthState.PROGRESSING, HealthState.DEGRADED


def _condition(live: Status, kind: str) -> Mapping[str, Any] | None:
    for condition in (live.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def _is_true(live: Status, kind: str) -> bool:
    condition = _condition(live, kind)
    return condition is not None and condition.get("status") == "True"


def _generation_pending(live: Status) -> Health | None:
    status = live.get("status") or {}
    generation = (live.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        return Health(PROGRESSING, "Pending", "waiting for the controller to see the change")
    return None


def _deployment(live: Status) -> Health:
    pending = _generation_pending(live)
    if pending:
        return pending
    progressing = _condition(live, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(DEGRADED, "ProgressDeadlineExceeded", str(progressing.get("message", "")))
    status = live.get("status") or {}
    want = (live.get("spec") or {}).get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return Health(PROGRESSING, "Rollout", f"{updated} of {want} replicas updated")
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return Health(PROGRESSING, "Rollout", f"{old} old replicas pending termination")
    available = status.get("availableReplicas", 0)
    if available < updated:
        return Health(
            PROGRESSING, "Rollout", f"{available} of {updated} updated replicas available"
        )
    return HEALTHY


def _statefulset(live: Status) -> Health:
    pending = _generation_pending(live)
    if pending:
        return pending
    status = live.get("status") or {}
    spec = live.get("spec") or {}
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return HEALTHY  # kubectl: rollout status is not tracked for OnDelete
    want = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return Health(PROGRESSING, "Rollout", f"{ready} of {want} replicas ready")
    if status.get("updateRevision") and status.get("updateRevision") != status.get(
        "currentRevision"
    ):
        updated = status.get("updatedReplicas", 0)
        return Health(PROGRESSING, "Rollout", f"{updated} of {want} replicas updated")
    return HEALTHY


def _daemonset(live: Status) -> Health:
    pending = _generation_pending(live)
    if pending:
        return pending
    status = live.get("status") or {}
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    if updated < want:
        return Health(PROGRESSING, "Rollout", f"{updated} of {want} pods updated")
    available = status.get("numberAvailable", 0)
    if available < want:
        return Health(PROGRESSING, "Rollout", f"{available} of {want} pods available")
    return HEALTHY


def _job(live: Status) -> Health:
    if _is_true(live, "Complete"):
        return HEALTHY
    failed = _condition(live, "Failed")
    if failed and failed.get("status") == "True":
        return Health(DEGRADED, str(failed.get("reason", "Failed")), str(failed.get("message", "")))
    return Health(PROGRESSING, "Running", "the job has not completed yet")


def _pvc(live: Status) -> Health:
    phase = (live.get("status") or {}).get("phase")
    if phase == "Bound":
        return HEALTHY
    if phase == "Lost":
        return Health(DEGRADED, "Lost", "the claim lost its volume")
    return Health(PROGRESSING, str(phase or "Pending"), "the claim is not bound yet")


def _service(live: Status) -> Health:
    if (live.get("spec") or {}).get("type") != "LoadBalancer":
        return HEALTHY
    if ((live.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return HEALTHY
    return Health(PROGRESSING, "Pending", "no external IP assigned yet")


def _crd(live: Status) -> Health:
    if _is_true(live, "Established"):
        return HEALTHY
    names = _condition(live, "NamesAccepted")
    if names and names.get("status") == "False":
        return Health(
            DEGRADED, str(names.get("reason", "NamesNotAccepted")), str(names.get("message", ""))
        )
    return Health(PROGRESSING, "NotEstablished", "the API server has not established the CRD yet")


def _namespace(live: Status) -> Health:
    phase = (live.get("status") or {}).get("phase", "Active")
    if phase == "Active":
        return HEALTHY
    return Health(PROGRESSING, str(phase), "the namespace is being deleted")


def _pod(live: Status) -> Health:
    status = live.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded" or (phase == "Running" and _is_true(live, "Ready")):
        return HEALTHY
    if phase == "Failed":
        return Health(DEGRADED, str(status.get("reason", "Failed")), str(status.get("message", "")))
    for container in status.get("containerStatuses") or ():
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff"):
            return Health(DEGRADED, str(waiting["reason"]), str(waiting.get("message", "")))
    return Health(PROGRESSING, str(phase or "Pending"), "the pod is not ready yet")


def _conditions(live: Status) -> Health | None:
    """kstatus: a Ready (or Available) condition decides for kinds without a rule."""
    for kind in ("Ready", "Available"):
        condition = _condition(live, kind)
        if condition is None:
            continue
        if condition.get("status") == "True":
            return HEALTHY
        reason = str(condition.get("reason", "NotReady"))
        message = str(condition.get("message", ""))
        if _is_true(live, "Stalled") or "fail" in reason.lower() or "error" in reason.lower():
            return Health(DEGRADED, reason, message)
        return Health(PROGRESSING, reason, message)
    return None


def _gce(obj: Status, live: Status) -> Health:
    """Compute Engine resources, from the Compute API's JSON."""
    kind = obj.get("kind")
    status = str(live.get("status", ""))
    if kind == "ComputeAddress" and status and status not in ("RESERVED", "IN_USE"):
        return Health(PROGRESSING, status, "the address is not reserved yet")
    if kind == "ComputeDisk" and status and status != "READY":
        return Health(
            DEGRADED if status == "FAILED" else PROGRESSING, status, "the disk is not ready"
        )
    if (
        kind == "ComputeDisk"
        and ((obj.get("metadata") or {}).get("annotations") or {}).get(ATTACH_ANNOTATION)
        and not live.get("users")
    ):
        return Health(PROGRESSING, "Detached", "the disk is not attached to its node yet")
    if kind == "ComputeTargetPool" and not live.get("instances"):
        return Health(
            DEGRADED, "NoInstances", "the target pool has no instances to send traffic to"
        )
    return HEALTHY


BY_KIND: Mapping[str, Callable[[Status], Health]] = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Job": _job,
    "PersistentVolumeClaim": _pvc,
    "Service": _service,
    "CustomResourceDefinition": _crd,
    "Namespace": _namespace,
    "Pod": _pod,
}


@hookimpl(trylast=True)
def gitkube_health(obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> Health | None:
    if live is None:
        return Health(HealthState.MISSING, "NotFound", "the object does not exist")
    if str(obj.get("apiVersion", "")).startswith("compute.cnrm.cloud.google.com/"):
        return _gce(obj, live)
    rule = BY_KIND.get(str(obj.get("kind", "")))
    if rule is not None:
        return rule(live)
    return _conditions(live) or HEALTHY
