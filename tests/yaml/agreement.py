"""What it means for gitkube's reader to agree with kubectl's on one file."""

from __future__ import annotations

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.kubeyaml import read_documents, room_for_nesting
from gitkube.testing.yamlpeer import YamlPeer


def disagreement(peer: YamlPeer, data: bytes) -> str | None:
    """None when gitkube reads ``data`` as kubectl does (or both refuse it); else why not.

    gitkube may refuse where kubectl reads only for a duplicate key (which
    kubectl's strict reading refuses too) or for two keys that kubectl turns
    into the same JSON key and then keeps either of at random.
    """
    theirs = peer.read(data)
    try:
        ours, refusal = read_documents(data, "file.yaml"), None
    except GitkubeError as exc:
        ours, refusal = None, str(exc)
    if theirs.refused:
        return None if refusal else f"kubectl refuses ({theirs.error}) but gitkube read {ours!r}"
    if refusal is not None:
        if theirs.strict_error or "both mean" in refusal:
            return None
        return f"gitkube refuses ({refusal}) but kubectl reads {theirs.documents!r}"
    with room_for_nesting():
        same = ours == theirs.documents
    if not same:
        return f"gitkube reads {ours!r}, kubectl reads {theirs.documents!r}"
    return None
