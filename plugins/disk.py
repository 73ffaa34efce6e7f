"""disk: GCE persistent disks declared in app.yaml ``disks``.

Every disk becomes a Config Connector ``ComputeDisk`` in the cluster's zone.

* ``mode: pv`` (default): a PersistentVolume on the GCE PD CSI driver bound to
  that disk, a PersistentVolumeClaim bound to the PV, and the claim mounted at
  ``mount`` in every container of the app.
* ``mode: node``: the seed's procedure without SSH. The disk is attached to
  the named node instance (the ``gitkube.dev/attach-to-instance`` annotation,
  carried out by the GCE sync target); a one-shot privileged Job pinned to
  that node formats the disk only when it has no filesystem and mounts it at
  ``/mnt/<disk>``; the app's pods are pinned to the node and mount that host
  path at ``mount``.
"""

from __future__ import annotations

from typing import Any

from gitkube.plugin_api import (
    ATTACH_ANNOTATION,
    GCE_API_VERSION,
    App,
    GitkubeError,
    Problem,
    RenderContext,
    Resource,
    documented,
    gce_name_problem,
    hookimpl,
    mount_in_pods,
)

CSI_DRIVER = "pd.csi.storage.gke.io"
HOSTNAME_LABEL = "kubernetes.io/hostname"
FORMAT_IMAGE = "debian:bookworm-slim"

DISKS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "sizeGb", "mount"],
        "properties": {
            "name": {"type": "string", "format": "gce-name"},
            # gitkube's schemas take only whole numbers as integers (10.0 is refused)
            "sizeGb": {"type": "integer", "minimum": 1},
            "type": {"type": "string", "enum": ["pd-standard", "pd-balanced", "pd-ssd"]},
            "mount": {"type": "string", "format": "absolute-normalized-path"},
            "mode": {"type": "string", "enum": ["pv", "node"]},
            # an instance name: it goes into a Compute API URL (instances/<node>)
            # and into the kubernetes.io/hostname node selector
            "node": {"type": "string", "format": "gce-name"},
            "readOnly": {"type": "boolean"},
        },
        "if": {"properties": {"mode": {"const": "node"}}, "required": ["mode"]},
        "then": {"required": ["node"]},
        "else": {"not": {"required": ["node"]}},
    },
}

# Formats only a blank disk: blkid finds a filesystem on anything ever formatted,
# so a restarted Job or a re-created app never wipes the world.
FORMAT_SCRIPT = """set -eu
dev=/dev/disk/by-id/google-{disk}
for i in $(seq 60); do [ -b "$dev" ] && break; sleep 5; done
[ -b "$dev" ] || {{ echo "disk {disk} is not attached to this node" >&2; exit 1; }}
if ! blkid "$dev" >/dev/null 2>&1; then
  mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard "$dev"
fi
mkdir -p /host/mnt/{disk}
mountpoint -q /host/mnt/{disk} || mount -o discard,defaults "$dev" /host/mnt/{disk}
"""


DISKS_DOC: dict[str, Any] = {
    "description": "GCE persistent disks of the app: a ComputeDisk in the cluster's zone, "
    "and a PersistentVolume and claim mounted into the app's containers (`mode: pv`), "
    "or an attachment to one node formatted on first use (`mode: node`).",
    "default": [],
    "examples": [
        [{"name": "minecraft-world", "sizeGb": 50, "type": "pd-standard", "mount": "/data"}]
    ],
    "fields": {
        "name": "The disk's name in GCE (and of its PV and claim).",
        "sizeGb": "Size in GB.",
        "type": {"description": "The GCE disk type.", "default": "pd-standard"},
        "mount": "The absolute path to mount it at in each container of the app.",
        "mode": {
            "description": "`pv`: through the GCE PD CSI driver; `node`: attached to `node`.",
            "default": "pv",
        },
        "node": "With `mode: node`, the node instance to attach the disk to (required then).",
        "readOnly": {"description": "Mount read-only.", "default": False},
    },
}


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {"disks": documented(DISKS_SCHEMA, **DISKS_DOC)}


def _require_zone(ctx: RenderContext, disk: str, settings_file: str | None) -> str:
    zone = ctx.config.cluster.zone
    if not zone or not ctx.config.cluster.project:
        raise GitkubeError(
            f'disk "{disk}" needs cluster.project and cluster.zone in gitkube.yaml',
            file=settings_file,
        )
    return zone


@hookimpl
def gitkube_generate(app: App, ctx: RenderContext) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for disk in app.settings.get("disks", ()):
        name = disk["name"]
        zone = _require_zone(ctx, name, app.settings_file)
        compute_disk: dict[str, Any] = {
            "apiVersion": GCE_API_VERSION,
            "kind": "ComputeDisk",
            "metadata": {"name": name},
            "spec": {
                "location": zone,
                "size": disk["sizeGb"],
                "type": disk.get("type", "pd-standard"),
            },
        }
        objects.append(compute_disk)
        if disk.get("mode", "pv") == "node":
            compute_disk["metadata"]["annotations"] = {ATTACH_ANNOTATION: disk["node"]}
            objects.append(_format_job(app.name, disk, ctx))
        else:
            objects.extend(_volume_and_claim(disk, ctx))
    return objects


def _volume_and_claim(disk: dict[str, Any], ctx: RenderContext) -> list[dict[str, Any]]:
    name, size = disk["name"], f"{disk['sizeGb']}Gi"
    cluster = ctx.config.cluster
    access = ["ReadOnlyMany"] if disk.get("readOnly") else ["ReadWriteOnce"]
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": access,
            # The disk outlives the claim: deleting an app must not delete its data.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": ctx.config.namespace, "name": name},
            "csi": {
                "driver": CSI_DRIVER,
                "volumeHandle": f"projects/{cluster.project}/zones/{cluster.zone}/disks/{name}",
                "fsType": "ext4",
            },
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": access,
            "storageClassName": "",
            "volumeName": name,
            "resources": {"requests": {"storage": size}},
        },
    }
    return [volume, claim]


def _format_job(app_name: str, disk: dict[str, Any], ctx: RenderContext) -> dict[str, Any]:
    name = disk["name"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"format-{name}"},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "nodeSelector": {HOSTNAME_LABEL: disk["node"]},
                    "containers": [
                        {
                            "name": "format",
                            "image": FORMAT_IMAGE,
                            "command": ["/bin/sh", "-c", FORMAT_SCRIPT.format(disk=name)],
                            "securityContext": {"privileged": True},
                            "volumeMounts": [
                                {"name": "dev", "mountPath": "/dev"},
                                {
                                    "name": "host-mnt",
                                    "mountPath": "/host/mnt",
                                    # The mount must reach the node, not just this container.
                                    "mountPropagation": "Bidirectional",
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "dev", "hostPath": {"path": "/dev"}},
                        {"name": "host-mnt", "hostPath": {"path": "/mnt"}},
                    ],
                }
            },
        },
    }


@hookimpl
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    disks = resource.app.settings.get("disks", ())
    if not disks or resource.generated_by == "disk":
        return
    for disk in disks:
        volume_name = f"disk-{disk['name']}"
        mount: dict[str, Any] = {"name": volume_name, "mountPath": disk["mount"]}
        if disk.get("readOnly"):
            mount["readOnly"] = True
        if disk.get("mode", "pv") == "node":
            volume = {
                "name": volume_name,
                "hostPath": {"path": f"/mnt/{disk['name']}", "type": "Directory"},
            }
            for pod_spec in resource.pod_specs():
                _pin_to_node(resource, pod_spec, disk["node"])
        else:
            volume = {"name": volume_name, "persistentVolumeClaim": {"claimName": disk["name"]}}
        mount_in_pods(resource, volume, mount)


def _pin_to_node(resource: Resource, pod_spec: dict[str, Any], node: str) -> None:
    selector = pod_spec.setdefault("nodeSelector", {})
    current = selector.get(HOSTNAME_LABEL)
    if current not in (None, node):
        raise GitkubeError(
            f"pods are pinned to node {current} but disk mode node needs {node}",
            file=resource.source,
            app=resource.app.path,
            obj=resource.describe(),
        )
    selector[HOSTNAME_LABEL] = node


@hookimpl
def gitkube_validate(resources: list[Resource], ctx: RenderContext) -> list[Problem]:
    """The attach annotation, wherever it was written, must name an instance.

    The GCE target puts its value into a Compute API URL path, so a value such
    as ``../../zones/x/instances/evil`` would reach another resource.
    """
    problems = []
    for resource in resources:
        value = resource.annotations().get(ATTACH_ANNOTATION)
        if value is None or not resource.is_gce:
            continue
        problem = gce_name_problem(value)
        if problem is not None:
            problems.append(
                Problem(
                    f"{ATTACH_ANNOTATION}: {problem}",
                    file=resource.source,
                    app=resource.app.path,
                    obj=resource.describe(),
                )
            )
    return problems
