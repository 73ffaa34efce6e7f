"""The trust flags of ``plan``, ``sync`` and ``agent`` (docs/threat-model.md).

Who is trusted comes only from here (files on the operator's machine or a
ConfigMap in the cluster), never from the repository being verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gitkube.sync.trust import TrustOptions

VerifyRendered = Annotated[
    list[str] | None,
    typer.Option(
        "--verify-rendered",
        metavar="FILE",
        help="Require the rendered commit to be signed by a key in FILE: an SSH "
        "allowed_signers file or GPG public keys (repeatable).",
    ),
]
VerifySource = Annotated[
    list[str] | None,
    typer.Option(
        "--verify-source",
        metavar="FILE",
        help="Require its Source-Commit to be signed by a key in FILE (as --verify-rendered).",
    ),
]
VerifyRerender = Annotated[
    bool,
    typer.Option(
        "--verify-rerender",
        help="Re-render the source commit without credentials; refuse a differing tree.",
    ),
]
VerifyConfigMap = Annotated[
    str | None,
    typer.Option(
        "--verify-configmap",
        metavar="NAME",
        help="Read trusted keys from this ConfigMap in gitkube-system (rendered.allowed_signers, "
        "rendered.gpg, source.allowed_signers, source.gpg, rerender).",
    ),
]
AllowRewind = Annotated[
    bool,
    typer.Option(
        "--allow-rewind",
        help="This run only: apply a rendered commit that does not descend from the last synced.",
    ),
]


def trust_options(
    rendered: list[str] | None,
    source: list[str] | None,
    rerender: bool,
    configmap: str | None,
    allow_rewind: bool = False,
) -> TrustOptions:
    from gitkube.sync.trust import TrustOptions

    return TrustOptions(
        rendered_keys=tuple(rendered or ()),
        source_keys=tuple(source or ()),
        rerender=rerender,
        configmap=configmap,
        allow_rewind=allow_rewind,
    )
