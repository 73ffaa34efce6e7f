"""``gitkube.yaml``: the repository's settings, checked and given defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitkube.domain.clusters import CLUSTERS_SCHEMA, check_cluster_keys
from gitkube.domain.notify import NOTIFY_SCHEMA, NotifyRule, parse_rules
from gitkube.domain.schema import first_error
from gitkube.domain.schema_docs import documented
from gitkube.domain.trust import VERIFY_SCHEMA, VerifyRequest
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.yamlio import load_one

if TYPE_CHECKING:
    import jsonschema

CONFIG_FILE = "gitkube.yaml"
# Input files larger than this are refused before they are parsed
# (render.maxFileBytes); gitkube.yaml itself is always read with this limit.
DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024

_NAME = {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"}
# These end up in Compute API URLs (projects/P/zones/Z/...): no '/' or '..'.
_PROJECT = {
    "type": "string",
    "pattern": "^(([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?)?$",
}
_LOCATION = {"type": "string", "pattern": "^([a-z][-a-z0-9]{0,62})?$"}


def _doc(schema: dict[str, Any], description: str, **more: Any) -> dict[str, Any]:
    return {**schema, "description": description, **more}


# The annotations (description, default, examples) are the source of
# docs/reference.md and `gitkube explain`; they do not change what validates.
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Repo-wide settings, in gitkube.yaml at the repo's top. Every key is optional.",
    "properties": {
        "cluster": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": _doc(
                        _NAME, "The cluster's name (part of the ApplySet id).", default="default"
                    ),
                    "project": _doc(
                        _PROJECT,
                        "The Google Cloud project of the GCE resources (needed by `disks` and `external`).",
                        default="",
                        examples=["my-proj"],
                    ),
                    "region": _doc(
                        _LOCATION,
                        "The region of addresses and forwarding rules.",
                        default="",
                        examples=["us-central1"],
                    ),
                    "zone": _doc(
                        _LOCATION,
                        "The zone of persistent disks and nodes.",
                        default="",
                        examples=["us-central1-b"],
                    ),
                    "network": _doc(_NAME, "The VPC network of firewall rules.", default="default"),
                    "nodeTag": _doc(
                        _NAME,
                        "The network tag of the cluster's nodes (firewall target).",
                        default="k8s-<cluster.name>-node",
                    ),
                    "values": _doc(
                        {"type": "object"},
                        "Free values plugins read as `ctx.config.cluster.values` "
                        "(per cluster under `clusters:`).",
                        default={},
                    ),
                },
            },
            "The cluster and its Google Cloud location.",
        ),
        "clusters": CLUSTERS_SCHEMA,
        "registry": _doc(
            {"type": "string"},
            "The default image registry.",
            default="",
            examples=["gcr.io/my-proj"],
        ),
        "namespace": _doc(_NAME, "The namespace of objects that name none.", default="default"),
        "plugins": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "require": _doc(
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                        "Plugin distributions this repo needs, as pip requirements; render "
                        "stops early when one is missing or has a version outside the range.",
                        default=[],
                        examples=[["gitkube-hpa>=1.0,<2"]],
                    ),
                    "disable": _doc(
                        {"type": "array", "items": {"type": "string"}},
                        "Plugins to turn off, by name (see `gitkube plugins`).",
                        default=[],
                        examples=[["image"]],
                    ),
                    "options": _doc(
                        {"type": "object"},
                        "Options per plugin: `options.<plugin>` is checked against the schema "
                        "the plugin declares (`gitkube explain plugins.options.<plugin>`).",
                        default={},
                        examples=[{"hpa": {"maxReplicas": 5}}],
                    ),
                },
            },
            "Which plugins run, which the repo needs, and their options.",
        ),
        "sync": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "prune": _doc(
                        {"type": "boolean"},
                        "Delete objects gitkube owns that the rendered commit no longer has.",
                        default=True,
                    ),
                    "maxPruneFraction": _doc(
                        {"type": "number", "minimum": 0, "maximum": 1},
                        "Refuse (exit 2) to prune more than this fraction of the owned "
                        "objects without `--allow-mass-prune`.",
                        default=0.3,
                    ),
                    "createNamespaces": _doc(
                        {"type": "boolean"},
                        "Create the namespaces objects are put in that neither the cluster nor "
                        "the repo has; false: refuse the sync before any write, naming them.",
                        default=True,
                    ),
                    "verify": _doc(
                        VERIFY_SCHEMA,
                        "Checks to require before applying (docs/threat-model.md). The repo can "
                        "only ask for them: who is trusted comes from the operator "
                        "(`--verify-rendered`, `--verify-source`, `--verify-configmap`), and a "
                        "check the operator turned on stays on whatever this says.",
                    ),
                },
            },
            "How `gitkube sync` and the agent apply.",
        ),
        "render": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "branch": _doc(
                        {"type": "string", "minLength": 1},
                        "The branch the rendered output is committed to.",
                        default="rendered",
                    ),
                    "sourceBranch": _doc(
                        {"type": "string", "minLength": 1},
                        "Only this branch's tip moves the rendered branch; other branches "
                        "are previewed with `gitkube diff`, never deployed.",
                        default="main",
                    ),
                    "maxFileBytes": _doc(
                        {"type": "integer", "minimum": 1},
                        "Refuse (naming it) any file of the repo larger than this many bytes, "
                        "without reading it.",
                        default=DEFAULT_MAX_FILE_BYTES,
                    ),
                    "sign": _doc(
                        {"type": "boolean"},
                        "Sign each rendered commit with git's own signing (`user.signingKey`; "
                        "SSH keys with `gpg.format=ssh`), like `gitkube render --sign`.",
                        default=False,
                    ),
                },
            },
            "Where `gitkube render` commits.",
        ),
        "gce": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "endpoint": _doc(
                        {"type": ["string", "null"]},
                        "A Compute Engine API endpoint other than Google's (tests, proxies).",
                        default=None,
                    )
                },
            },
            "How sync reaches Compute Engine.",
        ),
        "secrets": _doc(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "age": _doc(
                        {
                            "type": "array",
                            "items": {"type": "string", "pattern": "^age1[02-9ac-hj-np-z]{58}$"},
                            "uniqueItems": True,
                        },
                        "The age recipients (public keys) every SOPS file of the repo is "
                        "encrypted to; render refuses a file encrypted to any other "
                        "(docs/secrets.md).",
                        default=[],
                        examples=[
                            ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
                        ],
                    ),
                },
            },
            "SOPS files (`*.sops.yaml`) in app directories: who can decrypt them.",
        ),
        "notify": documented(
            NOTIFY_SCHEMA,
            "Where to post what sync runs do (docs/notifications.md): webhooks with an "
            "HMAC-SHA256 signature, or Slack.",
            default=[],
            examples=[
                [{"url": "https://hooks.example.com/gitkube", "events": ["failed", "refused"]}]
            ],
            fields={
                "url": "The endpoint to POST to.",
                "urlFrom": "Read the URL from an environment variable or a Secret instead.",
                "secretFrom": "The HMAC key, from an environment variable or a Secret.",
                "format": {"description": "`webhook` (JSON) or `slack`.", "default": "webhook"},
                "events": "The event kinds to send (default: all).",
                "apps": "Only events about these apps (globs; default: all).",
                "timeout": {"description": "Seconds per delivery attempt.", "default": 5.0},
                "urlFrom.env": "The environment variable holding it.",
                "urlFrom.secret": "The Secret holding it (in gitkube-system).",
                "urlFrom.secret.name": "The Secret's name.",
                "urlFrom.secret.key": "The key in the Secret's data.",
                "secretFrom.env": "The environment variable holding it.",
                "secretFrom.secret": "The Secret holding it (in gitkube-system).",
                "secretFrom.secret.name": "The Secret's name.",
                "secretFrom.secret.key": "The key in the Secret's data.",
            },
        ),
    },
}


@dataclass(frozen=True)
class ClusterConfig:
    name: str = "default"
    project: str = ""
    region: str = ""
    zone: str = ""
    network: str = "default"
    node_tag: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)  # free values for plugins


@dataclass(frozen=True)
class RepoConfig:
    """Everything ``gitkube.yaml`` says, with the defaults of DESIGN §1 filled in."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    registry: str = ""
    namespace: str = "default"
    disabled_plugins: tuple[str, ...] = ()
    required_plugins: tuple[str, ...] = ()
    plugin_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    prune: bool = True
    max_prune_fraction: float = 0.3
    # Create the namespaces objects are put in that neither the cluster nor the
    # repo has; false: refuse the sync before any write, naming them.
    create_namespaces: bool = True
    rendered_branch: str = "rendered"
    source_branch: str = "main"  # only its tip moves the rendered branch
    notify: tuple[NotifyRule, ...] = ()
    gce_endpoint: str | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    sign: bool = False  # render.sign
    verify: VerifyRequest = field(default_factory=VerifyRequest)  # sync.verify
    age_recipients: tuple[str, ...] = ()  # secrets.age

    def options_for(self, plugin: str) -> Mapping[str, Any]:
        return self.plugin_options.get(plugin, {})


def closest(word: str, known: list[str] | set[str]) -> str:
    """' (did you mean "x"?)' for the nearest known word, or an empty string."""
    import difflib  # only a typo needs it, not every render

    match = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.5)
    return f' (did you mean "{match[0]}"?)' if match else ""


def schema_error_message(error: jsonschema.ValidationError) -> str:
    """One line for a jsonschema error: where, what, and a suggestion for typos."""
    where = ".".join(str(p) for p in error.absolute_path) or "top level"
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        return "; ".join(f'unknown key "{key}" at {where}{closest(key, allowed)}' for key in extra)
    # A format check says why in its cause ("must be at most 63 characters").
    why = f" ({error.cause})" if error.validator == "format" and error.cause else ""
    return f"{where}: {error.message}{why}"


def parse_config(
    text: bytes | None, path: str = CONFIG_FILE, *, checked: bool = False
) -> RepoConfig:
    """Read ``gitkube.yaml`` (``None`` when the repo has none: all defaults).

    ``checked``: these very bytes passed this code's schema before (the caller
    knows a clean render of them), so the schema is not asked again.
    """
    raw = load_one(text, path) if text is not None else None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise GitkubeError("expected a mapping of settings", file=path)
    error = None if checked else first_error(CONFIG_SCHEMA, raw)
    if error is not None:
        raise GitkubeError(schema_error_message(error), file=path)
    check_cluster_keys(raw, path)
    cluster_raw = raw.get("cluster", {})
    name = cluster_raw.get("name", "default")
    cluster = ClusterConfig(
        name=name,
        project=cluster_raw.get("project", ""),
        region=cluster_raw.get("region", ""),
        zone=cluster_raw.get("zone", ""),
        network=cluster_raw.get("network", "default"),
        node_tag=cluster_raw.get("nodeTag", f"k8s-{name}-node"),
        values=cluster_raw.get("values", {}),
    )
    plugins = raw.get("plugins", {})
    sync = raw.get("sync", {})
    return RepoConfig(
        cluster=cluster,
        registry=raw.get("registry", ""),
        namespace=raw.get("namespace", "default"),
        disabled_plugins=tuple(plugins.get("disable", ())),
        required_plugins=tuple(plugins.get("require", ())),
        plugin_options=plugins.get("options", {}),
        prune=sync.get("prune", True),
        max_prune_fraction=float(sync.get("maxPruneFraction", 0.3)),
        create_namespaces=sync.get("createNamespaces", True),
        rendered_branch=raw.get("render", {}).get("branch", "rendered"),
        source_branch=raw.get("render", {}).get("sourceBranch", "main"),
        max_file_bytes=raw.get("render", {}).get("maxFileBytes", DEFAULT_MAX_FILE_BYTES),
        gce_endpoint=raw.get("gce", {}).get("endpoint"),
        notify=parse_rules(raw.get("notify", ())),
        sign=raw.get("render", {}).get("sign", False),
        verify=VerifyRequest.from_document(sync.get("verify", {})),
        age_recipients=tuple(raw.get("secrets", {}).get("age", ())),
    )


def sync_settings_document(config: RepoConfig) -> dict[str, Any]:
    """The parts of gitkube.yaml that sync needs, in gitkube.yaml's own shape.

    Recorded in the rendered commit's inventory, so the sync agent reads its
    settings from what was reviewed and never from the source repo.
    """
    cluster = config.cluster
    sync: dict[str, Any] = {"prune": config.prune, "maxPruneFraction": config.max_prune_fraction}
    if (
        not config.create_namespaces
    ):  # written only when set, so older inventories stay as they were
        sync["createNamespaces"] = False
    if config.verify.any:  # only when asked for, so older inventories stay as they were
        sync["verify"] = config.verify.as_document()
    return {
        "cluster": {
            "name": cluster.name,
            "project": cluster.project,
            "region": cluster.region,
            "zone": cluster.zone,
            "network": cluster.network,
            "nodeTag": cluster.node_tag,
        },
        "namespace": config.namespace,
        "sync": sync,
        "gce": {"endpoint": config.gce_endpoint},
        # Only when set, so inventories without notifications stay as they were.
        **({"notify": [rule.as_document() for rule in config.notify]} if config.notify else {}),
    }
