"""sync --wait judges Compute Engine resources from the local Compute Engine API."""

from __future__ import annotations

import json

# A Service-only app: no Deployment, which never rolls out without controllers.
EXTERNAL_SERVICE = {
    "apps/web/service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
    ),
    "apps/web/app.yaml": "external: {address: web-ip, ports: [80]}\n",
}


def test_an_external_app_with_nodes_is_healthy_after_wait(gce_repo, nodes, fake_compute):
    nodes.add("node-a")
    repo = gce_repo(EXTERNAL_SERVICE)
    result = repo.sync_json("--wait", "--timeout", "60s")
    assert result["health"] == {
        "healthy": True,
        "timedOut": False,
        "seconds": result["health"]["seconds"],
        "apps": [
            {"app": "apps/web", "state": "Healthy", "reason": "", "message": "", "object": None}
        ],
    }


def test_a_target_pool_without_instances_is_degraded(gce_repo, fake_compute):
    repo = gce_repo(EXTERNAL_SERVICE)  # no node in the cluster: nothing to send traffic to
    result = repo.sync("--wait", "--timeout", "60s")
    assert result.returncode == 3, result.stderr
    (app,) = json.loads(result.stdout)["health"]["apps"]
    assert (app["object"], app["state"], app["reason"]) == (
        "ComputeTargetPool web-pool",
        "Degraded",
        "NoInstances",
    )
