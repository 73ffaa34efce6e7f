"""Trust (issue #18): signed commits, rewinds refused, reproducible renders.

Real git signing with real keys made here (ssh-keygen, Debian's gpg), real
``git verify-commit``, and the real control plane for plan, sync and the agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.domain.trust import rewind_refusal
from gitkube.primitives.kubeapi import KubeApiError
from gitkube.sync.trust import run_isolated
from tests.sync.conftest import CONFIGMAP, SyncRepo, git
from tests.sync.signing import GpgSigner, SshSigner, gpg_signer, make_ssh_signer


def web(value: str) -> dict[str, str]:
    return {"apps/web/config.yaml": CONFIGMAP.format(name="web-conf", value=value)}


def render(repo: SyncRepo, value: str, *render_args: str) -> str:
    """Commit ``web-conf: value`` on main and render it (``--sign`` to sign); the rendered tip."""
    repo.write(web(value))
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", f"web {value}")
    result = repo.cli("render", repo.path, *render_args)
    assert result.returncode == 0, result.stderr
    return git(repo.path, "rev-parse", "refs/heads/rendered")


def configmap_value(kube, repo: SyncRepo) -> str | None:
    try:
        cm = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/configmaps/web-conf")
    except KubeApiError:
        return None
    return cm["data"]["key"]


def parent_annotations(kube, repo: SyncRepo) -> dict[str, str]:
    parent = kube.request(
        "GET", f"/api/v1/namespaces/gitkube-system/configmaps/gitkube-{repo.cluster}"
    )
    return parent["metadata"].get("annotations") or {}


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line refusal of a command that must have exited 2."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    return " ".join(result.stderr.split())


@pytest.fixture
def trusted(tmp_path) -> SshSigner:
    return make_ssh_signer(tmp_path / "keys-ci", "ci@example.com")


@pytest.fixture
def mallory(tmp_path) -> SshSigner:
    return make_ssh_signer(tmp_path / "keys-mallory", "mallory@example.com")


@pytest.fixture
def alice() -> Iterator[GpgSigner]:
    yield from gpg_signer("Alice <alice@example.com>")


@pytest.fixture
def bob() -> Iterator[GpgSigner]:
    yield from gpg_signer("Bob <bob@example.com>")


# -- signatures -------------------------------------------------------------------


def test_ssh_unsigned_and_untrusted_rendered_commits_are_refused(sync_repo, kube, trusted, mallory):
    repo = sync_repo(web("v1"))
    verify = ("--verify-rendered", str(trusted.allowed_signers))
    unsigned = git(repo.path, "rev-parse", "refs/heads/rendered")

    message = refused(repo.sync(*verify))
    assert f"rendered commit {unsigned[:12]} is not signed; refusing to apply it" in message
    assert configmap_value(kube, repo) is None  # nothing applied
    assert refused(repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, *verify))

    mallory.configure(repo.path)
    forged = render(repo, "v2", "--sign")
    message = refused(repo.sync(*verify))
    assert f"rendered commit {forged[:12]} has a signature (ssh) that no trusted key" in message
    assert "signed by ED25519 key SHA256:" in message
    assert "which is not in the allowed signers; refusing to apply it" in message
    assert configmap_value(kube, repo) is None

    trusted.configure(repo.path)
    render(repo, "v3", "--sign")
    assert repo.sync_json(*verify)["created"] == 1
    assert configmap_value(kube, repo) == "v3"


def test_gpg_signature_by_a_key_not_in_the_trusted_set_is_refused(
    sync_repo, kube, alice, bob, monkeypatch
):
    repo = sync_repo(web("v1"))
    monkeypatch.setenv("GNUPGHOME", str(alice.home))  # git signs with Alice's keyring
    alice.configure(repo.path)
    signed = render(repo, "v2", "--sign")
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in git(repo.path, "cat-file", "commit", signed)

    message = refused(repo.sync("--verify-rendered", str(bob.public_key)))
    assert f"rendered commit {signed[:12]} has a signature (gpg) that no trusted key" in message
    assert f"signed by GPG key {alice.fingerprint}, which is not a trusted key" in message
    assert configmap_value(kube, repo) is None

    assert repo.sync_json("--verify-rendered", str(alice.public_key))["created"] == 1
    assert configmap_value(kube, repo) == "v2"


def test_a_trusted_signature_copied_onto_another_commit_is_refused(sync_repo, kube, trusted):
    """Replaying a good signature header on a hand-made commit does not make it good."""
    repo = sync_repo(web("v1"))
    trusted.configure(repo.path)
    signed = render(repo, "v2", "--sign")
    raw = git(repo.path, "cat-file", "commit", signed) + "\n"
    forged = subprocess.run(
        ["git", "-C", str(repo.path), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=raw.replace("Render ", "Render (edited) ", 1),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert forged != signed
    git(repo.path, "update-ref", "refs/heads/rendered", forged)
    message = refused(repo.sync("--verify-rendered", str(trusted.allowed_signers)))
    assert f"rendered commit {forged[:12]} has a signature (ssh) that no trusted key" in message
    assert configmap_value(kube, repo) is None


def test_source_commit_must_be_signed_by_a_trusted_author(sync_repo, kube, trusted, mallory):
    repo = sync_repo(web("v1"))
    verify = ("--verify-source", str(trusted.allowed_signers))
    source = git(repo.path, "rev-parse", "main")
    rendered = git(repo.path, "rev-parse", "refs/heads/rendered")
    message = refused(repo.sync(*verify))
    assert (
        f"source commit {source[:12]} (of rendered commit {rendered[:12]}) is not signed" in message
    )

    git(repo.path, "config", "commit.gpgSign", "true")
    mallory.configure(repo.path)
    render(repo, "v2")  # the rendered commit itself stays unsigned: only the source is checked
    message = refused(repo.sync(*verify))
    assert "has a signature (ssh) that no trusted key makes good" in message
    assert configmap_value(kube, repo) is None

    trusted.configure(repo.path)
    render(repo, "v3")
    repo.sync_json(*verify)
    assert configmap_value(kube, repo) == "v3"


def test_a_source_commit_trailer_that_disagrees_with_the_inventory_is_refused(
    sync_repo, kube, trusted
):
    repo = sync_repo(web("v1"))
    source = git(repo.path, "rev-parse", "main")
    elsewhere = git(repo.path, "commit-tree", "-m", "someone else's", f"{source}^{{tree}}")
    tip = git(repo.path, "rev-parse", "refs/heads/rendered")
    relabelled = git(
        repo.path,
        "commit-tree",
        "-p",
        tip,
        "-m",
        f"Render\n\nSource-Commit: {elsewhere}\n",
        f"{tip}^{{tree}}",
    )
    git(repo.path, "update-ref", "refs/heads/rendered", relabelled)
    message = refused(repo.sync("--verify-source", str(trusted.allowed_signers)))
    assert (
        f"rendered commit {relabelled[:12]} names two source commits (trailer Source-Commit: "
        f"{elsewhere[:12]}, inventory {source[:12]}); refusing" in message
    )
    assert configmap_value(kube, repo) is None


def test_the_repo_can_ask_for_checks_but_never_widen_or_drop_them(
    sync_repo, kube, trusted, mallory, tmp_path
):
    """What a pull request controls (gitkube.yaml, files, the repo's git config) cannot
    change who is trusted; it can only turn a check on."""
    repo = sync_repo(web("v1"))
    verify = ("--verify-rendered", str(trusted.allowed_signers))
    mallory.configure(repo.path)
    # The pull request turns verification off, adds its own allowed_signers file and
    # points the repository's git config at it, and signs with its own key.
    config = (repo.path / "gitkube.yaml").read_text()
    repo.write(
        {
            "gitkube.yaml": config + "sync: {verify: {rendered: false, source: false}}\n",
            "allowed_signers": mallory.allowed_signers.read_text(),
        }
    )
    git(repo.path, "config", "gpg.ssh.allowedSignersFile", str(repo.path / "allowed_signers"))
    forged = render(repo, "v2", "--sign")
    message = refused(repo.sync(*verify))
    assert f"rendered commit {forged[:12]} has a signature (ssh) that no trusted key" in message
    assert configmap_value(kube, repo) is None

    # Naming signers in gitkube.yaml is not a thing: the schema refuses it at render time.
    repo.write({"gitkube.yaml": config + "sync: {verify: {allowedSigners: [mallory]}}\n"})
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "widen")
    bad = repo.cli("render", repo.path)
    assert bad.returncode == 1
    assert 'unknown key "allowedSigners" at sync.verify' in bad.stderr
    assert "gitkube.yaml" in bad.stderr

    # Asking for a check the operator gave no keys for refuses instead of trusting everyone.
    repo.write({"gitkube.yaml": config + "sync: {verify: {rendered: true}}\n"})
    render(repo, "v3", "--sign")
    message = refused(repo.sync())
    assert "sync.verify.rendered is on but no trusted rendered signers were given" in message
    assert configmap_value(kube, repo) is None


def test_trusted_keys_from_a_configmap_in_the_cluster(sync_repo, kube, trusted):
    repo = sync_repo(web("v1"))
    name = f"trust-{repo.cluster}"
    missing = repo.sync("--verify-configmap", name)
    assert missing.returncode == 1
    assert f"ConfigMap gitkube-system/{name} (--verify-configmap) does not exist" in missing.stderr
    kube.ensure_namespace("gitkube-system")
    kube.request(
        "POST",
        "/api/v1/namespaces/gitkube-system/configmaps",
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"rendered.allowed_signers": trusted.allowed_signers.read_text()},
        },
    )
    assert "is not signed" in refused(repo.sync("--verify-configmap", name))
    trusted.configure(repo.path)
    render(repo, "v2", "--sign")
    repo.sync_json("--verify-configmap", name)
    assert configmap_value(kube, repo) == "v2"

    # A change that would overwrite the trust ConfigMap through the repo is refused,
    # even when signed by a trusted key.
    repo.write(
        {
            "apps/trust/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, "
            "namespace: gitkube-system}\ndata: {rendered.allowed_signers: ''}\n"
        }
    )
    hijack = render(repo, "v3", "--sign")
    message = refused(repo.sync("--verify-configmap", name))
    assert (
        f"rendered commit {hijack[:12]} holds the trust ConfigMap gitkube-system/{name} "
        "(apps/trust/" in message
    )
    assert configmap_value(kube, repo) == "v2"


def test_unreadable_key_file_is_one_error_naming_it(sync_repo, tmp_path):
    repo = sync_repo(web("v1"))
    result = repo.sync("--verify-rendered", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert (
        "cannot read the trusted keys" in result.stderr and str(tmp_path / "nope") in result.stderr
    )
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\xfe\xff")
    result = repo.sync("--verify-rendered", str(junk))
    assert result.returncode == 1
    assert "neither GPG public keys nor an SSH allowed_signers file" in result.stderr


def test_render_sign_without_a_signing_key_fails_and_moves_nothing(sync_repo, monkeypatch):
    repo = sync_repo(web("v1"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    before = git(repo.path, "rev-parse", "refs/heads/rendered")
    git(repo.path, "config", "gpg.format", "ssh")  # and no user.signingKey
    repo.write(web("v2"))
    git(repo.path, "commit", "-q", "-am", "v2")
    result = repo.cli("render", repo.path, "--sign")
    assert result.returncode == 1
    assert "render --sign (render.sign): git could not sign the rendered commit" in result.stderr
    assert git(repo.path, "rev-parse", "refs/heads/rendered") == before
    usage = repo.cli("render", repo.path, "--out", str(repo.path.parent / "out"), "--sign")
    assert usage.returncode == 2


def test_render_sign_setting_signs_every_rendered_commit(sync_repo, trusted):
    repo = sync_repo(web("v1"))
    trusted.configure(repo.path)
    config = (repo.path / "gitkube.yaml").read_text()
    repo.write({"gitkube.yaml": config + "render: {sign: true}\n"})
    signed = render(repo, "v2")  # no --sign: render.sign says so
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in git(repo.path, "cat-file", "commit", signed)
    # Same source commit and trailers as an unsigned render: only the signature is added.
    message = git(repo.path, "log", "-1", "--format=%B", signed)
    assert f"Source-Commit: {git(repo.path, 'rev-parse', 'main')}" in message


# -- no rewinds -------------------------------------------------------------------


def test_a_rewind_is_refused_unless_allowed_for_one_run(sync_repo, kube):
    repo = sync_repo(web("v1"))
    first = git(repo.path, "rev-parse", "refs/heads/rendered")
    repo.sync_json()
    second = render(repo, "v2")
    repo.sync_json()
    assert parent_annotations(kube, repo)["status.gitkube.dev/last-synced-commit"] == second

    message = refused(repo.sync("--ref", first))
    assert (
        f"rendered commit {first[:12]} is older than the last synced {second[:12]} "
        "(a rewind would undo what came after it); refusing" in message
    )
    plan = repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "--ref", first)
    assert "is older than the last synced" in refused(plan)
    assert configmap_value(kube, repo) == "v2"

    repo.sync_json("--ref", first, "--allow-rewind")
    assert configmap_value(kube, repo) == "v1"
    assert parent_annotations(kube, repo)["status.gitkube.dev/last-synced-commit"] == first
    repo.sync_json()  # forward again: the branch tip descends from what is now synced
    assert configmap_value(kube, repo) == "v2"


def test_a_force_pushed_rewrite_is_reported_as_such(sync_repo, kube):
    repo = sync_repo(web("v1"))
    first = git(repo.path, "rev-parse", "refs/heads/rendered")
    render(repo, "v2")
    synced = git(repo.path, "rev-parse", "refs/heads/rendered")
    repo.sync_json()
    # Someone rewrites the rendered branch: back to the first commit, then a new one on it.
    git(repo.path, "update-ref", "refs/heads/rendered", first)
    rewritten = render(repo, "evil")
    assert git(repo.path, "rev-parse", f"{rewritten}^") == first
    message = refused(repo.sync())
    assert (
        f"the rendered branch's history was rewritten (force-push): {rewritten[:12]} does not "
        f"descend from the last synced {synced[:12]}; refusing" in message
    )
    assert configmap_value(kube, repo) == "v2"


def test_rewind_rule_when_the_last_synced_commit_is_gone():
    refusal = rewind_refusal("b" * 40, "a" * 40, None, False)
    assert refusal is not None and refusal.exit_code == 2
    assert (
        "the last synced rendered commit aaaaaaaaaaaa is not in the repository" in refusal.message
    )
    assert rewind_refusal("b" * 40, "a" * 40, True, False) is None


# -- reproducible renders ---------------------------------------------------------


def hand_edit_rendered(
    repo: SyncRepo, signer: SshSigner, old: bytes, new: bytes, work: Path
) -> str:
    """What stolen push credentials and a stolen signing key can make: the rendered tip with
    one object edited, its inventory hash recomputed, signed, on the rendered branch."""
    git(repo.path, "worktree", "add", "-q", "--detach", str(work), "refs/heads/rendered")
    target = next(p for p in work.rglob("*.yaml") if old in p.read_bytes())
    before = target.read_bytes()
    after = before.replace(old, new)
    target.write_bytes(after)
    inventory = work / "gitkube-inventory.yaml"
    inventory.write_bytes(
        inventory.read_bytes().replace(
            hashlib.sha256(before).hexdigest().encode(), hashlib.sha256(after).hexdigest().encode()
        )
    )
    git(
        work,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingKey={signer.key}",
        "commit",
        "-q",
        "-S",
        "-am",
        "hotfix",
    )
    commit = git(work, "rev-parse", "HEAD")
    git(repo.path, "update-ref", "refs/heads/rendered", commit)
    return commit


def test_rerender_catches_a_hand_edited_rendered_commit_with_a_valid_signature(
    sync_repo, kube, trusted, tmp_path
):
    repo = sync_repo(web("v1"))
    trusted.configure(repo.path)
    render(repo, "v2", "--sign")
    verify = ("--verify-rendered", str(trusted.allowed_signers))
    repo.sync_json(*verify, "--verify-rerender")  # an honest render re-renders the same
    assert configmap_value(kube, repo) == "v2"

    edited = hand_edit_rendered(repo, trusted, b"key: v2", b"key: evil", tmp_path / "w")
    # The signature and the inventory both check out: only the re-render tells.
    plan = repo.plan_json(*verify)
    assert [c["name"] for c in plan["changes"]] == ["web-conf"]
    message = refused(repo.sync(*verify, "--verify-rerender"))
    source = git(repo.path, "rev-parse", "main")
    assert (
        f"rendered commit {edited[:12]} is not the render of its source commit {source[:12]}: "
        "2 file(s) differ (apps/web/" in message
    )
    assert "gitkube-inventory.yaml); it was edited or made by hand; refusing" in message
    assert configmap_value(kube, repo) == "v2"


def test_rerender_is_asked_for_by_the_repo_and_runs_in_the_repo_s_checkout(
    sync_repo, kube, tmp_path
):
    """``sync.verify.rerender: true`` in gitkube.yaml turns the check on without flags."""
    repo = sync_repo(web("v1"), extra_config="sync: {verify: {rerender: true}}\n")
    repo.sync_json()
    edited = hand_edit_rendered(
        repo,
        make_ssh_signer(tmp_path / "k", "x@example.com"),
        b"key: v1",
        b"key: evil",
        tmp_path / "w",
    )
    assert f"rendered commit {edited[:12]} is not the render" in refused(repo.sync())
    assert configmap_value(kube, repo) == "v1"


def test_rerender_refuses_a_commit_made_by_other_versions_and_names_them(sync_repo, kube, tmp_path):
    from gitkube import __version__

    repo = sync_repo(web("v1"))
    work = tmp_path / "w"
    git(repo.path, "worktree", "add", "-q", "--detach", str(work), "refs/heads/rendered")
    inventory = work / "gitkube-inventory.yaml"
    text = inventory.read_text()
    assert f"gitkubeVersion: {__version__}\n" in text
    inventory.write_text(
        text.replace(f"gitkubeVersion: {__version__}\n", "gitkubeVersion: 0.0.1\n")
    )
    git(work, "commit", "-q", "-am", "rendered elsewhere")
    other = git(work, "rev-parse", "HEAD")
    git(repo.path, "update-ref", "refs/heads/rendered", other)
    message = refused(repo.sync("--verify-rerender"))
    assert (
        f"cannot reproduce rendered commit {other[:12]}: it was rendered with gitkube 0.0.1 "
        f"(installed: {__version__}); install the recorded versions to verify it; refusing"
        in message
    )
    assert configmap_value(kube, repo) is None


def test_rerender_child_has_no_cluster_or_cloud_credentials(monkeypatch, tmp_path):
    secrets = {
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "sa.json"),
        "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.secret",
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "ya29.secret",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"),
        "GITKUBE_WEBHOOK_SECRET": "hmac-key",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    probe = "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
    proc = run_isolated([sys.executable, "-c", probe])
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    leaked = {k for k in seen["env"] if k in secrets or "TOKEN" in k or "CREDENTIAL" in k}
    assert leaked == set()
    home = Path(seen["env"]["HOME"])
    assert home != Path.home() and str(home) == seen["cwd"]
    assert not (home / ".kube").exists()  # ~/.kube/config is not under the child's HOME


# -- what a refusal leaves behind --------------------------------------------------


def test_a_refusal_is_an_event_and_shown_by_status_until_a_run_passes(sync_repo, kube, trusted):
    repo = sync_repo(web("v1"))
    trusted.configure(repo.path)
    verify = ("--verify-rendered", str(trusted.allowed_signers))
    render(repo, "v2", "--sign")
    repo.sync_json(*verify)
    unsigned = render(repo, "v3")
    plan = repo.cli("plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, *verify)
    assert "is not signed" in refused(plan)
    assert "verify.gitkube.dev/refused" not in parent_annotations(kube, repo)  # plan writes nothing
    assert "is not signed" in refused(repo.sync(*verify))

    status = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    mine = next(s for s in json.loads(status.stdout) if s["name"] == f"gitkube-{repo.cluster}")
    assert f"rendered commit {unsigned[:12]} is not signed" in mine["refused"]
    text = repo.cli("status", "--kubeconfig", repo.kubeconfig).stdout
    assert "refused: " in text and unsigned[:12] in text
    events = kube.request("GET", "/api/v1/namespaces/gitkube-system/events")["items"]
    ours = [
        e
        for e in events
        if e["involvedObject"]["name"] == f"gitkube-{repo.cluster}" and e["reason"] == "SyncRefused"
    ]
    assert len(ours) == 1 and ours[0]["type"] == "Warning"
    assert ours[0]["message"].startswith(f"[rendered-signature] rendered commit {unsigned[:12]}")

    render(repo, "v4", "--sign")
    repo.sync_json(*verify)
    status = repo.cli("status", "--kubeconfig", repo.kubeconfig, "-o", "json")
    mine = next(s for s in json.loads(status.stdout) if s["name"] == f"gitkube-{repo.cluster}")
    assert mine["refused"] == ""
    assert configmap_value(kube, repo) == "v4"


# -- the agent --------------------------------------------------------------------


def test_agent_refuses_then_recovers_and_never_rewinds_on_its_own(
    sync_repo, kube, trusted, tmp_path, monkeypatch
):
    from tests.sync.test_agent import AgentProcess, agent_args, pushed_to_a_bare_remote, wait_for

    repo = sync_repo(web("v1"))  # the rendered tip is unsigned
    bare = pushed_to_a_bare_remote(repo, tmp_path)
    git(repo.path, "push", "-q", str(bare), "main")  # the source, for the re-render
    monkeypatch.setenv("GITKUBE_CACHE", str(tmp_path / "cache"))
    flags = ["--verify-rendered", str(trusted.allowed_signers), "--verify-rerender"]
    agent = AgentProcess([*agent_args(repo, bare, "trusting"), *flags], tmp_path / "agent.log")
    try:
        wait_for(
            lambda: agent.metric('gitkube_sync_refusals_total{check="rendered-signature"}') >= 1,
            "the agent to refuse the unsigned commit",
        )
        assert configmap_value(kube, repo) is None
        _, body = agent.get("/api/status")
        assert any(
            e["kind"] == "refused" and "is not signed" in e["message"]
            for e in json.loads(body)["events"]
        )

        # A good commit arrives: signed, and the render of its source (re-rendered
        # from the agent's mirror of the remote).
        trusted.configure(repo.path)
        render(repo, "v2", "--sign")
        git(repo.path, "push", "-q", str(bare), "main", "rendered")
        wait_for(
            lambda: configmap_value(kube, repo) == "v2", "the agent to apply the signed commit"
        )

        second = git(repo.path, "rev-parse", "refs/heads/rendered")
        render(repo, "v3", "--sign")
        git(repo.path, "push", "-q", str(bare), "main", "rendered")
        wait_for(lambda: configmap_value(kube, repo) == "v3", "the agent to apply v3")

        # A force-push back to v2 (signed, and the render of its source): the agent
        # refuses the rewind by itself.
        git(repo.path, "push", "-q", "--force", str(bare), f"{second}:refs/heads/rendered")
        wait_for(
            lambda: agent.metric('gitkube_sync_refusals_total{check="rewind"}') >= 1,
            "the agent to refuse the rewind",
        )
        assert configmap_value(kube, repo) == "v3"
    finally:
        assert agent.stop() == 0
    log = agent.log.read_bytes()
    assert b"refused: rendered commit" in log and b"is older than the last synced" in log
