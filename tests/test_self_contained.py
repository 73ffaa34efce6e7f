"""The project stands alone: a plain clone has every file its docs and tests use.

Nothing a user or the test suite reads may point outside the checkout (a
sibling folder, a design document that only the team has); third-party data
the tests need is vendored under tests/data with its source and license.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT, TEST_DATA

# Built by concatenation so this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            re.escape("../" + "shared"),
            re.escape('parent / "' + "shared" + '"'),
            "DESIGN" + r"(\.md| ?§)",
            "team's " + "shared",
        ]
    )
)
CHECKED = ["README.md", "docs", "repo-template", "tests", "scripts", ".ci", "Dockerfile"]


def _files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = REPO_ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and TEST_DATA not in p.parents
            ]
    return files


def test_nothing_points_outside_the_project() -> None:
    found = []
    for path in _files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not found, "references outside the project:\n" + "\n".join(found)


def test_vendored_data_names_source_and_license() -> None:
    readme = (TEST_DATA / "README.md").read_text()
    assert "Apache" in readme and "k8s-config-connector" in readme
    assert (TEST_DATA / "LICENSE-Apache-2.0").is_file()
    assert len(list((TEST_DATA / "gce-recorded").glob("*.http.log"))) == 5
    assert len(list((TEST_DATA / "config-connector").glob("compute*.yaml"))) == 5
