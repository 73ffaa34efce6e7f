"""The user documentation stays true: generated parts are fresh, examples run, links resolve."""

from __future__ import annotations

import re

from gitkube.commands.reference import app_entries, config_entries, reference_markdown
from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def test_reference_is_generated_from_the_schemas():
    written = (DOCS / "reference.md").read_text()
    assert written == reference_markdown(), (
        "docs/reference.md is stale: run scripts/gen-docs and commit the result"
    )


def test_every_key_is_described():
    undocumented = [
        f"{e.file} {e.path} ({e.owner})"
        for e in [*config_entries(), *app_entries()]
        if not e.schema.get("description")
    ]
    assert not undocumented, "add a description to the schema of: " + ", ".join(undocumented)


def test_every_top_level_app_key_has_an_example():
    missing = [e.path for e in app_entries() if "." not in e.path and not e.schema.get("examples")]
    assert not missing


def test_relative_links_in_readme_and_docs_resolve():
    broken = []
    for page in [REPO_ROOT / "README.md", *DOCS.glob("*.md")]:
        text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())  # code blocks,
        text = re.sub(r"(?m)^(    |\t).*$", "", text)  # indented code
        text = re.sub(r"`[^`\n]*`", "", text)  # and code spans are not links
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)} -> {target}")
    assert not broken, broken


def test_agent_doc_lists_every_metric_the_agent_serves():
    from gitkube.sync.agent import Metrics

    served = {family.name for family in Metrics().registry.collect()}
    doc = (DOCS / "agent.md").read_text()
    missing = [name for name in served if not re.search(rf"`{name}(_total)?[{{`]", doc)]
    assert served and not missing, f"docs/agent.md lacks metrics: {missing}"


def test_user_docs_exist_and_readme_links_them():
    readme = (REPO_ROOT / "README.md").read_text()
    for page in ("tutorial", "concepts", "reference", "plugins", "agent", "yaml", "architecture"):
        assert (DOCS / f"{page}.md").is_file(), page
        assert f"docs/{page}.md" in readme, page
    sections = re.findall(r"^## (.+)$", readme, flags=re.MULTILINE)
    assert sections[:3] == ["Install", "Five minutes", "Working on gitkube"], sections
    assert "scripts/demo" in readme and "scripts/test" in readme


def test_plugin_guide_documents_everything_a_hook_receives():
    """Every public member of App, Resource, RenderContext, Problem and every
    keyword of GitkubeError is named in docs/plugins.md (a new one must be too)."""
    import dataclasses
    import inspect

    from gitkube.plugin_api import App, GitkubeError, Problem, RenderContext, Resource

    guide = (DOCS / "plugins.md").read_text()
    names = {
        "App": [f.name for f in dataclasses.fields(App)],
        "Problem": [f.name for f in dataclasses.fields(Problem)],
        "RenderContext": [n for n in vars(RenderContext) if not n.startswith("_")]
        + [f.name for f in dataclasses.fields(RenderContext) if f.name != "hooks"],
        "Resource": [n for n in vars(Resource) if not n.startswith("_")]
        + [f.name for f in dataclasses.fields(Resource)],
        "GitkubeError": [
            p for p in inspect.signature(GitkubeError.__init__).parameters if p != "self"
        ],
    }
    missing = [
        f"{owner}.{name}"
        for owner, members in names.items()
        for name in members
        if name not in {"exit_code", "noting", "where"}
        and f"`{name}" not in guide
        and f"{name}`" not in guide
        and f", {name}" not in guide
        and f"{name}=" not in guide
    ]
    assert not missing, f"docs/plugins.md does not mention: {missing}"
