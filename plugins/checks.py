"""checks: repo-wide rules on the final set of objects.

* one object per identity across the whole repo (both files named);
* no plaintext ``kind: Secret`` with ``data``/``stringData`` in git;
* images that float (``:latest`` or no tag) are reported as warnings, since
  the same commit could then run different code tomorrow.
"""

from __future__ import annotations

from gitkube.plugin_api import ObjectId, Problem, RenderContext, Resource, containers, hookimpl

SECRET_ADVICE = (
    "secrets must not be committed in plaintext: create the Secret out of band "
    "(kubectl create secret ...) and reference it by name, or commit it encrypted "
    "(e.g. a SealedSecret or an ExternalSecret)"
)


def _origin(resource: Resource) -> str:
    """The file, and the List item when the object is one."""
    return f"{resource.source}, {resource.item}" if resource.item else resource.source


def _image_floats(image: str) -> bool:
    if "@" in image:
        return False
    name = image.rsplit("/", 1)[-1]
    return ":" not in name or name.endswith(":latest")


@hookimpl
def gitkube_validate(resources: list[Resource], ctx: RenderContext) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[ObjectId, Resource] = {}
    for resource in resources:
        other = first_seen.setdefault(resource.id, resource)
        if other is not resource:
            problems.append(
                Problem(
                    f"{resource.id} is defined twice: in {_origin(other)} (app {other.app.path}) "
                    f"and in {_origin(resource)} (app {resource.app.path})",
                    file=resource.source,
                    app=resource.app.path,
                )
            )
        if (
            resource.kind == "Secret"
            and resource.group == ""
            and (resource.body.get("data") or resource.body.get("stringData"))
        ):
            problems.append(
                Problem(
                    f"plaintext Secret {resource.name}: {SECRET_ADVICE}",
                    file=resource.source,
                    app=resource.app.path,
                    obj=resource.describe(),
                )
            )
        for spec in resource.pod_specs():
            for container in containers(spec):
                image = str(container.get("image", ""))
                if image and _image_floats(image):
                    problems.append(
                        Problem(
                            f'container "{container.get("name")}" uses image {image} '
                            "without a fixed tag; pin a version or digest",
                            file=resource.source,
                            app=resource.app.path,
                            obj=resource.describe(),
                            severity="warning",
                        )
                    )
    return problems
