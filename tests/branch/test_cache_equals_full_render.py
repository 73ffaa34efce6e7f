"""One pipeline: after any sequence of edits, the cached render equals a --no-cache render.

Random edit sequences (apps added, removed and changed; manifests, app.yaml,
gitkube.yaml and plugin options edited) are committed one by one to a real
git repo; after each commit the incremental, cache-assisted render must give
exactly the objects and inventory (the same git tree) that a full render of
the same commit gives, or fail with exactly the same error.
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_commit
from tests.branch.conftest import DEPLOYMENT, SERVICE, commit_all, git
from tests.conftest import MINIMAL_CONFIG, write_tree

EXAMPLES = max(int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "3000")) // 300, 5)
STEPS = 6
APPS = ["web/frontend", "web/ghost", "tools/job", "minecraft"]


def edit(rng: random.Random, root, present: set[str]) -> None:
    """One random edit of the work tree."""
    app = rng.choice(APPS)
    name = app.rsplit("/", 1)[-1]
    pick = rng.random()
    if pick < 0.25 or app not in present:
        write_tree(
            root,
            {
                f"{app}/deployment.yaml": DEPLOYMENT.format(name=name, replicas=rng.randint(1, 3)),
                f"{app}/service.yaml": SERVICE.format(name=name),
            },
        )
        present.add(app)
    elif pick < 0.35:
        git(root, "rm", "-q", "-r", app)
        present.discard(app)
    elif pick < 0.55:
        settings = rng.choice(
            [
                "",
                "labels: {tier: web}\n",
                f"external: {{address: {name}-ip, ports: [80]}}\n",
                "volumes: [{name: cache, mount: /cache, emptyDir: {}}]\n",
                f"name: {name}x\n",
                "dependsOn: [web/frontend]\n",  # unknown, itself, or held by a cached app
            ]
        )
        path = root / app / "app.yaml"
        if settings:
            path.write_text(settings)
        elif path.exists():
            path.unlink()
    elif pick < 0.75:
        (root / app / "config.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-conf}}\n"
            f"data: {{k: '{rng.choice(['a', 'y', '02139', '12:30'])}'}}\n"
        )
    elif pick < 0.9:
        extra = rng.choice(
            [
                "",
                "registry: gcr.io/my-proj\n",
                "plugins: {disable: [volumes]}\n",
                "sync: {maxPruneFraction: 0.5}\n",
            ]
        )
        (root / "gitkube.yaml").write_text(MINIMAL_CONFIG + extra)
    else:
        namespace = rng.choice(["default", "other"])
        (root / "gitkube.yaml").write_text(MINIMAL_CONFIG.replace("default", namespace))


def outcome(store: GitStore, use_cache: bool) -> tuple[dict[str, str], bytes] | str:
    try:
        commit, _tree, rendered = render_commit(store, "HEAD", use_cache=use_cache)
    except GitkubeError as exc:
        return str(exc)
    return dict(rendered.object_ids), rendered.inventory_bytes(commit)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_cached_render_equals_full_render_after_every_edit(
    seed: int, tmp_path_factory, monkeypatch
) -> None:
    root = tmp_path_factory.mktemp("repo")
    write_tree(root, {"gitkube.yaml": MINIMAL_CONFIG})
    rng = random.Random(seed)
    present: set[str] = set()
    edit(rng, root, present)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "start")
    store = GitStore(root)
    for step in range(STEPS):
        cached = outcome(store, use_cache=True)
        full = outcome(store, use_cache=False)
        assert cached == full, f"seed {seed}, step {step}"
        edit(rng, root, present)
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "-m", f"edit {step}")
