"""volumes: app.yaml shorthand for a volume mounted into every container of the app.

``{name: conf, mount: /etc/nginx/conf.d, configMap: frontend-conf}`` adds a pod
volume ``conf`` from ConfigMap ``frontend-conf`` to every pod template of the
app and mounts it at ``/etc/nginx/conf.d`` in each container (init containers
too). A volume or mount the user already wrote identically is left alone; a
different one with the same name or path is an error.
"""

from __future__ import annotations

from typing import Any

from gitkube.plugin_api import RenderContext, Resource, documented, hookimpl, mount_in_pods

# Shorthand key -> how the pod volume source is written.
SOURCES: dict[str, Any] = {
    "configMap": {"type": "string"},
    "secret": {"type": "string"},
    "persistentVolumeClaim": {"type": "string"},
    "hostPath": {"type": "string"},
    "emptyDir": {"type": "object"},
}

VOLUMES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "mount"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "mount": {"type": "string", "format": "absolute-normalized-path"},
            "readOnly": {"type": "boolean"},
            # relative and without "..", as the API server requires of volumeMounts[].subPath
            "subPath": {"type": "string", "pattern": "^(?!/)(?!(.*/)?\\.\\.(/|$))"},
            **SOURCES,
        },
        "oneOf": [{"required": [key]} for key in SOURCES],
    },
}


def volume_source(entry: dict[str, Any]) -> dict[str, Any]:
    """The pod ``volumes[]`` item for one shorthand entry."""
    if "configMap" in entry:
        return {"name": entry["name"], "configMap": {"name": entry["configMap"]}}
    if "secret" in entry:
        return {"name": entry["name"], "secret": {"secretName": entry["secret"]}}
    if "persistentVolumeClaim" in entry:
        return {
            "name": entry["name"],
            "persistentVolumeClaim": {"claimName": entry["persistentVolumeClaim"]},
        }
    if "hostPath" in entry:
        return {"name": entry["name"], "hostPath": {"path": entry["hostPath"]}}
    return {"name": entry["name"], "emptyDir": dict(entry["emptyDir"])}


def mount_for(entry: dict[str, Any]) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": entry["name"], "mountPath": entry["mount"]}
    if entry.get("readOnly"):
        mount["readOnly"] = True
    if entry.get("subPath"):
        mount["subPath"] = entry["subPath"]
    return mount


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {
        "volumes": documented(
            VOLUMES_SCHEMA,
            "Volumes mounted into every container (init containers too) of every pod "
            "template of the app. Exactly one source key per entry.",
            default=[],
            examples=[
                [
                    {"name": "conf", "mount": "/etc/nginx/conf.d", "configMap": "frontend-conf"},
                    {"name": "cache", "mount": "/var/cache/nginx", "emptyDir": {}},
                ]
            ],
            fields={
                "name": "The pod volume's name.",
                "mount": "The absolute path to mount it at in each container.",
                "readOnly": {"description": "Mount read-only.", "default": False},
                "subPath": "Mount only this path inside the volume.",
                "configMap": "Source: the ConfigMap of this name.",
                "secret": "Source: the Secret of this name.",
                "persistentVolumeClaim": "Source: the PersistentVolumeClaim of this name.",
                "hostPath": "Source: this path on the node.",
                "emptyDir": "Source: an emptyDir with these settings (`{}` for the defaults).",
            },
        )
    }


@hookimpl
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    entries = resource.app.settings.get("volumes", ())
    if not entries:
        return
    for entry in entries:
        mount_in_pods(resource, volume_source(entry), mount_for(entry))
