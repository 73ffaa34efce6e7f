"""The re-render child: ``python -m gitkube.render.rerender GIT_DIR SOURCE_COMMIT``.

Renders ``SOURCE_COMMIT`` of the repository at ``GIT_DIR`` exactly as
``gitkube render`` would (no cache), writes nothing, and prints one JSON
document: the rendered tree id, every file's blob id, and the versions that
made it. :mod:`gitkube.sync.trust` starts it with an environment holding
no cluster or cloud credentials, so repository input is never rendered in the
process that holds them.
"""

from __future__ import annotations

import json
import sys

from gitkube import __version__
from gitkube.domain.inventory import INVENTORY_FILE
from gitkube.primitives.errors import GitkubeError
from gitkube.primitives.gitstore import GitStore
from gitkube.render.branch import render_commit


def rerender(git_dir: str, source: str) -> dict[str, object]:
    store = GitStore(git_dir)
    commit, _tree, rendered = render_commit(store, source, use_cache=False)
    inventory = rendered.inventory_bytes(commit)
    files = {**rendered.object_ids, INVENTORY_FILE: store.blob_id(inventory)}
    return {
        "tree": store.tree_id(files),
        "files": files,
        "versions": {"gitkube": __version__, **rendered.plugin_versions},
    }


def main(argv: list[str]) -> int:
    try:
        document = rerender(argv[0], argv[1])
    except GitkubeError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
