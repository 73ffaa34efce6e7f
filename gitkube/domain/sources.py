"""What a ``gitkube_source`` hook receives and returns.

An app directory becomes objects through exactly one source: the plain
manifest reader (the default), kustomize, helm, or a third-party plugin's
(jsonnet, CUE, ...). The core hands each source an :class:`AppSource`, the
app's view of the repo, and takes back :class:`SourceObject`\\ s, which then go
through every plugin like the user's own manifests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: app.yaml's ``source`` key: which source builds the app.
SOURCE_KEY = "source"
PLAIN = "plain"
KUSTOMIZE = "kustomize"
HELM = "helm"


@dataclass
class SourceObject:
    """One object a source made, with the file it came from.

    ``file`` is a repo path named in errors (the manifest, or the
    ``kustomization.yaml`` / ``Chart.yaml`` the tool built); ``item`` says
    where in it (a List's item, a template). ``checked`` is set by the core's
    own helpers, whose objects were checked as manifests already.
    """

    body: dict[str, Any]
    file: str
    item: str = ""
    checked: bool = False


class AppSource(Protocol):
    """One app's view of the repo, for the source that builds it.

    ``kind`` is the source the app asks for (app.yaml ``source``, or what its
    directory holds: ``kustomize`` for a ``kustomization.yaml``, ``helm`` for
    a ``Chart.yaml``, else ``plain``); ``options`` the rest of the ``source``
    setting (``{"chart": ..., "values": [...]}`` for helm). ``inputs`` are
    every repo file the app's output may depend on: the render cache keys
    the app by them.
    """

    @property
    def kind(self) -> str: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    @property
    def directory(self) -> str: ...

    @property
    def inputs(self) -> Sequence[str]: ...

    def manifests(self) -> list[SourceObject]:
        """The app directory's YAML manifests, Lists expanded, each checked."""
        ...

    def checkout(self) -> Path:
        """The repo's files written to a private directory (made once per
        render), for tools that read files; the app is at ``checkout() / directory``."""
        ...

    def objects_from_yaml(self, text: str, file: str) -> list[SourceObject]:
        """A tool's YAML output as checked objects, errors naming ``file``."""
        ...

    def record_tool(self, tool: str) -> None:
        """Record the tool and version that built the app (``kustomize v5.8.1``),
        written beside each of its objects in the inventory."""
        ...
