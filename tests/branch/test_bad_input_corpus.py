"""No input makes gitkube print a traceback or write anything.

Every case of the corpus goes through the real command line in all three
modes (``render --out DIR`` on the work tree, ``render`` onto the rendered
branch, ``render --check`` on the staged files) and must give exit 1, one
line on stderr naming the file, and leave the output, the branch and the
work tree as they were.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.branch.conftest import app_files, commit_all, git
from tests.conftest import write_tree

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"


def _write_bytes(repo: Path, rel: str, data: bytes) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _symlink_loop(repo: Path) -> None:
    (repo / "web/frontend/a.yaml").symlink_to("b.yaml")
    (repo / "web/frontend/b.yaml").symlink_to("a.yaml")


def _dir_like_output(repo: Path) -> None:
    # web/frontend renders web/frontend/deployment-frontend.yaml: an app directory
    # of that name would have to be a file and a directory at once.
    write_tree(repo, {"web/frontend/deployment-frontend.yaml/cm.yaml": CM.format(name="x")})


# case -> (what it writes into a committed, valid repo; text the error must contain)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "non-utf8": (
        lambda r: _write_bytes(r, "web/frontend/bad.yaml", b"kind: \xff\xfe\n"),
        "web/frontend/bad.yaml",
    ),
    "binary": (
        lambda r: _write_bytes(r, "web/frontend/blob.yaml", bytes(range(256)) * 4),
        "web/frontend/blob.yaml",
    ),
    "bom-then-bad-name": (
        lambda r: _write_bytes(
            r, "web/frontend/bom.yaml", b"\xef\xbb\xbf" + CM.format(name="Bad_Name").encode()
        ),
        "web/frontend/bom.yaml",
    ),
    "symlink-loop": (_symlink_loop, "web/frontend/"),
    "dir-named-like-output": (_dir_like_output, "deployment-frontend.yaml"),
    "dotdot-name": (
        lambda r: write_tree(r, {"web/frontend/cm.yaml": CM.format(name="../../../../tmp/x")}),
        "web/frontend/cm.yaml",
    ),
    "dot-name-custom-kind": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/x.yaml": "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: ..}\n"
            },
        ),
        "web/frontend/x.yaml",
    ),
    "app-dir-with-space": (
        lambda r: write_tree(r, {"web/Web App/cm.yaml": CM.format(name="x")}),
        "web/Web App/cm.yaml",
    ),
    "namespace-on-cluster-kind": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\n"
                "kind: ClusterRole\nmetadata: {name: x, namespace: stray}\n"
            },
        ),
        "web/frontend/role.yaml",
    ),
    "secret-in-list": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                "- {apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {p: x}}\n"
            },
        ),
        "web/frontend/list.yaml, app web/frontend, Secret s (item 1",
    ),
    "float-port": (
        lambda r: write_tree(
            r, {"web/frontend/app.yaml": "external: {address: ip, ports: [80.5]}\n"}
        ),
        "web/frontend/app.yaml",
    ),
    "disk-node-traversal": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/app.yaml": "disks: [{name: d, sizeGb: 10, mount: /data, mode: node, "
                'node: "../../zones/x/instances/evil"}]\n'
            },
        ),
        "web/frontend/app.yaml",
    ),
    "mount-escape": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/app.yaml": "volumes: [{name: v, mount: /etc/../../root, emptyDir: {}}]\n"
            },
        ),
        "web/frontend/app.yaml",
    ),
    "own-part-of-label": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                "  labels: {applyset.kubernetes.io/part-of: mine}\n"
            },
        ),
        "web/frontend/cm.yaml",
    ),
    "labels-not-a-mapping": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: [a]}\n"
            },
        ),
        "web/frontend/cm.yaml, document 1: ConfigMap x: metadata.labels must be a mapping",
    ),
    "nested-too-deep": (
        lambda r: write_tree(
            r,
            {
                "web/frontend/deep.yaml": CM.format(name="d")
                + "data: "
                + "{a: " * 10_001
                + "1"
                + "}" * 10_001
            },
        ),
        "web/frontend/deep.yaml",
    ),
    "file-over-limit": (
        lambda r: write_tree(
            r,
            {
                "gitkube.yaml": (r / "gitkube.yaml").read_text() + "render: {maxFileBytes: 2000}\n",
                "web/frontend/big.yaml": "# " + "x" * 3000 + "\n" + CM.format(name="big"),
            },
        ),
        "web/frontend/big.yaml",
    ),
}


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _one_line_error(result, expected: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    message = result.stderr.strip()
    assert "Traceback" not in message and "plugin raised" not in message, message
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: "), message
    assert expected in message, message


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", ["out", "branch", "check"])
def test_bad_input_gives_one_line_and_writes_nothing(git_repo, cli, tmp_path, case, mode):
    repo = git_repo(app_files("frontend"))
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    assert cli("render", repo).returncode == 0
    before_out = _snapshot(out)
    before_branch = git(repo, "rev-parse", "rendered")
    write, expected = CASES[case]
    write(repo)
    if mode == "branch":
        commit_all(repo, case)
    elif mode == "check":
        git(repo, "add", "-A")
    status = git(repo, "status", "--porcelain")

    args = {"out": ("--out", out), "branch": (), "check": ("--check",)}[mode]
    _one_line_error(cli("render", repo, *args), expected)

    assert _snapshot(out) == before_out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
    assert git(repo, "rev-parse", "rendered") == before_branch
    assert git(repo, "status", "--porcelain") == status


def test_symlink_loop_as_the_output_directory(git_repo, cli, tmp_path):
    repo = git_repo(app_files("frontend"))
    out = tmp_path / "out"
    os.symlink(out, out)  # out -> out
    _one_line_error(cli("render", repo, "--out", out), str(out))
    assert out.is_symlink() and os.readlink(out) == str(out)


def test_symlink_loop_inside_an_old_output_is_replaced_cleanly(git_repo, cli, tmp_path):
    repo = git_repo(app_files("frontend"))
    out = tmp_path / "out"
    assert cli("render", repo, "--out", out).returncode == 0
    os.symlink("loop", out / "web" / "loop")
    assert cli("render", repo, "--out", out).returncode == 0
    assert not (out / "web" / "loop").is_symlink()


def test_bom_file_renders(git_repo, cli, tmp_path):
    repo = git_repo(app_files("frontend"))
    _write_bytes(repo, "web/frontend/bom.yaml", b"\xef\xbb\xbf" + CM.format(name="ok").encode())
    commit_all(repo)
    assert cli("render", repo, "--out", tmp_path / "out").returncode == 0
    assert (tmp_path / "out/web/frontend/configmap-ok.yaml").is_file()
    assert cli("render", repo).returncode == 0


@pytest.mark.parametrize("mode", ["out", "branch", "check"])
def test_non_utf8_config_gives_one_line(git_repo, cli, tmp_path, mode):
    repo = git_repo(app_files("frontend"))
    assert cli("render", repo).returncode == 0
    before = git(repo, "rev-parse", "rendered")
    _write_bytes(repo, "gitkube.yaml", b"namespace: \xff\n")
    if mode == "branch":
        commit_all(repo)
    elif mode == "check":
        git(repo, "add", "-A")
    args = {"out": ("--out", tmp_path / "out"), "branch": (), "check": ("--check",)}[mode]
    _one_line_error(cli("render", repo, *args), "gitkube.yaml")
    assert not (tmp_path / "out").exists()
    assert git(repo, "rev-parse", "rendered") == before
