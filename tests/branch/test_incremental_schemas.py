"""The incremental render asks the schemas only of what the index cannot vouch for: a
gitkube.yaml and an app.yaml that this code and these plugins checked in the renders the
index came from are not checked again; a changed app.yaml, or an index another
fingerprint made, is (jsonschema is not even imported otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gitkube.render.incremental as incremental
from gitkube.domain.schema import SchemaCheck
from tests.branch.conftest import app_files, commit_all, edit, git
from tests.branch.test_incremental_render import Spy, rendered_tree

IMAGES = "images:\n- {name: nginx, newName: gcr.io/proj/nginx}\n"


@pytest.fixture
def apps_repo(git_repo) -> Path:
    files: dict[str, str] = {}
    for name in ("alpha", "beta"):
        files.update(app_files(name))
        files[f"web/{name}/app.yaml"] = IMAGES
    return git_repo(files)


def count_schema_checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    checked: list[Any] = []
    real = SchemaCheck.first_error

    def counting(self: SchemaCheck, value: Any) -> Any:
        checked.append(value)
        return real(self, value)

    monkeypatch.setattr(SchemaCheck, "first_error", counting)
    return checked


def test_what_the_index_vouches_for_is_not_checked_again(apps_repo, monkeypatch):
    rendered_tree(apps_repo, "rendered", use_cache=True)
    spy = Spy(monkeypatch)
    checks = count_schema_checks(monkeypatch)
    edit(apps_repo, app_files("beta", replicas=4))  # its app.yaml left alone
    commit_all(apps_repo)
    patched = rendered_tree(apps_repo, "rendered", use_cache=True)
    assert spy.patched == 1 and checks == []
    assert patched == rendered_tree(apps_repo, "full", use_cache=False)  # which checks all
    checks.clear()

    # from the delta just written (same fingerprint): still vouched for
    edit(apps_repo, app_files("alpha", replicas=5))
    commit_all(apps_repo)
    rendered_tree(apps_repo, "rendered", use_cache=True)
    assert spy.patched == 2 and checks == []

    # a changed app.yaml is checked, and an invalid one refused as the full render does
    edit(apps_repo, {"web/beta/app.yaml": IMAGES + "namespace: beta\n"})
    commit_all(apps_repo)
    rendered_tree(apps_repo, "rendered", use_cache=True)
    assert [c for c in checks if c == "beta"]
    edit(apps_repo, {"web/beta/app.yaml": "images: 5\n"})
    commit_all(apps_repo)
    refused = rendered_tree(apps_repo, "rendered", use_cache=True)
    assert refused.startswith("error: ") and "images" in refused
    assert refused == rendered_tree(apps_repo, "full", use_cache=False)


def test_an_index_another_fingerprint_made_is_not_patched_from(apps_repo, monkeypatch):
    rendered_tree(apps_repo, "rendered", use_cache=True)
    real = incremental.code_fingerprint
    # other code or plugins than those that made the index
    monkeypatch.setattr(incremental, "code_fingerprint", lambda h: (real(h)[0], "other"))
    spy = Spy(monkeypatch)
    checks = count_schema_checks(monkeypatch)
    edit(apps_repo, app_files("beta", replicas=4))
    commit_all(apps_repo)
    rendered_tree(apps_repo, "rendered", use_cache=True)
    assert spy.patched == 0  # other code may render every app otherwise: a full render
    assert checks  # which checks every file again


def test_a_patched_render_imports_no_jsonschema(apps_repo):
    rendered_tree(apps_repo, "rendered", use_cache=True)
    edit(apps_repo, app_files("beta", replicas=4))
    commit_all(apps_repo)
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitkube.render.quick_answer import unchanged_render_line\n"
        "print(unchanged_render_line(Path('.')))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=apps_repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "False", done.stdout
    assert "replicas: 4" in git(apps_repo, "show", "rendered:web/beta/deployment-beta.yaml")
