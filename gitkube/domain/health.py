"""Health: whether what sync applied is actually working, per object and per app.

An API server that accepted a write says nothing about a Deployment whose new
image never starts. Health is read from the live object's status, the way
``kubectl rollout status`` and ``kubectl wait`` read it, by the
:func:`~gitkube.domain.hookspec.gitkube_health` hook: the built-in ``health``
plugin knows Kubernetes' workloads, volumes, CRDs and Compute Engine
resources, and a plugin can add its own kinds (the first answer wins).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class HealthState(StrEnum):
    """Argo CD's vocabulary: one word a person can act on."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    MISSING = "Missing"


# Worst first: an app is as healthy as its least healthy object.
_SEVERITY = {
    HealthState.DEGRADED: 0,
    HealthState.MISSING: 1,
    HealthState.PROGRESSING: 2,
    HealthState.HEALTHY: 3,
}


@dataclass(frozen=True)
class Health:
    """One object's health: the state, a reason word and a sentence from its status."""

    state: HealthState
    reason: str = ""
    message: str = ""

    @property
    def done(self) -> bool:
        """Whether waiting can stop here: healthy, or failed for good."""
        return self.state in (HealthState.HEALTHY, HealthState.DEGRADED)

    def describe(self) -> str:
        detail = ": ".join(part for part in (self.reason, self.message) if part)
        return f"{self.state.value}{f' ({detail})' if detail else ''}"


HEALTHY = Health(HealthState.HEALTHY)


def worst(healths: Iterable[Health]) -> Health:
    """The health of a group (an app): its least healthy member, Healthy when empty."""
    return min(healths, key=lambda h: _SEVERITY[h.state], default=HEALTHY)
