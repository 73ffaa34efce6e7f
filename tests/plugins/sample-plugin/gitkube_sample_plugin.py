"""A third-party plugin: app.yaml ``greeting: TEXT`` becomes an annotation."""

from gitkube.plugin_api import hookimpl


@hookimpl
def gitkube_app_keys():
    return {"greeting": {"type": "string"}}


@hookimpl
def gitkube_transform(resource, ctx):
    greeting = resource.app.settings.get("greeting")
    if greeting:
        resource.annotations()["example.com/greeting"] = greeting
