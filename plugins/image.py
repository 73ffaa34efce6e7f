"""image: rewrite container images with app.yaml ``images`` (kustomize semantics).

An entry matches a container whose image *name* (the reference without tag
or digest) equals ``name``; ``newName`` replaces the name, ``newTag`` the tag,
``digest`` replaces tag and digest. Other plugins can resolve images first
through ``gitkube_resolve_image`` (the first answer wins).
"""

from __future__ import annotations

from typing import Any

from gitkube.plugin_api import App, RenderContext, Resource, containers, documented, hookimpl

IMAGES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "newName": {"type": "string", "minLength": 1},
            "newTag": {"type": "string", "minLength": 1},
            "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
        },
    },
}


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` of a reference; a registry port is not a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def join_image(name: str, tag: str | None, digest: str | None) -> str:
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {
        "images": documented(
            IMAGES_SCHEMA,
            "Rewrite container images of the app, as kustomize's `images` does: an entry "
            "matches a container whose image name (without tag or digest) equals `name`.",
            default=[],
            examples=[
                [
                    {"name": "nginx", "newTag": "1.27"},
                    {"name": "ghost", "newName": "gcr.io/p/ghost"},
                ]
            ],
            fields={
                "name": "The image name to match, without tag or digest (`nginx`, `gcr.io/p/app`).",
                "newName": "Replace the name (registry and repository); the tag is kept.",
                "newTag": "Replace the tag.",
                "digest": "Pin to this digest (`sha256:...`); replaces tag and digest.",
            },
        )
    }


@hookimpl
def gitkube_resolve_image(image: str, app: App, ctx: RenderContext) -> str | None:
    name, tag, digest = split_image(image)
    for entry in app.settings.get("images", ()):
        if entry["name"] != name:
            continue
        if "digest" in entry:
            tag, digest = None, entry["digest"]
        elif "newTag" in entry:
            tag, digest = entry["newTag"], None
        return join_image(entry.get("newName", name), tag, digest)
    return None


@hookimpl
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    for spec in resource.pod_specs():
        for container in containers(spec):
            image = container.get("image")
            if isinstance(image, str) and image:
                container["image"] = ctx.resolve_image(image, resource.app)
