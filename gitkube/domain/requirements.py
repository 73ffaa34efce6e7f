"""``plugins.require``: the plugin distributions a config repo needs, checked before rendering.

Each entry is a pip requirement (``gitkube-hpa>=1.0,<2``). A render on a
machine that lacks one, or has a version outside the range, stops before
reading any app, naming the package and how to install it, instead of failing
later on an ``app.yaml`` key that nobody declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from gitkube.domain.config import CONFIG_FILE
from gitkube.primitives.errors import GitkubeError

if TYPE_CHECKING:  # packaging is imported by the repos that require plugins, when they do
    from packaging.requirements import Requirement

MISSING_PLUGIN_HINT = (
    "if a plugin declares it, that plugin is not installed where gitkube runs "
    "(`gitkube plugins` lists what is; list it in plugins.require of gitkube.yaml)"
)
HOW_TO_INSTALL = (
    "install it where gitkube runs (for pre-commit: into the environment of the "
    "`gitkube` on PATH; in CI: next to gitkube); see docs/plugins.md"
)


def parse_requirements(entries: Sequence[str]) -> list[Requirement]:
    if not entries:
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    parsed = []
    for entry in entries:
        try:
            parsed.append(Requirement(entry))
        except InvalidRequirement as exc:
            raise GitkubeError(
                f'plugins.require: "{entry}" is not a valid requirement: {exc}', file=CONFIG_FILE
            ) from None
    return parsed


def check_required_plugins(entries: Sequence[str]) -> None:
    """Raise :class:`GitkubeError` naming every required distribution missing or mismatched."""
    problems = []
    for requirement in parse_requirements(entries):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f'"{requirement}" is required but {requirement.name} is not installed')
            continue
        if requirement.specifier and not requirement.specifier.contains(
            installed, prereleases=True
        ):
            problems.append(
                f'"{requirement}" is required but {requirement.name} {installed} is installed'
            )
    if problems:
        raise GitkubeError(
            f"plugins.require: {'; '.join(problems)} (the app.yaml keys and options it "
            f"declares are unknown without it); {HOW_TO_INSTALL}",
            file=CONFIG_FILE,
        )
