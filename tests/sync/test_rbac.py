"""The agent's RBAC in repo-template is enough to sync, and needed: proven with real users."""

from __future__ import annotations

import json

from tests.conftest import REPO_ROOT
from tests.sync.conftest import CONFIGMAP, DEPLOYMENT

AGENT_APP = REPO_ROOT / "repo-template" / "system" / "gitkube-agent"
SERVICE_ACCOUNT_USER = "system:serviceaccount:gitkube-system:gitkube-agent"
SERVICE_ACCOUNT_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:gitkube-system"]


def agent_app_files() -> dict[str, str]:
    return {
        f"system/gitkube-agent/{p.name}": p.read_text() for p in AGENT_APP.iterdir() if p.is_file()
    }


def test_agent_role_is_sufficient_and_a_user_without_it_cannot_sync(sync_repo, controlplane, kube):
    repo = sync_repo(
        {
            **agent_app_files(),
            "web/app/deploy.yaml": DEPLOYMENT.format(name="web"),
            "web/app/config.yaml": CONFIGMAP.format(name="web-conf", value="v1"),
        }
    )
    # An admin installs the agent once (the namespace may predate gitkube: adopt it).
    admin = repo.sync_json("--adopt")
    assert admin["created"] >= 6

    as_agent = controlplane.user_kubeconfig(SERVICE_ACCOUNT_USER, SERVICE_ACCOUNT_GROUPS)
    repo.write({"web/app/config.yaml": CONFIGMAP.format(name="web-conf", value="v2")})
    repo.commit_and_render("v2")

    nobody = controlplane.user_kubeconfig("nobody", [])
    denied = repo.cli("sync", "--repo", repo.path, "--kubeconfig", nobody, "-o", "json")
    assert denied.returncode == 1
    assert "forbidden" in denied.stderr.lower()
    cm = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    assert cm["data"]["key"] == "v1"

    allowed = repo.cli("sync", "--repo", repo.path, "--kubeconfig", as_agent, "-o", "json")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["updated"] == 1
    again = repo.cli("sync", "--repo", repo.path, "--kubeconfig", as_agent, "-o", "json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["created"], result["updated"], result["deleted"]) == (0, 0, 0)
    cm = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    assert cm["data"]["key"] == "v2"
