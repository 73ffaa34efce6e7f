"""external: a public service on its own static IP, with its GCE networking.

For app.yaml ``external: {address: frontend-ip, ports: [80, 443], protocol: TCP}``
this renders, in Config Connector's schema:

* ``ComputeAddress`` ``frontend-ip`` (reserved by sync when missing);
* ``ComputeFirewall`` ``<app>-external`` allowing the ports from 0.0.0.0/0 to
  the nodes' network tag (``cluster.nodeTag``);
* ``ComputeTargetPool`` ``<app>-pool``, whose instances are the cluster's
  nodes, bound by sync on every run (DESIGN §4);
* ``ComputeForwardingRule`` ``<app>-<protocol>`` from the address to the pool,
  one per run of consecutive ports (``<app>-<protocol>-<first port>`` for the
  second and later runs), so exactly the listed ports are forwarded.

The app's Service that serves those ports gets the
``gitkube.dev/external-address`` annotation; sync sets its ``externalIPs`` to
the reserved IP. Config Connector's v1beta1 ``ComputeForwardingRule.target``
has no target-pool reference, so the pool is named by the
``gitkube.dev/target-pool`` annotation, which the GCE target reads.
"""

from __future__ import annotations

from typing import Any

from gitkube.plugin_api import (
    EXTERNAL_ADDRESS_ANNOTATION,
    GCE_API_VERSION,
    TARGET_POOL_ANNOTATION,
    App,
    GitkubeError,
    Problem,
    RenderContext,
    Resource,
    documented,
    gce_name_problem,
    hookimpl,
)

EXTERNAL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["address", "ports"],
    "properties": {
        "address": {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "ports": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            # gitkube's schemas take only whole numbers as integers (80.0 is refused)
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
        },
        "protocol": {"type": "string", "enum": ["TCP", "UDP"]},
    },
}


EXTERNAL_DOC: dict[str, Any] = {
    "description": "Serve the app publicly on a static IP: a ComputeAddress, a firewall rule "
    "to the nodes' tag, a target pool of the nodes and a forwarding rule; the Service "
    "serving the ports gets the address as its externalIPs.",
    "examples": [{"address": "frontend-ip", "ports": [80, 443], "protocol": "TCP"}],
    "fields": {
        "address": "The name of the static IP (a ComputeAddress, reserved when missing).",
        "ports": "The ports to open and forward (the rule covers lowest..highest).",
        "protocol": {"description": "The IP protocol.", "default": "TCP"},
    },
}


@hookimpl
def gitkube_app_keys() -> dict[str, Any]:
    return {"external": documented(EXTERNAL_SCHEMA, **EXTERNAL_DOC)}


def _gce(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GCE_API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


@hookimpl
def gitkube_generate(app: App, ctx: RenderContext) -> list[dict[str, Any]]:
    external = app.settings.get("external")
    if not external:
        return []
    cluster = ctx.config.cluster
    if not cluster.project or not cluster.region:
        raise GitkubeError(
            "external needs cluster.project and cluster.region in gitkube.yaml",
            file=app.settings_file,
        )
    ports = sorted(external["ports"])
    protocol = external.get("protocol", "TCP")
    pool = f"{app.name}-pool"
    rules = []
    for index, (low, high) in enumerate(contiguous_runs(ports)):
        # A target-pool forwarding rule forwards one port range: one rule per
        # run of listed ports, so no port between them is ever forwarded. The
        # first keeps the plain name (a single range renders as it always did).
        suffix = "" if index == 0 else f"-{low}"
        rule = _gce(
            "ComputeForwardingRule",
            f"{app.name}-{protocol.lower()}{suffix}",
            {
                "location": cluster.region,
                "ipAddress": {"addressRef": {"name": external["address"]}},
                "ipProtocol": protocol,
                "portRange": f"{low}-{high}",
                "loadBalancingScheme": "EXTERNAL",
            },
        )
        rule["metadata"]["annotations"] = {TARGET_POOL_ANNOTATION: pool}
        rules.append(rule)
    return [
        _gce(
            "ComputeAddress",
            external["address"],
            {"location": cluster.region, "addressType": "EXTERNAL"},
        ),
        _gce(
            "ComputeFirewall",
            f"{app.name}-external",
            {
                "networkRef": {
                    "external": f"projects/{cluster.project}/global/networks/{cluster.network}"
                },
                "allow": [{"protocol": protocol.lower(), "ports": [str(p) for p in ports]}],
                "sourceRanges": ["0.0.0.0/0"],
                "targetTags": [cluster.node_tag],
            },
        ),
        _gce("ComputeTargetPool", pool, {"region": cluster.region}),
        *rules,
    ]


def contiguous_runs(ports: list[int]) -> list[tuple[int, int]]:
    """Sorted ports as (first, last) runs: [80, 443, 444] -> [(80, 80), (443, 444)]."""
    runs: list[tuple[int, int]] = []
    for port in ports:
        if runs and port == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], port)
        else:
            runs.append((port, port))
    return runs


@hookimpl
def gitkube_transform(resource: Resource, ctx: RenderContext) -> None:
    external = resource.app.settings.get("external")
    if not external or resource.kind != "Service" or resource.is_gce:
        return
    service_ports = {p.get("port") for p in resource.body.get("spec", {}).get("ports") or ()}
    if not service_ports & set(external["ports"]):
        return
    annotations = resource.ensure_annotations()
    current = annotations.get(EXTERNAL_ADDRESS_ANNOTATION)
    if current not in (None, external["address"]):
        raise GitkubeError(
            f"{EXTERNAL_ADDRESS_ANNOTATION} is {current} but app.yaml external.address is "
            f"{external['address']}",
            file=resource.source,
            app=resource.app.path,
            obj=resource.describe(),
        )
    annotations[EXTERNAL_ADDRESS_ANNOTATION] = external["address"]


@hookimpl
def gitkube_validate(resources: list[Resource], ctx: RenderContext) -> list[Problem]:
    problems = _reference_problems(resources)
    exposed: dict[str, App] = {}
    served: set[str] = set()
    for resource in resources:
        if resource.app.settings.get("external"):
            exposed[resource.app.path] = resource.app
            if resource.kind == "Service" and EXTERNAL_ADDRESS_ANNOTATION in resource.annotations():
                served.add(resource.app.path)
    return problems + [
        Problem(
            f"external.ports {app.settings['external']['ports']} match no port of any "
            "Service in the app; add a Service for them",
            file=app.settings_file,
            app=app.path,
        )
        for path, app in sorted(exposed.items())
        if path not in served
    ]


def _reference_problems(resources: list[Resource]) -> list[Problem]:
    """The annotations sync puts into Compute API URLs must hold Compute names."""
    problems = []
    for resource in resources:
        annotations = resource.annotations()
        for key in (TARGET_POOL_ANNOTATION, EXTERNAL_ADDRESS_ANNOTATION):
            if key not in annotations:
                continue
            problem = gce_name_problem(annotations[key])
            if problem is not None:
                problems.append(
                    Problem(
                        f"{key}: {problem}",
                        file=resource.source,
                        app=resource.app.path,
                        obj=resource.describe(),
                    )
                )
    return problems
