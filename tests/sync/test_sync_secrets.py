"""SOPS Secrets written by the real sops, rendered without a key, decrypted only
by sync and applied into the real control plane; review shows keys, never values."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gitkube.commands.secret import sops_config_text
from gitkube.domain.keys import RECORD_HASH_ANNOTATION
from gitkube.domain.ownership import PARENT_NAMESPACE
from gitkube.domain.secrets import SOPS_ANNOTATION
from gitkube.domain.targets import content_hash
from gitkube.primitives.kubeapi import KubeApi, KubeApiError
from gitkube.testing import sopstool
from tests.secrets.conftest import AgeKey, RealSops, make_key
from tests.sync.conftest import CONFIGMAP, SyncRepo, git
from tests.sync.test_rbac import AGENT_APP


@pytest.fixture(scope="session")
def real_sops() -> RealSops:
    return RealSops(sopstool.build())


def _seal(repo: SyncRepo, real: RealSops, rel: str, document: dict) -> None:
    """Encrypt ``document`` into ``rel`` with the real sops and the repo's .sops.yaml."""
    real.encrypt_json(document, rel, repo.path)


def _string_leaves(value: object) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _string_leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _string_leaves(item)]
    return [value] if isinstance(value, str) else []


def _secret(name: str, string_data: dict | None = None, data: dict | None = None) -> dict:
    body: dict = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
    }
    if string_data:
        body["stringData"] = string_data
    if data:
        body["data"] = data
    return body


def _get(kube: KubeApi, path: str) -> dict | None:
    try:
        return kube.request("GET", path)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise


@pytest.fixture
def secret_repo(sync_repo, tmp_path: Path):
    def make(key: AgeKey, files: dict[str, str] | None = None) -> SyncRepo:
        repo = sync_repo(
            {"app/conf.yaml": CONFIGMAP.format(name="conf", value="v1"), **(files or {})},
            extra_config=f"secrets: {{age: [{key.recipient}]}}\n",
        )
        (repo.path / ".sops.yaml").write_text(sops_config_text([key.recipient]))
        return repo

    return make


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@pytest.fixture
def shared(secret_repo, tmp_path: Path) -> dict:
    """One repo and key for every generated example of a test (each example adds a Secret)."""
    key = make_key(tmp_path)
    return {"key": key, "make": lambda: secret_repo(key), "count": 0}


@settings(
    max_examples=6,
    deadline=None,
    # Each example renders and syncs for real: report a failure as found, unshrunk.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=TEXT,
    lines=st.lists(TEXT, min_size=2, max_size=3).map("\n".join),
    blob=st.binary(min_size=1, max_size=40),
)
def test_what_the_real_sops_encrypts_is_applied_exactly(
    text, lines, blob, shared, real_sops, kube
) -> None:
    if "repo" not in shared:
        shared["repo"] = shared["make"]()
    repo, key = shared["repo"], shared["key"]
    shared["count"] += 1
    name = f"db-{shared['count']}"
    encoded = base64.b64encode(blob).decode()
    _seal(
        repo,
        real_sops,
        f"app/{name}.sops.yaml",
        _secret(name, {"text": text, "lines": lines}, {"blob": encoded}),
    )
    repo.commit_and_render("secret")
    rendered = git(repo.path, "show", f"rendered:app/secret-{name}.yaml")
    # No value is the plaintext (compared whole: a short plaintext's base64 may
    # by chance stand inside some ciphertext, as "AA==" did).
    assert encoded not in _string_leaves(yaml.safe_load(rendered))
    result = repo.sync_json("--age-key-file", str(key.file))
    assert any(c["name"] == name and c["action"] == "create" for c in result["changes"])
    live = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/secrets/{name}")
    assert base64.b64decode(live["data"]["text"]).decode() == text
    assert base64.b64decode(live["data"]["lines"]).decode() == lines
    assert base64.b64decode(live["data"]["blob"]) == blob
    annotations = live["metadata"]["annotations"]
    assert SOPS_ANNOTATION not in annotations
    assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitkube"
    # The record on the live object hashes the ciphertext, not the plaintext.
    assert annotations[RECORD_HASH_ANNOTATION] == content_hash(yaml.safe_load(rendered))
    # A second run changes nothing.
    again = repo.sync_json("--age-key-file", str(key.file))
    assert all(c["action"] == "unchanged" for c in again["changes"]), again["changes"]


def test_sops_age_key_file_is_read_as_sops_reads_it(
    secret_repo, real_sops, kube, tmp_path, monkeypatch
) -> None:
    key = make_key(tmp_path)
    repo = secret_repo(key)
    _seal(repo, real_sops, "app/db.sops.yaml", _secret("db", {"password": "from-env"}))
    repo.commit_and_render("secret")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.file))
    repo.sync_json()
    live = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/secrets/db")
    assert base64.b64decode(live["data"]["password"]) == b"from-env"
    # Then where sops looks by default ($XDG_CONFIG_HOME/sops/age/keys.txt).
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    default = tmp_path / "xdg-config" / "sops" / "age" / "keys.txt"  # tests/conftest.py's
    default.parent.mkdir(parents=True)
    default.write_text(key.file.read_text())
    _seal(repo, real_sops, "app/db.sops.yaml", _secret("db", {"password": "from-default"}))
    repo.commit_and_render("new password")
    repo.sync_json()
    live = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/secrets/db")
    assert base64.b64decode(live["data"]["password"]) == b"from-default"


def test_without_a_matching_key_the_run_refuses_and_prunes_nothing(
    secret_repo, real_sops, kube, tmp_path
) -> None:
    key = make_key(tmp_path)
    repo = secret_repo(key)
    repo.sync_json()  # the ConfigMap, before any secret exists
    _seal(repo, real_sops, "app/db.sops.yaml", _secret("db", {"password": "p"}))
    repo.remove("app/conf.yaml")  # would be pruned by a run that goes ahead
    repo.commit_and_render("secret, and drop the ConfigMap")
    stranger = make_key(tmp_path, "stranger.key")
    result = repo.sync("--age-key-file", str(stranger.file))
    assert result.returncode == 1
    assert "app/secret-db.yaml" in result.stderr and "app/db.sops.yaml" in result.stderr
    assert "none of the age identities" in result.stderr
    ns = repo.namespace
    assert _get(kube, f"/api/v1/namespaces/{ns}/configmaps/conf") is not None
    assert _get(kube, f"/api/v1/namespaces/{ns}/secrets/db") is None


def test_a_tampered_file_fails_its_mac_and_nothing_is_applied(
    secret_repo, real_sops, kube, tmp_path
) -> None:
    key = make_key(tmp_path)
    repo = secret_repo(key)
    _seal(repo, real_sops, "app/db.sops.yaml", _secret("db", {"password": "p"}))
    path = repo.path / "app/db.sops.yaml"
    # Type is readable but covered by the MAC: render cannot tell, sync must.
    path.write_text(path.read_text().replace("type: Opaque", "type: kubernetes.io/basic-auth"))
    repo.commit_and_render("tampered")
    result = repo.sync("--age-key-file", str(key.file))
    assert result.returncode == 1
    assert "MAC mismatch" in result.stderr and "app/db.sops.yaml" in result.stderr
    assert _get(kube, f"/api/v1/namespaces/{repo.namespace}/secrets/db") is None
    assert _get(kube, f"/api/v1/namespaces/{repo.namespace}/configmaps/conf") is None


def test_the_agent_reads_its_key_from_a_secret_in_its_namespace(
    secret_repo, real_sops, kube, tmp_path, controlplane
) -> None:
    """With the rules of the template's agent ClusterRole only, the agent reads
    gitkube-system/gitkube-age-key and applies the decrypted Secret. (The one
    test that writes that Secret; the role is bound to a user of its own so
    it does not meet test_rbac's install of the agent.)"""
    key = make_key(tmp_path)
    repo = secret_repo(key)
    user = f"secrets-agent-{uuid.uuid4().hex[:8]}"
    (template_role,) = [
        doc
        for doc in yaml.safe_load_all((AGENT_APP / "rbac.yaml").read_text())
        if doc["kind"] == "ClusterRole"
    ]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kube.request(
        "POST",
        f"{rbac}/clusterroles",
        body={**template_role, "metadata": {"name": user}},
    )
    kube.request(
        "POST",
        f"{rbac}/clusterrolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": user},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": user,
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    kube.ensure_namespace(PARENT_NAMESPACE)
    name = "gitkube-age-key"
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": PARENT_NAMESPACE},
        "stringData": {"keys.txt": key.file.read_text()},
    }
    try:
        kube.request("POST", f"/api/v1/namespaces/{PARENT_NAMESPACE}/secrets", body=body)
    except KubeApiError as exc:
        assert exc.status == 409
        kube.request("PUT", f"/api/v1/namespaces/{PARENT_NAMESPACE}/secrets/{name}", body=body)
    _seal(repo, real_sops, "app/db.sops.yaml", _secret("db", {"password": "from-cluster"}))
    repo.commit_and_render("secret")
    as_agent = controlplane.user_kubeconfig(user)
    done = repo.cli("sync", "--repo", repo.path, "--kubeconfig", as_agent, "-o", "json")
    assert done.returncode == 0, done.stderr
    live = kube.request("GET", f"/api/v1/namespaces/{repo.namespace}/secrets/db")
    assert base64.b64decode(live["data"]["password"]) == b"from-cluster"


def test_plan_and_diff_show_which_keys_changed_never_a_value(
    secret_repo, real_sops, cli, tmp_path
) -> None:
    key = make_key(tmp_path)
    repo = secret_repo(key)
    _seal(
        repo,
        real_sops,
        "app/db.sops.yaml",
        _secret("db", {"keep": "same-value", "old": "gone-value", "pw": "first-value"}),
    )
    repo.commit_and_render("secret")
    repo.sync_json("--age-key-file", str(key.file))
    base = git(repo.path, "rev-parse", "HEAD")
    # Edit with the real sops (set/unset keep the data key and unchanged values' ciphertext).
    file = "app/db.sops.yaml"
    for args in (
        ("set", file, '["stringData"]["pw"]', '"second-value"'),
        ("set", file, '["stringData"]["new"]', '"added-value"'),
        ("unset", file, '["stringData"]["old"]'),
    ):
        done = real_sops.run(*args, key_file=key.file, cwd=repo.path)
        assert done.returncode == 0, done.stderr
    repo.commit_and_render("rotate the password")
    values = ("same-value", "gone-value", "first-value", "second-value", "added-value")

    text = cli("diff", base, "HEAD", "-C", repo.path)
    assert text.returncode == 0, text.stderr
    assert "Secret " in text.stdout and "db" in text.stdout
    assert "added `stringData.new`" in text.stdout
    assert "removed `stringData.old`" in text.stdout
    assert "changed `stringData.pw`" in text.stdout
    (title,) = [line for line in text.stdout.splitlines() if line.startswith("~ changed Secret")]
    assert "stringData.keep" not in title  # unchanged: its ciphertext is the same
    as_json = cli("diff", base, "HEAD", "-C", repo.path, "-o", "json")
    (change,) = [c for c in json.loads(as_json.stdout)["changes"] if c["kind"] == "Secret"]
    assert change["secretKeys"]["added"] == ["stringData.new"]
    assert change["secretKeys"]["removed"] == ["stringData.old"]
    assert change["secretKeys"]["changed"] == ["stringData.pw"]
    markdown = cli("diff", base, "HEAD", "-C", repo.path, "-o", "markdown")
    assert "removed `stringData.old`" in markdown.stdout
    plan = cli(
        "plan", "--repo", repo.path, "--kubeconfig", repo.kubeconfig, "--age-key-file", key.file
    )
    assert plan.returncode == 0, plan.stderr
    assert "Secret" in plan.stdout
    for output in (text.stdout, as_json.stdout, markdown.stdout, plan.stdout, plan.stderr):
        for value in values:
            assert value not in output
            assert base64.b64encode(value.encode()).decode() not in output
