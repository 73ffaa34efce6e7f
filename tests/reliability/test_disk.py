"""Fault 8: disk full or an unusable cache. Render and sync fail with one clear line and
leave the rendered branch and the cluster untouched.

A full disk is made real for the child process with RLIMIT_FSIZE (every write past the
limit fails with EFBIG, as ENOSPC would), SIGXFSZ ignored so the write fails rather than
the process dying; a cache that cannot be used is one whose path is taken by a file."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

from tests.reliability.conftest import configmaps
from tests.sync.conftest import git
from tests.sync.test_agent import pushed_to_a_bare_remote


def disk_full() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def run_full(*args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitkube", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=disk_full,
        timeout=300,
    )


def configmap_names(kube, namespace: str) -> set[str]:
    items = kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")["items"]
    return {i["metadata"]["name"] for i in items}


def test_render_on_a_full_disk_fails_clearly_and_leaves_the_rendered_branch(sync_repo):
    repo = sync_repo(configmaps(2))
    before = git(repo.path, "rev-parse", "refs/heads/rendered")
    repo.write(configmaps(3, value="v2"))
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "more")
    result = run_full("render", repo.path, "--no-cache")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "failed" in line and "too large" in line.lower(), line
    assert git(repo.path, "rev-parse", "refs/heads/rendered") == before


def test_sync_with_a_full_disk_for_its_git_cache_changes_nothing(sync_repo, kube, tmp_path):
    repo = sync_repo(configmaps(2))
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    cache = tmp_path / "cache"
    result = run_full(
        "sync",
        "--repo",
        f"file://{bare}",
        "--kubeconfig",
        repo.kubeconfig,
        env={"GITKUBE_CACHE": str(cache)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: git ") and "failed" in line, line
    assert not {"cm000", "cm001"} & configmap_names(kube, repo.namespace)


def test_sync_with_an_unusable_cache_directory_changes_nothing(sync_repo, kube, tmp_path, cli):
    repo = sync_repo(configmaps(2))
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    taken = tmp_path / "not-a-directory"
    taken.write_text("a file where the cache should be\n")
    result = cli.subprocess(
        "sync",
        "--repo",
        f"file://{bare}",
        "--kubeconfig",
        repo.kubeconfig,
        env={"GITKUBE_CACHE": str(taken)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cache" in line and str(taken) in line, line
    assert not {"cm000", "cm001"} & configmap_names(kube, repo.namespace)
