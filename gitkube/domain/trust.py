"""What sync must prove before it applies a rendered commit, and how it words a refusal.

Three questions (docs/threat-model.md):

* **who vouches for it**: the rendered commit is signed by a key the operator
  trusts, and (with source verification) so is the source commit it names;
* **does history move forward**: the new rendered commit descends from the
  last one synced (recorded on the ApplySet parent), so a rewind or a
  rewritten branch is refused;
* **is it the render of its source** (``rerender``): rendering the source
  commit again gives the same tree.

The repository may only *ask* for checks (``sync.verify`` in gitkube.yaml,
read from the rendered commit's inventory, which is the very thing under
test): who is trusted, and any check the operator turned on, come from outside
it, so a pull request can tighten the policy but never loosen or widen it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitkube.primitives.errors import SafetyRefusal

VERIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rendered": {
            "type": "boolean",
            "description": "Require the rendered commit to be signed by a trusted key.",
            "default": False,
        },
        "source": {
            "type": "boolean",
            "description": "Require its `Source-Commit` to be signed by a trusted author.",
            "default": False,
        },
        "rerender": {
            "type": "boolean",
            "description": "Re-render the source commit (in a process without cluster "
            "credentials) and refuse a rendered tree that differs.",
            "default": False,
        },
    },
}

# The metric label and Event reason of each refusal.
RENDERED_SIGNATURE = "rendered-signature"
SOURCE_SIGNATURE = "source-signature"
REWIND = "rewind"
RERENDER = "rerender"
POLICY = "policy"


class TrustRefusal(SafetyRefusal):
    """A trust check refused the rendered commit (exit 2): nothing was changed."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check

    def __reduce__(self) -> tuple[object, ...]:
        return (TrustRefusal, (self.check, self.message))


@dataclass(frozen=True)
class VerifyRequest:
    """``sync.verify`` as the repository (or the operator) asks for it."""

    rendered: bool = False
    source: bool = False
    rerender: bool = False

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> VerifyRequest:
        return cls(
            rendered=bool(doc.get("rendered", False)),
            source=bool(doc.get("source", False)),
            rerender=bool(doc.get("rerender", False)),
        )

    def as_document(self) -> dict[str, bool]:
        return {k: v for k, v in vars(self).items() if v}

    @property
    def any(self) -> bool:
        return self.rendered or self.source or self.rerender

    def union(self, other: VerifyRequest) -> VerifyRequest:
        return VerifyRequest(
            self.rendered or other.rendered,
            self.source or other.source,
            self.rerender or other.rerender,
        )


def required_checks(
    operator: VerifyRequest,
    repo: VerifyRequest,
    *,
    have_rendered_keys: bool,
    have_source_keys: bool,
    where_keys: str,
) -> VerifyRequest:
    """The checks to run: the operator's and the repository's together; a repo can
    add a check, never remove one. A signature check without trusted keys from
    the operator is refused, never passed."""
    checks = operator.union(repo)
    for name, wanted, have in (
        ("rendered", checks.rendered, have_rendered_keys),
        ("source", checks.source, have_source_keys),
    ):
        if wanted and not have:
            raise TrustRefusal(
                POLICY,
                f"sync.verify.{name} is on but no trusted {name} signers were given "
                f"({where_keys}); refusing rather than trusting everyone",
            )
    return checks


def unsigned_or_untrusted(what: str, kind: str | None, detail: str, check: str) -> TrustRefusal:
    """``what``: the commit, in words (``rendered commit 0123456789ab``)."""
    if kind is None:
        return TrustRefusal(check, f"{what} is not signed; refusing to apply it")
    return TrustRefusal(
        check,
        f"{what} has a signature ({kind}) that no trusted key makes good: {detail}; "
        "refusing to apply it",
    )


def rewind_refusal(
    new: str, last: str, last_is_ancestor: bool | None, new_is_ancestor: bool
) -> TrustRefusal | None:
    """None when ``new`` may follow ``last``; otherwise what happened, in words.

    ``last_is_ancestor``: ``last`` is ``new`` or behind it (None: ``last`` is
    not in the repository); ``new_is_ancestor``: ``new`` is behind ``last``.
    """
    if last_is_ancestor:
        return None
    hint = "rerun with --allow-rewind to deploy it on purpose (the agent never does)"
    if last_is_ancestor is None:
        return TrustRefusal(
            REWIND,
            f"the last synced rendered commit {last[:12]} is not in the repository: the "
            f"rendered branch's history was rewritten (force-push) or this is another "
            f"repository; refusing {new[:12]}. Check who pushed it; {hint}",
        )
    if new_is_ancestor:
        return TrustRefusal(
            REWIND,
            f"rendered commit {new[:12]} is older than the last synced {last[:12]} (a rewind "
            f"would undo what came after it); refusing. {hint[0].upper()}{hint[1:]}",
        )
    return TrustRefusal(
        REWIND,
        f"the rendered branch's history was rewritten (force-push): {new[:12]} does not "
        f"descend from the last synced {last[:12]}; refusing. Check who pushed it; {hint}",
    )


def rerender_refusal(
    commit: str,
    source: str,
    rendered_versions: Mapping[str, Any],
    rerendered_versions: Mapping[str, Any],
    differing: Sequence[str],
) -> TrustRefusal:
    """The re-render of ``source`` did not give ``commit``'s tree: say why."""
    version_gaps = [
        f"{name} {rendered_versions.get(name)} (installed: {rerendered_versions.get(name)})"
        for name in sorted(set(rendered_versions) | set(rerendered_versions))
        if rendered_versions.get(name) != rerendered_versions.get(name)
    ]
    if version_gaps:
        return TrustRefusal(
            RERENDER,
            f"cannot reproduce rendered commit {commit[:12]}: it was rendered with "
            f"{', '.join(version_gaps[:5])}; install the recorded versions to verify it; "
            "refusing",
        )
    shown = ", ".join(differing[:5]) + (
        f" and {len(differing) - 5} more" if len(differing) > 5 else ""
    )
    return TrustRefusal(
        RERENDER,
        f"rendered commit {commit[:12]} is not the render of its source commit {source[:12]}: "
        f"{len(differing)} file(s) differ ({shown}); it was edited or made by hand; refusing",
    )
