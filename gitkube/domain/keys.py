"""Every label and annotation key gitkube and its plugins agree on, in one place.

Plugins read and write each other's keys (the ``external`` plugin writes the
target pool a Service's address points at, the GCE target reads it), so the
keys are a contract: they live here once and reach plugins through
:mod:`gitkube.plugin_api`, never as repeated string literals.
"""

# -- the ApplySet (kubectl's ApplySet specification, KEP-3659) --------------------
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
APPLYSET_ID_LABEL = "applyset.kubernetes.io/id"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
CONTAINS_GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
ADDITIONAL_NAMESPACES_ANNOTATION = "applyset.kubernetes.io/additional-namespaces"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

# -- on each member, written in the same apply as the object ----------------------
# The record of what gitkube applied: the rendered object's content hash, its
# rendered path, its app.
RECORD_HASH_ANNOTATION = "gitkube.dev/content-hash"
RECORD_SOURCE_ANNOTATION = "gitkube.dev/source"
RECORD_APP_ANNOTATION = "gitkube.dev/app"
# The hash of the values as the API server normalised them (cpu: 0.5 -> 500m), so a
# later sync recognises its own object without a dry-run.
SERVER_FORM_ANNOTATION = "gitkube.dev/server-form-hash"
# A SOPS Secret's rendered wrapper holds the SOPS file verbatim (docs/secrets.md),
# and says for people which file it came from.
SOPS_FILE_ANNOTATION = "gitkube.dev/sops-file"
SOPS_SOURCE_ANNOTATION = "gitkube.dev/sops-source"

# -- on the parent ------------------------------------------------------------------
# The last sync's outcome (rendered-commit, source-commit, result, ...).
STATUS_PREFIX = "status.gitkube.dev/"
# How many members the last run left (gitkube status reads it).
OBJECTS_STATUS_ANNOTATION = f"{STATUS_PREFIX}objects"
# The apps' health as the last run judged it: {"healthy": N, "problems": {app: text}}.
HEALTH_STATUS_ANNOTATION = f"{STATUS_PREFIX}health"
# The newest rendered commit a run applied from: the next must descend from it (no rewinds).
LAST_SYNCED_COMMIT_ANNOTATION = f"{STATUS_PREFIX}last-synced-commit"
# The group-kinds of the members that exist after the last run (read by `gitkube status`).
MEMBER_KINDS_STATUS_ANNOTATION = f"{STATUS_PREFIX}group-kinds"
# Why the latest run was refused by a trust check (until one passes; gitkube status shows it).
REFUSED_ANNOTATION = "verify.gitkube.dev/refused"
# How many shards the agent that owns this ApplySet runs with (gitkube.sync.shard):
# a sibling adopts an app only from a shard that counts the same, or that stopped.
SHARDS_ANNOTATION = "gitkube.dev/shards"
# The other sync targets (e.g. "gce") that own objects of this ApplySet.
TARGETS_ANNOTATION = "gitkube.dev/targets-in-use"

# -- between plugins, on rendered objects --------------------------------------------
# The user allows an object to be deleted and created again when an immutable
# field changes (read by the Kubernetes and the GCE targets).
REPLACE_ANNOTATION = "gitkube.dev/replace"
# On a Service: the ComputeAddress whose IP becomes its loadBalancerIP, bound
# at sync time (written by the external plugin, read by the Kubernetes target).
EXTERNAL_ADDRESS_ANNOTATION = "gitkube.dev/external-address"
# On a ComputeForwardingRule: the ComputeTargetPool it sends to (written by the
# external plugin, read by the GCE target).
TARGET_POOL_ANNOTATION = "gitkube.dev/target-pool"
# On a ComputeDisk: the node whose instance it is attached to (written by the
# disk plugin, read by the GCE target and the health plugin).
ATTACH_ANNOTATION = "gitkube.dev/attach-to-instance"

# -- Compute Engine labels ([a-z0-9_-] only: Kubernetes keys cannot be used there) --
# The ApplySet id of a Compute resource gitkube owns.
GCE_OWNER_LABEL = "gitkube-applyset"
# A Compute resource gitkube took over with --adopt (never deleted, only let go).
GCE_ADOPTED_LABEL = "gitkube-adopted"

# -- ordered syncs (docs/ordering.md) -------------------------------------------------
# On every object of an app whose app.yaml says dependsOn: the app paths it waits for,
# comma-separated (written by render, read by sync: sync never reads app.yaml).
DEPENDS_ON_ANNOTATION = "gitkube.dev/depends-on"
# The wave of an object inside its app: an integer, default 0, lower applied first.
WAVE_ANNOTATION = "gitkube.dev/wave"
# On a Job or Pod: run it at this point of a sync that changes its app
# (pre-sync, post-sync or sync-failed), as a fresh object named after the rendered commit.
HOOK_ANNOTATION = "gitkube.dev/hook"
# On a hook: what is left behind once it ran (on-success, always or never).
HOOK_DELETE_ANNOTATION = "gitkube.dev/hook-delete"
# On a hook's object: the hook it is an instance of (its name in the rendered commit).
HOOK_OF_ANNOTATION = "gitkube.dev/hook-of"
# On the parent: the last run of each hook ({"<app> <hook point> <hook name>": {result, seconds, ...}}).
HOOKS_STATUS_ANNOTATION = f"{STATUS_PREFIX}hooks"
