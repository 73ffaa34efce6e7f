"""The public API for gitkube plugins: everything a plugin may import.

Built-in plugins use nothing else (an import-linter contract checks it), so a
third-party plugin can do whatever a built-in does::

    from gitkube.plugin_api import hookimpl

    @hookimpl
    def gitkube_transform(resource, ctx):
        resource.ensure_annotations()["example.com/owner"] = "me"

The hooks themselves are documented in :mod:`gitkube.domain.hookspec`.
"""

from gitkube import __version__
from gitkube.domain.applyset_parent import ApplySetParent
from gitkube.domain.config import ClusterConfig, RepoConfig
from gitkube.domain.context import Problem, RenderContext
from gitkube.domain.health import HEALTHY, Health, HealthState, worst
from gitkube.domain.hookspec import hookimpl
from gitkube.domain.keys import (
    ADDITIONAL_NAMESPACES_ANNOTATION,
    APPLYSET_ID_LABEL,
    ATTACH_ANNOTATION,
    CONTAINS_GROUP_KINDS_ANNOTATION,
    DEPENDS_ON_ANNOTATION,
    EXTERNAL_ADDRESS_ANNOTATION,
    GCE_ADOPTED_LABEL,
    GCE_OWNER_LABEL,
    HEALTH_STATUS_ANNOTATION,
    HOOK_ANNOTATION,
    HOOK_DELETE_ANNOTATION,
    HOOK_OF_ANNOTATION,
    HOOKS_STATUS_ANNOTATION,
    LAST_SYNCED_COMMIT_ANNOTATION,
    MANAGED_BY_LABEL,
    MEMBER_KINDS_STATUS_ANNOTATION,
    OBJECTS_STATUS_ANNOTATION,
    PART_OF_LABEL,
    RECORD_APP_ANNOTATION,
    RECORD_HASH_ANNOTATION,
    RECORD_SOURCE_ANNOTATION,
    REFUSED_ANNOTATION,
    REPLACE_ANNOTATION,
    SERVER_FORM_ANNOTATION,
    SHARDS_ANNOTATION,
    SOPS_FILE_ANNOTATION,
    SOPS_SOURCE_ANNOTATION,
    STATUS_PREFIX,
    TARGET_POOL_ANNOTATION,
    TARGETS_ANNOTATION,
    TOOLING_ANNOTATION,
    WAVE_ANNOTATION,
)
from gitkube.domain.names import gce_name_problem
from gitkube.domain.notify import Event, NotifyRule
from gitkube.domain.ownership import (
    ApplySet,
    health_summary,
    hooks_summary,
)
from gitkube.domain.resources import (
    GCE_API_VERSION,
    GCE_GROUP,
    App,
    ObjectId,
    Resource,
    containers,
    mount_in_pods,
)
from gitkube.domain.schema_docs import documented
from gitkube.domain.sources import HELM, KUSTOMIZE, PLAIN, SOURCE_KEY, AppSource, SourceObject
from gitkube.domain.targets import (
    Action,
    Change,
    DesiredObject,
    SyncResult,
    SyncSettings,
    SyncState,
    Target,
    content_hash,
    object_id,
)
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gcpause import collector_paused
from gitkube.primitives.kubeapi import (
    AGGREGATED_DISCOVERY,
    KubeApi,
    KubeApiError,
    RequestLog,
    throttling_left_to_caller,
)
from gitkube.primitives.retry import GaveUp, RetryPolicy, Verdict, parse_retry_after, retrying

__all__ = [
    "ADDITIONAL_NAMESPACES_ANNOTATION",
    "AGGREGATED_DISCOVERY",
    "APPLYSET_ID_LABEL",
    "ATTACH_ANNOTATION",
    "CONTAINS_GROUP_KINDS_ANNOTATION",
    "DEPENDS_ON_ANNOTATION",
    "EXTERNAL_ADDRESS_ANNOTATION",
    "GCE_ADOPTED_LABEL",
    "GCE_API_VERSION",
    "GCE_GROUP",
    "GCE_OWNER_LABEL",
    "HEALTHY",
    "HEALTH_STATUS_ANNOTATION",
    "HELM",
    "HOOKS_STATUS_ANNOTATION",
    "HOOK_ANNOTATION",
    "HOOK_DELETE_ANNOTATION",
    "HOOK_OF_ANNOTATION",
    "KUSTOMIZE",
    "LAST_SYNCED_COMMIT_ANNOTATION",
    "MANAGED_BY_LABEL",
    "MEMBER_KINDS_STATUS_ANNOTATION",
    "OBJECTS_STATUS_ANNOTATION",
    "PART_OF_LABEL",
    "PLAIN",
    "RECORD_APP_ANNOTATION",
    "RECORD_HASH_ANNOTATION",
    "RECORD_SOURCE_ANNOTATION",
    "REFUSED_ANNOTATION",
    "REPLACE_ANNOTATION",
    "SERVER_FORM_ANNOTATION",
    "SHARDS_ANNOTATION",
    "SOPS_FILE_ANNOTATION",
    "SOPS_SOURCE_ANNOTATION",
    "SOURCE_KEY",
    "STATUS_PREFIX",
    "TARGETS_ANNOTATION",
    "TARGET_POOL_ANNOTATION",
    "TOOLING_ANNOTATION",
    "WAVE_ANNOTATION",
    "Action",
    "App",
    "AppSource",
    "ApplySet",
    "ApplySetParent",
    "Change",
    "ClusterConfig",
    "DesiredObject",
    "Event",
    "GaveUp",
    "GitkubeError",
    "Health",
    "HealthState",
    "KubeApi",
    "KubeApiError",
    "NotifyRule",
    "ObjectId",
    "Problem",
    "RenderContext",
    "RepoConfig",
    "RequestLog",
    "Resource",
    "RetryPolicy",
    "SourceObject",
    "SyncResult",
    "SyncSettings",
    "SyncState",
    "Target",
    "Verdict",
    "__version__",
    "collector_paused",
    "containers",
    "content_hash",
    "documented",
    "gce_name_problem",
    "health_summary",
    "hookimpl",
    "hooks_summary",
    "mount_in_pods",
    "object_id",
    "parse_retry_after",
    "retrying",
    "throttling_left_to_caller",
    "worst",
]
