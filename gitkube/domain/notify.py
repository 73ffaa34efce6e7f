"""Notifications: what sync and the agent tell the outside world, and to whom.

Sync and the agent raise an :class:`Event` when a run changed something,
failed, was refused by a safety rule, left an app Degraded, or repaired drift;
every ``gitkube_notify`` hook hears it. The built-in ``notify`` plugin sends
events to the webhooks that ``gitkube.yaml`` names under ``notify:``::

    notify:
    - urlFrom: {env: SLACK_WEBHOOK_URL}        # or url: https://..., or
      format: slack                            #   urlFrom: {secret: {name: n, key: k}}
      events: [failed, refused, degraded]      # default: every event
      apps: ["web/*"]                          # default: every app
    - url: https://ci.example.com/hooks/gitkube
      secretFrom: {env: GITKUBE_WEBHOOK_SECRET}   # signs the body (HMAC-SHA256)

Secrets come from the agent's environment or a Secret in ``gitkube-system``,
never from the repo: a pull request cannot redirect or read them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SYNCED = "synced"  # a run applied changes
FAILED = "failed"  # a run stopped on an error
REFUSED = "refused"  # a safety rule refused the run (nothing changed)
DEGRADED = "degraded"  # an app became Degraded
DRIFT_REPAIRED = "drift-repaired"  # the agent re-applied objects changed behind its back
EVENT_KINDS = (SYNCED, FAILED, REFUSED, DEGRADED, DRIFT_REPAIRED)

_SOURCE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "env": {"type": "string", "minLength": 1},
        "secret": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "key"],
            "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
        },
    },
    "minProperties": 1,
    "maxProperties": 1,
}

NOTIFY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://"},
            "urlFrom": _SOURCE,
            "secretFrom": _SOURCE,
            "format": {"enum": ["webhook", "slack"]},
            "events": {"type": "array", "items": {"enum": list(EVENT_KINDS)}, "minItems": 1},
            "apps": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        },
        "oneOf": [{"required": ["url"]}, {"required": ["urlFrom"]}],
    },
}


@dataclass(frozen=True)
class Event:
    """Something a run did that people may want to hear about."""

    kind: str  # one of EVENT_KINDS
    cluster: str
    message: str
    commit: str | None = None
    source_commit: str | None = None
    apps: tuple[str, ...] = ()  # the apps concerned; empty: the whole run
    counts: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cluster": self.cluster,
            "message": self.message,
            "commit": self.commit,
            "sourceCommit": self.source_commit,
            "apps": list(self.apps),
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class NotifyRule:
    """One ``notify:`` entry of gitkube.yaml."""

    url: str | None = None
    url_from: Mapping[str, Any] | None = None
    secret_from: Mapping[str, Any] | None = None
    format: str = "webhook"
    events: tuple[str, ...] = EVENT_KINDS
    apps: tuple[str, ...] = ()
    timeout: float = 5.0

    def wants(self, event: Event) -> bool:
        if event.kind not in self.events:
            return False
        if not self.apps or not event.apps:
            return True  # no filter, or an event about the whole run
        return any(fnmatch.fnmatchcase(app, glob) for app in event.apps for glob in self.apps)

    def as_document(self) -> dict[str, Any]:
        """Back in gitkube.yaml's shape (the rendered inventory records it for the agent)."""
        document: dict[str, Any] = {"format": self.format, "events": list(self.events)}
        for key, value in (
            ("url", self.url),
            ("urlFrom", self.url_from),
            ("secretFrom", self.secret_from),
        ):
            if value is not None:
                document[key] = dict(value) if isinstance(value, Mapping) else value
        if self.apps:
            document["apps"] = list(self.apps)
        document["timeout"] = self.timeout
        return document


def parse_rules(raw: Sequence[Mapping[str, Any]]) -> tuple[NotifyRule, ...]:
    """Rules from a schema-checked ``notify:`` list."""
    return tuple(
        NotifyRule(
            url=item.get("url"),
            url_from=item.get("urlFrom"),
            secret_from=item.get("secretFrom"),
            format=item.get("format", "webhook"),
            events=tuple(item.get("events", EVENT_KINDS)),
            apps=tuple(item.get("apps", ())),
            timeout=float(item.get("timeout", 5.0)),
        )
        for item in raw
    )
