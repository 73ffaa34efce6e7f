"""Which kinds the API server keeps in a namespace, and which it keeps cluster-wide.

An object's identity on the server is (group, kind, namespace, name) for
namespaced kinds and (group, kind, name) for cluster-scoped ones, so scope
decides both when the repo's namespace is filled in and when two objects are
the same. Scope comes from, in order:

1. Kubernetes' own kinds (:data:`BUILTIN_SCOPES`: every kind kube-apiserver
   v1.37 serves with all alpha and beta APIs on, which
   tests/controlplane/test_builtin_scopes.py checks against its discovery);
2. CustomResourceDefinitions in the repo (``spec.group``,
   ``spec.names.kind``, ``spec.scope``);
3. anything else (a CRD installed out of band, an aggregated API): namespaced
   exactly when the manifest gives ``metadata.namespace``, since gitkube
   cannot know, and guessing "namespaced" would put a cluster-scoped object
   into the repo's namespace (docs/names.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GCE_GROUP = "compute.cnrm.cloud.google.com"
CRD_GROUP = "apiextensions.k8s.io"

_NAMESPACED = True
_CLUSTER = False

# (group, kind) -> namespaced, for every kind Kubernetes serves itself.
BUILTIN_SCOPES: Mapping[tuple[str, str], bool] = {
    # core
    ("", "Binding"): _NAMESPACED,
    ("", "ComponentStatus"): _CLUSTER,
    ("", "ConfigMap"): _NAMESPACED,
    ("", "Endpoints"): _NAMESPACED,
    ("", "Event"): _NAMESPACED,
    ("", "LimitRange"): _NAMESPACED,
    ("", "Namespace"): _CLUSTER,
    ("", "Node"): _CLUSTER,
    ("", "PersistentVolume"): _CLUSTER,
    ("", "PersistentVolumeClaim"): _NAMESPACED,
    ("", "Pod"): _NAMESPACED,
    ("", "PodTemplate"): _NAMESPACED,
    ("", "ReplicationController"): _NAMESPACED,
    ("", "ResourceQuota"): _NAMESPACED,
    ("", "Secret"): _NAMESPACED,
    ("", "Service"): _NAMESPACED,
    ("", "ServiceAccount"): _NAMESPACED,
    # admissionregistration.k8s.io
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): _CLUSTER,
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"): _CLUSTER,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _CLUSTER,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): _CLUSTER,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): _CLUSTER,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _CLUSTER,
    # apiextensions.k8s.io, apiregistration.k8s.io
    (CRD_GROUP, "CustomResourceDefinition"): _CLUSTER,
    ("apiregistration.k8s.io", "APIService"): _CLUSTER,
    # apps
    ("apps", "ControllerRevision"): _NAMESPACED,
    ("apps", "DaemonSet"): _NAMESPACED,
    ("apps", "Deployment"): _NAMESPACED,
    ("apps", "ReplicaSet"): _NAMESPACED,
    ("apps", "StatefulSet"): _NAMESPACED,
    # authentication.k8s.io, authorization.k8s.io (create-only reviews)
    ("authentication.k8s.io", "SelfSubjectReview"): _CLUSTER,
    ("authentication.k8s.io", "TokenReview"): _CLUSTER,
    ("authorization.k8s.io", "LocalSubjectAccessReview"): _NAMESPACED,
    ("authorization.k8s.io", "SelfSubjectAccessReview"): _CLUSTER,
    ("authorization.k8s.io", "SelfSubjectRulesReview"): _CLUSTER,
    ("authorization.k8s.io", "SubjectAccessReview"): _CLUSTER,
    # autoscaling, batch
    ("autoscaling", "HorizontalPodAutoscaler"): _NAMESPACED,
    ("batch", "CronJob"): _NAMESPACED,
    ("batch", "Job"): _NAMESPACED,
    # certificates.k8s.io
    ("certificates.k8s.io", "CertificateSigningRequest"): _CLUSTER,
    ("certificates.k8s.io", "ClusterTrustBundle"): _CLUSTER,
    ("certificates.k8s.io", "PodCertificateRequest"): _NAMESPACED,
    # coordination.k8s.io, discovery.k8s.io, events.k8s.io
    ("coordination.k8s.io", "Lease"): _NAMESPACED,
    ("coordination.k8s.io", "LeaseCandidate"): _NAMESPACED,
    ("discovery.k8s.io", "EndpointSlice"): _NAMESPACED,
    ("events.k8s.io", "Event"): _NAMESPACED,
    # flowcontrol.apiserver.k8s.io
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): _CLUSTER,
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): _CLUSTER,
    # lifecycle.k8s.io (alpha)
    ("lifecycle.k8s.io", "Eviction"): _NAMESPACED,
    ("lifecycle.k8s.io", "EvictionRequest"): _NAMESPACED,
    # internal.apiserver.k8s.io
    ("internal.apiserver.k8s.io", "StorageVersion"): _CLUSTER,
    # networking.k8s.io
    ("networking.k8s.io", "IPAddress"): _CLUSTER,
    ("networking.k8s.io", "Ingress"): _NAMESPACED,
    ("networking.k8s.io", "IngressClass"): _CLUSTER,
    ("networking.k8s.io", "NetworkPolicy"): _NAMESPACED,
    ("networking.k8s.io", "ServiceCIDR"): _CLUSTER,
    # node.k8s.io, policy
    ("node.k8s.io", "RuntimeClass"): _CLUSTER,
    ("policy", "PodDisruptionBudget"): _NAMESPACED,
    # rbac.authorization.k8s.io
    ("rbac.authorization.k8s.io", "ClusterRole"): _CLUSTER,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _CLUSTER,
    ("rbac.authorization.k8s.io", "Role"): _NAMESPACED,
    ("rbac.authorization.k8s.io", "RoleBinding"): _NAMESPACED,
    # resource.k8s.io (dynamic resource allocation)
    ("resource.k8s.io", "DeviceClass"): _CLUSTER,
    ("resource.k8s.io", "DeviceTaintRule"): _CLUSTER,
    ("resource.k8s.io", "ResourceClaim"): _NAMESPACED,
    ("resource.k8s.io", "ResourceClaimTemplate"): _NAMESPACED,
    ("resource.k8s.io", "ResourcePoolStatusRequest"): _CLUSTER,
    ("resource.k8s.io", "ResourceSlice"): _CLUSTER,
    # scheduling.k8s.io
    ("scheduling.k8s.io", "CompositePodGroup"): _NAMESPACED,
    ("scheduling.k8s.io", "PodGroup"): _NAMESPACED,
    ("scheduling.k8s.io", "PriorityClass"): _CLUSTER,
    ("scheduling.k8s.io", "Workload"): _NAMESPACED,
    # storage.k8s.io, storagemigration.k8s.io
    ("storage.k8s.io", "CSIDriver"): _CLUSTER,
    ("storage.k8s.io", "CSINode"): _CLUSTER,
    ("storage.k8s.io", "CSIStorageCapacity"): _NAMESPACED,
    ("storage.k8s.io", "StorageClass"): _CLUSTER,
    ("storage.k8s.io", "VolumeAttachment"): _CLUSTER,
    ("storage.k8s.io", "VolumeAttributesClass"): _CLUSTER,
    ("storagemigration.k8s.io", "StorageVersionMigration"): _CLUSTER,
}


def split_api_version(api_version: str) -> tuple[str, str]:
    """(group, version) of an ``apiVersion``; the core group is ``""``."""
    group, slash, version = api_version.rpartition("/")
    return (group, version) if slash else ("", api_version)


def is_builtin(group: str, kind: str) -> bool:
    return (group, kind) in BUILTIN_SCOPES


def crd_scopes(bodies: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced for each well-formed CustomResourceDefinition among ``bodies``."""
    found: dict[tuple[str, str], bool] = {}
    for body in bodies:
        if body.get("kind") != "CustomResourceDefinition":
            continue
        if split_api_version(str(body.get("apiVersion", "")))[0] != CRD_GROUP:
            continue
        spec = body.get("spec")
        if not isinstance(spec, Mapping):
            continue
        names = spec.get("names")
        group, scope = spec.get("group"), spec.get("scope")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        if isinstance(group, str) and isinstance(kind, str) and scope in ("Namespaced", "Cluster"):
            found[(group, kind)] = scope == "Namespaced"
    return found


def scopes_digest(crds: Mapping[tuple[str, str], bool]) -> str:
    """A short, order-independent digest of a CRD scope table (for cache entries)."""
    items = sorted([group, kind, namespaced] for (group, kind), namespaced in crds.items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:32]


class Scopes:
    """Scope lookups for one render: the built-in table plus the repo's CRDs."""

    def __init__(self, crds: Mapping[tuple[str, str], bool] | None = None) -> None:
        self.crds = dict(crds or {})

    def known(self, group: str, kind: str) -> bool | None:
        """True (namespaced), False (cluster-scoped) or None (not known here)."""
        if group == GCE_GROUP:
            return False  # Config Connector objects become GCE resources, outside any namespace
        found = BUILTIN_SCOPES.get((group, kind))
        return found if found is not None else self.crds.get((group, kind))

    def namespaced(self, group: str, kind: str, has_namespace: bool) -> bool:
        known = self.known(group, kind)
        return has_namespace if known is None else known
