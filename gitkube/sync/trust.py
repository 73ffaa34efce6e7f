"""The trust step of ``plan``, ``sync`` and the agent: prove the rendered commit first.

Runs before any target observes or writes (see :mod:`gitkube.domain.trust` for
the rules): the rewind rule against the last synced commit the ApplySet parent
records, the signatures of the rendered and source commits against the
operator's keys (files named on the command line and/or a ConfigMap in
``gitkube-system``; never anything from the repository), and the re-render in
a child process without credentials. A refusal is an exit-2
:class:`TrustRefusal`, a Warning Event on the parent, and the parent's
``verify.gitkube.dev/refused`` annotation, which ``gitkube status`` shows and
the next run that passes removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitkube.domain.applyset_parent import ForeignParent
from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.domain.keys import LAST_SYNCED_COMMIT_ANNOTATION, REFUSED_ANNOTATION, STATUS_PREFIX
from gitkube.domain.ownership import PARENT_NAMESPACE
from gitkube.domain.targets import SyncState
from gitkube.domain.trust import (
    POLICY,
    RENDERED_SIGNATURE,
    RERENDER,
    SOURCE_SIGNATURE,
    TrustRefusal,
    VerifyRequest,
    required_checks,
    rerender_refusal,
    rewind_refusal,
    unsigned_or_untrusted,
)
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitsign import (
    TrustedKeys,
    is_ancestor,
    keyring,
    keys_from_bytes,
    merge_keys,
    read_key_file,
    signature_kind,
    verify_commit,
)
from gitkube.primitives.gitstore import GitStore
from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.primitives.yamlio import load_one
from gitkube.sync.desired import DesiredState
from gitkube.sync.source import opened_source

VERIFY_MANAGER = "gitkube-verify"
# The keys a --verify-configmap ConfigMap may hold.
CONFIGMAP_KEYS = {
    "rendered": ("rendered.allowed_signers", "rendered.gpg"),
    "source": ("source.allowed_signers", "source.gpg"),
}
# All the child re-render process gets from this environment: nothing that
# names or holds a credential (KUBECONFIG, GOOGLE_*, tokens, HOME's ~/.kube).
_PASSED_TO_RERENDER = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH")
RERENDER_TIMEOUT = 900.0


@dataclass(frozen=True)
class TrustOptions:
    """What the operator trusts and allows, from flags (never from the repository)."""

    rendered_keys: tuple[str, ...] = ()  # --verify-rendered FILE...
    source_keys: tuple[str, ...] = ()  # --verify-source FILE...
    rerender: bool = False  # --verify-rerender
    configmap: str | None = None  # --verify-configmap NAME (in gitkube-system)
    allow_rewind: bool = False  # --allow-rewind, this run only


def check_trust(
    trust: TrustOptions,
    desired: DesiredState,
    *,
    repo: str,
    kubeconfig: str | None,
    context: str | None,
    kubernetes: bool = True,
    state: SyncState | None = None,
    record: bool = True,
) -> None:
    """Refuse ``desired`` (raise :class:`TrustRefusal`) unless every check passes.

    ``kubernetes``: the run includes the Kubernetes target, whose ApplySet
    parent records the last synced commit. ``record``: leave the Event and the
    parent's note of a refusal (sync and the agent; ``plan`` writes nothing).
    """
    # With the run's state, its one client is used and stays open for the targets.
    own_client = state is None
    state = state or SyncState()
    api = state.connect(kubeconfig, context) if kubernetes or trust.configmap else None
    try:
        parent: Mapping[str, Any] | None = None
        if api is not None and kubernetes:
            try:
                parent = state.applyset_parent(api, desired.applyset).body
            except ForeignParent:
                parent = None  # not gitkube's parent: the Kubernetes target refuses it by name

        try:
            _run_checks(trust, desired, opened_source(repo), api, parent)
        except TrustRefusal as refusal:
            if api is not None and record:
                _record_refusal(api, desired, parent, refusal)
            raise
        if record and api is not None and parent and _annotations(parent).get(REFUSED_ANNOTATION):
            _clear_refusal(api, desired)
    finally:
        if api is not None and own_client:
            api.api_client.close()


def _run_checks(
    trust: TrustOptions,
    desired: DesiredState,
    store: GitStore,
    api: KubeApi | None,
    parent: Mapping[str, Any] | None,
) -> None:
    if parent is not None and not trust.allow_rewind:
        _check_forward(store, desired.commit, parent)
    if trust.configmap:
        _refuse_managing_the_trust_configmap(desired, trust.configmap)
    rendered_keys, source_keys, operator_rerender = _operator_keys(trust, api)
    checks = required_checks(
        VerifyRequest(
            rendered=not rendered_keys.empty,
            source=not source_keys.empty,
            rerender=trust.rerender or operator_rerender,
        ),
        desired.config.verify,
        have_rendered_keys=not rendered_keys.empty,
        have_source_keys=not source_keys.empty,
        where_keys="--verify-rendered/--verify-source FILE or --verify-configmap NAME",
    )
    if checks.rendered:
        _check_signature(
            store,
            f"rendered commit {desired.commit[:12]}",
            desired.commit,
            rendered_keys,
            RENDERED_SIGNATURE,
        )
    if checks.source:
        source = desired.source_commit
        if not source:
            raise TrustRefusal(
                SOURCE_SIGNATURE,
                f"rendered commit {desired.commit[:12]} names no source commit; cannot check "
                "who wrote it, refusing",
            )
        trailer = dict(store.commits_with_trailers(desired.commit, "Source-Commit", 1))
        if trailer.get(desired.commit, source) not in ("", source):
            raise TrustRefusal(
                SOURCE_SIGNATURE,
                f"rendered commit {desired.commit[:12]} names two source commits (trailer "
                f"Source-Commit: {trailer[desired.commit][:12]}, inventory {source[:12]}); "
                "refusing",
            )
        _check_signature(
            store,
            f"source commit {source[:12]} (of rendered commit {desired.commit[:12]})",
            source,
            source_keys,
            SOURCE_SIGNATURE,
        )
    if checks.rerender:
        check_rerender(store, desired)


def _refuse_managing_the_trust_configmap(desired: DesiredState, name: str) -> None:
    """The repository must not be able to rewrite who is trusted by syncing the ConfigMap."""
    for obj in desired.objects:
        oid = obj.id
        if (oid.group, oid.kind, oid.namespace, oid.name) == (
            "",
            "ConfigMap",
            PARENT_NAMESPACE,
            name,
        ):
            raise TrustRefusal(
                POLICY,
                f"rendered commit {desired.commit[:12]} holds the trust ConfigMap "
                f"{PARENT_NAMESPACE}/{name} ({obj.path}); who is trusted cannot come from the "
                "repository, refusing",
            )


def _check_forward(store: GitStore, new: str, parent: Mapping[str, Any]) -> None:
    annotations = _annotations(parent)
    # Parents written before the record existed: the commit their last run applied.
    last = annotations.get(LAST_SYNCED_COMMIT_ANNOTATION) or annotations.get(
        f"{STATUS_PREFIX}rendered-commit"
    )
    if not last or last == new:
        return
    forward = is_ancestor(store.cwd, last, new)
    backward = bool(forward is False and is_ancestor(store.cwd, new, last))
    refusal = rewind_refusal(new, last, forward, backward)
    if refusal is not None:
        raise refusal


def _check_signature(
    store: GitStore, what: str, commit: str, keys: TrustedKeys, check: str
) -> None:
    try:
        signature_kind(store.cwd, commit)
    except GitkubeError:
        raise TrustRefusal(
            check, f"{what} is not in the repository; cannot verify it, refusing"
        ) from None
    with keyring(keys) as ring:
        signature = verify_commit(store.cwd, commit, ring)
    if not signature.good:
        raise unsigned_or_untrusted(what, signature.kind, signature.detail, check)


def _operator_keys(
    trust: TrustOptions, api: KubeApi | None
) -> tuple[TrustedKeys, TrustedKeys, bool]:
    rendered = [read_key_file(p) for p in trust.rendered_keys]
    source = [read_key_file(p) for p in trust.source_keys]
    rerender = False
    if trust.configmap:
        assert api is not None
        where = f"ConfigMap {PARENT_NAMESPACE}/{trust.configmap}"
        try:
            data = (
                api.request(
                    "GET", f"/api/v1/namespaces/{PARENT_NAMESPACE}/configmaps/{trust.configmap}"
                ).get("data")
                or {}
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            raise GitkubeError(f"{where} (--verify-configmap) does not exist") from None
        known = {k for keys in CONFIGMAP_KEYS.values() for k in keys} | {"rerender"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GitkubeError(
                f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        for which, found in (("rendered", rendered), ("source", source)):
            for key in CONFIGMAP_KEYS[which]:
                if data.get(key, "").strip():
                    found.append(keys_from_bytes(data[key].encode(), f"{where}: {key}"))
        rerender = str(data.get("rerender", "")).strip().lower() == "true"
    return merge_keys(rendered), merge_keys(source), rerender


# -- re-render ------------------------------------------------------------------


def isolated_environment(home: Path) -> dict[str, str]:
    """The whole environment of the re-render child: no credentials, an empty HOME."""
    env = {k: os.environ[k] for k in _PASSED_TO_RERENDER if k in os.environ}
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
    )
    return env


def run_isolated(
    argv: Sequence[str], *, timeout: float = RERENDER_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in a fresh empty directory with :func:`isolated_environment`."""
    with tempfile.TemporaryDirectory(prefix="gk-rerender-") as home:
        return subprocess.run(
            list(argv),
            cwd=home,
            env=isolated_environment(Path(home)),
            capture_output=True,
            check=False,
            timeout=timeout,
        )


def check_rerender(store: GitStore, desired: DesiredState) -> None:
    """Render the source commit again, in a child without credentials; refuse a different tree."""
    source = desired.source_commit
    if not source:
        raise TrustRefusal(
            RERENDER,
            f"rendered commit {desired.commit[:12]} names no source commit; cannot re-render it",
        )
    proc = run_isolated([sys.executable, "-m", "gitkube.render.rerender", str(store.cwd), source])
    try:
        answer = json.loads(proc.stdout or b"{}")
    except ValueError:
        answer = {}
    if "tree" not in answer:
        why = answer.get("error") or " ".join(proc.stderr.decode(errors="replace").split())[-400:]
        raise TrustRefusal(
            RERENDER,
            f"cannot re-render source commit {source[:12]} of rendered commit "
            f"{desired.commit[:12]}: {why}; refusing",
        )
    _, tree = store.resolve_commit(desired.commit)
    if answer["tree"] == tree:
        return
    recorded = {e.path: e.oid for e in store.ls_tree(tree)}
    remade: dict[str, str] = answer["files"]
    differing = sorted(p for p in set(recorded) | set(remade) if recorded.get(p) != remade.get(p))
    raise rerender_refusal(
        desired.commit,
        source,
        _recorded_versions(store, desired.commit),
        answer["versions"],
        differing,
    )


def _recorded_versions(store: GitStore, commit: str) -> dict[str, Any]:
    name = f"{commit}:{INVENTORY_FILE}"
    inventory = load_one(store.read_blobs([name])[name], name)
    if not isinstance(inventory, dict):
        return {}
    return {"gitkube": inventory.get("gitkubeVersion"), **(inventory.get("plugins") or {})}


# -- the parent ------------------------------------------------------------------


def _parent_path(desired: DesiredState) -> str:
    return f"/api/v1/namespaces/{desired.applyset.namespace}/configmaps/{desired.applyset.name}"


def _annotations(parent: Mapping[str, Any]) -> dict[str, str]:
    return dict(parent.get("metadata", {}).get("annotations") or {})


def _record_refusal(
    api: KubeApi, desired: DesiredState, parent: Mapping[str, Any] | None, refusal: TrustRefusal
) -> None:
    """A Warning Event about the parent, and the reason on the parent for ``gitkube status``.

    Both are courtesies: failing to write them never hides the refusal itself."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    applyset = desired.applyset
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{applyset.name}.", "namespace": applyset.namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": applyset.name,
            "namespace": applyset.namespace,
        },
        "reason": "SyncRefused",
        "message": f"[{refusal.check}] {refusal.message}"[:1000],
        "type": "Warning",
        "source": {"component": "gitkube"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    with contextlib.suppress(KubeApiError):
        api.request("POST", f"/api/v1/namespaces/{applyset.namespace}/events", body=event)
    if parent is None:
        return
    with contextlib.suppress(KubeApiError):
        api.apply(
            _parent_path(desired),
            _parent_patch(desired, {REFUSED_ANNOTATION: f"{now} {refusal.message}"[:1000]}),
            manager=VERIFY_MANAGER,
            force=True,
        )


def _clear_refusal(api: KubeApi, desired: DesiredState) -> None:
    # Applying nothing under our field manager removes what it applied before.
    with contextlib.suppress(KubeApiError):
        api.apply(
            _parent_path(desired), _parent_patch(desired, {}), manager=VERIFY_MANAGER, force=True
        )


def _parent_patch(desired: DesiredState, annotations: Mapping[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": desired.applyset.name,
        "namespace": desired.applyset.namespace,
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
