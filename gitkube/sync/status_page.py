"""The agent's read-only status page: ``/`` (HTML) and ``/api/status`` (the same data, JSON).

What the agent knows after its last run: each app's health, the rendered and
source commits it synced, the last plan's changes, the Compute Engine
resources with their IPs, and recent events and errors. Server-rendered HTML
with no script and no form: there is nothing to click that changes anything.
The agent binds it to 127.0.0.1 unless told otherwise; expose it only behind
the cluster's own authentication (docs/agent.md).
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.domain.targets import Action, SyncResult

RECENT_EVENTS = 50
CHANGES_SHOWN = 200


@dataclass
class AgentStatus:
    """What the agent tells its status page; safe to read from the HTTP threads."""

    identity: str
    last_run: dict[str, Any] | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_run(self, result: SyncResult) -> None:
        changes = [c for c in result.changes if c.action is not Action.UNCHANGED]
        gce = [
            {
                "kind": c.id.kind,
                "name": c.id.name,
                "action": c.action.value,
                "ip": _ip(c.live) or c.late_bound.get("address", ""),
            }
            for c in result.changes
            if c.target == "gce"
        ]
        run = {
            "at": _now(),
            "renderedCommit": result.commit,
            "sourceCommit": result.source_commit,
            "result": "error" if result.error else "synced",
            "message": result.error or "",
            "counts": {a.value: result.count(a) for a in Action},
            "changes": [c.as_dict() for c in changes[:CHANGES_SHOWN]],
            "moreChanges": max(len(changes) - CHANGES_SHOWN, 0),
            "apps": (result.app_health or {}).get("apps", []),
            "hooks": result.hooks or [],
            "gce": gce,
        }
        with self.lock:
            self.last_run = run
        summary = ", ".join(f"{n} {a}" for a, n in run["counts"].items() if n and a != "unchanged")
        self.record_event("synced", f"{(result.commit or '')[:12]}: {summary or 'no change'}")

    def record_event(self, kind: str, message: str) -> None:
        with self.lock:
            self.events.appendleft({"at": _now(), "kind": kind, "message": message})

    def document(self) -> dict[str, Any]:
        """``/api/status``."""
        with self.lock:
            return {
                "agent": self.identity,
                "lastRun": self.last_run,
                "events": list(self.events),
            }


def _ip(live: Mapping[str, Any] | None) -> str:
    return str((live or {}).get("address") or (live or {}).get("IPAddress") or "")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d1d1f;max-width:72em}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3em .6em;
border-bottom:1px solid #e5e5ea;vertical-align:top}th{color:#6e6e73;font-weight:600}
code{font:12px ui-monospace,monospace}.muted{color:#6e6e73}
.Healthy{color:#1a7f37}.Progressing{color:#9a6700}.Degraded,.error,.refused{color:#cf222e}
.Missing{color:#8250df}.badge{font-weight:600}
"""


def render_page(document: Mapping[str, Any]) -> str:
    """``/``: the status as one static HTML page."""
    e = html.escape
    run = document.get("lastRun")
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width'>",
        f"<title>gitkube agent {e(document['agent'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>gitkube agent <code>{e(document['agent'])}</code></h1>",
    ]
    if run is None:
        parts.append("<p class=muted>No sync yet.</p>")
    else:
        result_class = "error" if run["result"] == "error" else "Healthy"
        parts += [
            f"<p><span class='badge {result_class}'>{e(run['result'])}</span> at {e(run['at'])}"
            f" &middot; rendered <code>{e((run['renderedCommit'] or '')[:12])}</code>"
            f" &middot; source <code>{e((run['sourceCommit'] or '')[:12])}</code></p>",
        ]
        if run["message"]:
            parts.append(f"<p class=error>{e(run['message'])}</p>")
        apps = [
            [
                _cell(app["app"], code=True),
                _cell(app["state"], css=f"badge {app['state']}"),
                _cell(
                    ": ".join(
                        str(p)
                        for p in (app.get("object"), app.get("reason"), app.get("message"))
                        if p
                    )
                ),
            ]
            for app in run["apps"]
        ]
        parts += ["<h2>Apps</h2>", _table(("app", "health", "why"), apps)]
        if run.get("hooks"):
            hooks = [
                [
                    _cell(h["app"], code=True),
                    _cell(h["hook"]),
                    _cell(h["name"], code=True),
                    _cell(h["result"], css=f"badge {h['result']}"),
                    _cell(f"{h['seconds']}s"),
                    _cell(h.get("message") or ""),
                ]
                for h in run["hooks"]
            ]
            parts += [
                "<h2>Hooks (last run)</h2>",
                _table(("app", "hook", "job", "result", "took", "message"), hooks),
            ]
        parts += ["<h2>Last plan</h2>"]
        if run["changes"]:
            changes = [
                [
                    _cell(c["action"]),
                    _cell(f"{c['kind']} {c['name']}", code=True),
                    _cell(c.get("app") or "", code=True),
                    _cell(", ".join(c.get("fields") or [])),
                ]
                for c in run["changes"]
            ]
            parts.append(_table(("action", "object", "app", "fields"), changes))
            if run["moreChanges"]:
                parts.append(f"<p class=muted>and {run['moreChanges']} more</p>")
        else:
            parts.append("<p class=muted>Nothing changed.</p>")
        if run["gce"]:
            resources = [
                [_cell(r["kind"]), _cell(r["name"], code=True), _cell(r["ip"], code=True)]
                for r in run["gce"]
            ]
            parts += ["<h2>Compute Engine</h2>", _table(("kind", "name", "IP"), resources)]
    events = [
        [_cell(ev["at"], css="muted"), _cell(ev["kind"], css=ev["kind"]), _cell(ev["message"])]
        for ev in document["events"]
    ]
    parts += ["<h2>Recent events</h2>", _table(("at", "event", ""), events)]
    parts.append("</body></html>\n")
    return "".join(parts)


def _cell(text: object, *, code: bool = False, css: str = "") -> str:
    """One table cell, escaped."""
    body = html.escape(str(text))
    if code:
        body = f"<code>{body}</code>"
    attribute = f" class='{html.escape(css)}'" if css else ""
    return f"<td{attribute}>{body}</td>"


def _table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>" + "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + "</table>"
