"""The template's staging/prod example (repo-template/README.md) renders as it says."""

from __future__ import annotations

import re
import shutil

from gitkube.primitives.yamlio import load_one
from tests.conftest import REPO_ROOT
from tests.sync.conftest import git

TEMPLATE = REPO_ROOT / "repo-template"


def example_blocks() -> list[str]:
    text = (TEMPLATE / "README.md").read_text()
    section = text[text.index("## Several clusters") :]
    return [
        "\n".join(line[3:] for line in block.splitlines())
        for block in re.findall(r"   ```yaml\n(.*?)\n   ```", section, re.S)
    ]


def test_the_template_example_renders_staging_and_prod(tmp_path, cli):
    repo = tmp_path / "repo"
    shutil.copytree(TEMPLATE, repo)
    clusters, *files = example_blocks()
    config = (repo / "gitkube.yaml").read_text()
    config = re.sub(r"^cluster:\n(  .*\n)+", clusters + "\n", config, flags=re.M)
    (repo / "gitkube.yaml").write_text(config)
    for block in files:
        first, _, body = block.partition("\n")
        path = first.removeprefix("# ").split()[0]
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if "(added)" in first:
            target.write_text(target.read_text() + body + "\n")
        else:
            target.write_text(body + "\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "two")
    result = cli("render", "-C", repo)
    assert result.returncode == 0, result.stderr

    def rendered(cluster: str, path: str) -> dict:
        return load_one(git(repo, "show", f"rendered/{cluster}:{path}").encode(), path)

    for cluster, tag, replicas, address in (
        ("staging", "1.28", 2, "frontend-staging-ip"),
        ("prod", "1.27", 4, "frontend-ip"),
    ):
        frontend = rendered(cluster, "web/frontend/deployment-frontend.yaml")
        assert frontend["spec"]["replicas"] == replicas
        assert frontend["spec"]["template"]["spec"]["containers"][0]["image"] == f"nginx:{tag}"
        addr = rendered(cluster, f"web/frontend/computeaddress-{address}.yaml")
        assert addr["metadata"]["name"] == address
    agent = rendered("prod", "system/gitkube-agent/deployment-gitkube-agent.gitkube-system.yaml")
    (container,) = agent["spec"]["template"]["spec"]["containers"]
    assert "--ref=refs/heads/rendered/prod" in container["args"]
    assert container["image"] and container["ports"]  # the rest of the container is kept
    listing = {
        c: git(repo, "ls-tree", "-r", "--name-only", f"rendered/{c}") for c in ("staging", "prod")
    }
    assert "minecraft/" in listing["prod"] and "minecraft/" not in listing["staging"]
