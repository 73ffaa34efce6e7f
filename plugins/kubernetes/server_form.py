"""Values the API server normalises, recognised once and remembered on the member.

The server keeps some values in a form of its own: ``cpu: 0.5`` is stored as
``500m`` (and ``memory: 0.5Gi`` as ``512Mi``), and ``creationTimestamp: null``
becomes the time of creation. What gitkube sends
then never equals what it reads back, and the plain comparison would ask the
server (a dry-run) on every sync to learn that nothing changed.

So when the server's answer to an apply (or to its dry-run) differs from what
was sent, gitkube records a hash of the server's form of the fields it sends in
the member's ``gitkube.dev/server-form-hash`` annotation. A later sync whose
rendered object is unchanged compares the live object's form of those fields
against the hash: equal means nothing drifted, with no request at all; any
other value there (someone edited a field) differs and is checked as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gitkube.plugin_api import SERVER_FORM_ANNOTATION

from .diff import is_subset

# Set by the server on every object; a value sent for them means nothing.
_SERVER_SET_METADATA = frozenset(
    {"creationTimestamp", "resourceVersion", "uid", "generation", "managedFields"}
)
_ABSENT = "\x00absent"


def server_form(sent: Any, served: Any, *, top: bool = True) -> Any:
    """``served``'s values at the fields of ``sent`` (what the server made of them)."""
    if isinstance(sent, Mapping):
        if not isinstance(served, Mapping):
            return served
        out = {}
        for key, value in sent.items():
            if key == SERVER_FORM_ANNOTATION:
                continue
            if top and key == "metadata" and isinstance(value, Mapping):
                value = {k: v for k, v in value.items() if k not in _SERVER_SET_METADATA}
            out[key] = server_form(value, served.get(key, _ABSENT), top=False)
        return out
    if isinstance(sent, list):
        if isinstance(served, list) and len(served) == len(sent):
            return [server_form(s, v, top=False) for s, v in zip(sent, served, strict=True)]
        return served
    return served


def server_form_hash(sent: Mapping[str, Any], served: Mapping[str, Any]) -> str | None:
    """The hash to remember for an object the server answered ``served`` to ``sent``,
    or ``None`` when it kept every value as sent (nothing to remember)."""
    form = server_form(sent, served)
    if is_subset(_without_server_set(sent), form):
        return None
    return hashlib.sha256(json.dumps(form, sort_keys=True, default=str).encode()).hexdigest()


def _without_server_set(sent: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in sent.items()}
    meta = out.get("metadata")
    if isinstance(meta, Mapping):
        out["metadata"] = {
            k: v
            for k, v in meta.items()
            if k not in _SERVER_SET_METADATA
            and not (k == "annotations" and isinstance(v, Mapping) and not v)
        }
        annotations = out["metadata"].get("annotations")
        if isinstance(annotations, Mapping) and SERVER_FORM_ANNOTATION in annotations:
            out["metadata"]["annotations"] = {
                k: v for k, v in annotations.items() if k != SERVER_FORM_ANNOTATION
            }
    return out


def remembered_form_matches(sent: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether ``live`` holds, at the fields of ``sent``, the server's form recorded
    when ``sent`` was last applied (so it has not drifted)."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    remembered = annotations.get(SERVER_FORM_ANNOTATION)
    return remembered is not None and remembered == server_form_hash(sent, live)


def remembered(live: Mapping[str, Any] | None) -> str | None:
    if not live:
        return None
    return ((live.get("metadata") or {}).get("annotations") or {}).get(SERVER_FORM_ANNOTATION)


def with_server_form(body: Mapping[str, Any], form_hash: str | None) -> dict[str, Any]:
    """``body`` carrying ``form_hash`` in its annotations (``body`` itself when None)."""
    if form_hash is None:
        return dict(body)
    meta = dict(body.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), SERVER_FORM_ANNOTATION: form_hash}
    return {**body, "metadata": meta}
