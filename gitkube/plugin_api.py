"""The public API for gitkube plugins: everything a plugin may import.

Built-in plugins use nothing else (an import-linter contract checks it), so a
third-party plugin can do whatever a built-in does::

    from gitkube.plugin_api import hookimpl

    @hookimpl
    def gitkube_transform(resource, ctx):
        resource.annotations()["example.com/owner"] = "me"

The hooks themselves are documented in :mod:`gitkube.domain.hookspec`.
"""

from gitkube.domain.config import ClusterConfig, RepoConfig
from gitkube.domain.context import Problem, RenderContext
from gitkube.domain.hookspec import hookimpl
from gitkube.domain.resources import (
    GCE_API_VERSION,
    GCE_GROUP,
    App,
    ObjectId,
    Resource,
    containers,
    mount_in_pods,
)
from gitkube.primitives.errors import GitkubeError

__all__ = [
    "GCE_API_VERSION",
    "GCE_GROUP",
    "App",
    "ClusterConfig",
    "GitkubeError",
    "ObjectId",
    "Problem",
    "RenderContext",
    "RepoConfig",
    "Resource",
    "containers",
    "hookimpl",
    "mount_in_pods",
]
