"""The local control plane is a real Kubernetes API: prove the behaviours gitkube's sync relies on."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gitkube.testing.controlplane import (
    BUILD_COMMAND,
    KUBERNETES_VERSION,
    ControlPlane,
    ControlPlaneError,
    binaries_problem,
    build,
    default_bin_dir,
    kubernetes_staging_replaces,
)

pytestmark = pytest.mark.controlplane

APPLY = "application/apply-patch+yaml"


def configmap(
    name: str, data: dict[str, str], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def api_status(call: Callable[[], object]) -> int:
    """The HTTP status a call fails with (the test fails if it succeeds)."""
    with pytest.raises(ApiException) as caught:
        call()
    status: int = caught.value.status
    return status


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def process_gone(pid: int) -> bool:
    # A zombie has released everything but its process-table slot; whether it
    # is reaped depends on the container's init, not on us.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def core(controlplane: ControlPlane) -> Iterator[client.CoreV1Api]:
    with controlplane.api_client() as api:
        yield client.CoreV1Api(api)


# --------------------------------------------------------------------------- the API itself


def test_create_list_by_label_selector_and_delete_configmaps(
    core: client.CoreV1Api, kube_namespace: str
) -> None:
    core.create_namespaced_config_map(kube_namespace, configmap("a", {"k": "1"}, {"tier": "web"}))
    core.create_namespaced_config_map(kube_namespace, configmap("b", {"k": "2"}, {"tier": "web"}))
    core.create_namespaced_config_map(kube_namespace, configmap("c", {"k": "3"}, {"tier": "db"}))

    web = core.list_namespaced_config_map(kube_namespace, label_selector="tier=web")
    assert sorted(cm.metadata.name for cm in web.items) == ["a", "b"]
    not_web = core.list_namespaced_config_map(kube_namespace, label_selector="tier,tier!=web")
    assert [cm.metadata.name for cm in not_web.items] == ["c"]

    core.delete_namespaced_config_map("a", kube_namespace)
    assert api_status(lambda: core.read_namespaced_config_map("a", kube_namespace)) == 404
    web = core.list_namespaced_config_map(kube_namespace, label_selector="tier=web")
    assert [cm.metadata.name for cm in web.items] == ["b"]


def test_server_side_apply_records_the_field_manager_and_prunes_its_dropped_fields(
    core: client.CoreV1Api, kube_namespace: str
) -> None:
    def apply(data: dict[str, str]) -> client.V1ConfigMap:
        return core.patch_namespaced_config_map(
            "settings",
            kube_namespace,
            configmap("settings", data),
            field_manager="gitkube",
            _content_type=APPLY,
        )

    apply({"color": "blue", "size": "L"})
    applied = apply({"color": "red"})

    assert applied.data == {"color": "red"}  # `size` was owned by gitkube alone, so it went
    managers = {(f.manager, f.operation) for f in applied.metadata.managed_fields}
    assert managers == {("gitkube", "Apply")}


def test_deployment_is_applied_defaulted_by_the_server_and_deleted(
    controlplane: ControlPlane, kube_namespace: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    with controlplane.api_client() as api:
        apps = client.AppsV1Api(api)
        apps.patch_namespaced_deployment(
            "web", kube_namespace, deployment, field_manager="gitkube", _content_type=APPLY
        )
        stored = apps.read_namespaced_deployment("web", kube_namespace)
        # Defaults only the real API server fills in.
        assert stored.spec.strategy.type == "RollingUpdate"
        assert stored.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
        assert stored.metadata.generation == 1
        # No controller-manager: nothing ever reports on it.
        assert not stored.status or not stored.status.replicas

        apps.delete_namespaced_deployment("web", kube_namespace)
        status = api_status(lambda: apps.read_namespaced_deployment("web", kube_namespace))
        assert status == 404


def test_apply_conflict_between_two_field_managers_needs_force(
    core: client.CoreV1Api, kube_namespace: str
) -> None:
    def apply(manager: str, color: str, force: bool | None = None) -> client.V1ConfigMap:
        return core.patch_namespaced_config_map(
            "shared",
            kube_namespace,
            configmap("shared", {"color": color}),
            field_manager=manager,
            force=force,
            _content_type=APPLY,
        )

    apply("gitkube", "blue")
    with pytest.raises(ApiException) as conflict:
        apply("someone-else", "red")
    assert conflict.value.status == 409
    assert "gitkube" in conflict.value.body  # the server names the owner of the field

    taken = apply("someone-else", "red", force=True)
    assert taken.data == {"color": "red"}
    owners = {f.manager for f in taken.metadata.managed_fields if "f:color" in str(f.fields_v1)}
    assert owners == {"someone-else"}


def test_dry_run_validates_but_persists_nothing(
    core: client.CoreV1Api, kube_namespace: str
) -> None:
    preview = core.create_namespaced_config_map(
        kube_namespace, configmap("preview", {"k": "v"}), dry_run="All"
    )
    assert preview.data == {"k": "v"}
    assert api_status(lambda: core.read_namespaced_config_map("preview", kube_namespace)) == 404

    applied = core.patch_namespaced_config_map(
        "preview",
        kube_namespace,
        configmap("preview", {"k": "v"}),
        field_manager="gitkube",
        dry_run="All",
        _content_type=APPLY,
    )
    assert applied.metadata.managed_fields[0].manager == "gitkube"
    assert api_status(lambda: core.read_namespaced_config_map("preview", kube_namespace)) == 404

    # Dry-run still runs validation: an invalid name is rejected, not previewed.
    invalid = configmap("Not_A_Valid_Name", {"k": "v"})
    status = api_status(
        lambda: core.create_namespaced_config_map(kube_namespace, invalid, dry_run="All")
    )
    assert status == 422


def test_update_with_a_stale_resource_version_conflicts(
    core: client.CoreV1Api, kube_namespace: str
) -> None:
    created = core.create_namespaced_config_map(kube_namespace, configmap("rv", {"n": "0"}))
    stale = created.metadata.resource_version

    fresh = configmap("rv", {"n": "1"})
    fresh["metadata"]["resourceVersion"] = stale
    core.replace_namespaced_config_map("rv", kube_namespace, fresh)

    late = configmap("rv", {"n": "2"})
    late["metadata"]["resourceVersion"] = stale
    status = api_status(lambda: core.replace_namespaced_config_map("rv", kube_namespace, late))
    assert status == 409
    assert core.read_namespaced_config_map("rv", kube_namespace).data == {"n": "1"}


def test_rbac_denies_a_user_without_a_role_and_allows_it_with_one(
    controlplane: ControlPlane, kube_namespace: str
) -> None:
    agent_config = controlplane.user_kubeconfig("gitkube-agent", groups=["gitkube-agents"])
    with controlplane.api_client(agent_config) as agent_api, controlplane.api_client() as admin_api:
        agent = client.CoreV1Api(agent_api)
        assert api_status(lambda: agent.list_namespaced_config_map(kube_namespace)) == 403

        rbac = client.RbacAuthorizationV1Api(admin_api)
        rbac.create_namespaced_role(
            kube_namespace,
            {
                "metadata": {"name": "configmap-reader"},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
                ],
            },
        )
        rbac.create_namespaced_role_binding(
            kube_namespace,
            {
                "metadata": {"name": "agents-read-configmaps"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "configmap-reader",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "gitkube-agents",
                    }
                ],
            },
        )

        def allowed() -> bool:
            try:
                agent.list_namespaced_config_map(kube_namespace)
            except ApiException as exc:
                if exc.status != 403:
                    raise
                return False
            return True

        # The authorizer learns about new bindings through a watch: eventually, not instantly.
        assert eventually(allowed)
        # Exactly what was granted, no more.
        denied_write = api_status(
            lambda: agent.create_namespaced_config_map(kube_namespace, configmap("x", {}))
        )
        assert denied_write == 403
        assert api_status(lambda: agent.list_namespaced_config_map("default")) == 403


def test_kubectl_server_side_apply_is_seen_by_the_python_client(
    controlplane: ControlPlane, kube_namespace: str, core: client.CoreV1Api, tmp_path: Path
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed; the test needs the real tool")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: from-kubectl
              labels: {owner: kubectl}
            data:
              greeting: hello
            """
        )
    )
    connect = ["--kubeconfig", str(controlplane.kubeconfig), "-n", kube_namespace]
    done = subprocess.run(
        [kubectl, *connect, "apply", "--server-side", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "serverside-applied" in done.stdout

    stored = core.read_namespaced_config_map("from-kubectl", kube_namespace)
    assert stored.data == {"greeting": "hello"}
    assert stored.metadata.labels == {"owner": "kubectl"}
    assert [(f.manager, f.operation) for f in stored.metadata.managed_fields] == [
        ("kubectl", "Apply")
    ]


def test_a_deleted_namespace_stays_terminating_without_a_controller_manager(
    controlplane: ControlPlane, core: client.CoreV1Api
) -> None:
    name = controlplane.create_namespace(prefix="doomed")
    assert core.read_namespace(name).status.phase == "Active"
    core.create_namespaced_config_map(name, configmap("left-behind", {}))

    controlplane.delete_namespace(name)

    namespace = core.read_namespace(name)
    assert namespace.status.phase == "Terminating"
    assert namespace.metadata.deletion_timestamp is not None
    # Its contents are still there, but nothing new may be created in it.
    assert core.read_namespaced_config_map("left-behind", name).metadata.name == "left-behind"
    assert api_status(lambda: core.create_namespaced_config_map(name, configmap("new", {}))) == 403


def test_kube_namespace_is_fresh_and_active(core: client.CoreV1Api, kube_namespace: str) -> None:
    assert kube_namespace.startswith("test-kube-namespace-is-fresh-and-active-")
    assert core.read_namespace(kube_namespace).status.phase == "Active"
    assert core.list_namespaced_config_map(kube_namespace, label_selector="tier").items == []


def test_server_reports_the_pinned_version(controlplane: ControlPlane) -> None:
    with controlplane.api_client() as api:
        info = client.VersionApi(api).get_code()
    assert info.git_version == KUBERNETES_VERSION


# --------------------------------------------------------------------------- lifecycle


def test_stop_leaves_no_processes_and_no_files_behind() -> None:
    cp = ControlPlane().start()
    pids, workdir = cp.pids, cp.workdir
    assert len(pids) == 2
    assert all(not process_gone(pid) for pid in pids)
    assert cp.kubeconfig.is_file()

    cp.stop()

    assert all(process_gone(pid) for pid in pids)
    assert not workdir.exists()
    with pytest.raises(ControlPlaneError, match="not running"):
        _ = cp.kubeconfig
    cp.stop()  # idempotent


def test_two_control_planes_run_side_by_side(controlplane: ControlPlane) -> None:
    with ControlPlane() as other:
        assert other.server != controlplane.server
        with other.api_client() as api:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "only-in-other"}})
        with controlplane.api_client() as api:
            status = api_status(lambda: client.CoreV1Api(api).read_namespace("only-in-other"))
        assert status == 404


def _up() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitkube.testing.controlplane", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_up_command_prints_the_kubeconfig_path_and_stops_cleanly_on_sigterm() -> None:
    up = _up()
    try:
        assert up.stdout is not None
        kubeconfig = Path(up.stdout.readline().strip())
        assert kubeconfig.is_file(), up.stderr.read() if up.stderr else ""
        servers = children_of(up.pid)
        assert len(servers) == 2

        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "get",
                "namespace",
                "default",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip() == "namespace/default", done.stderr

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
        assert all(process_gone(pid) for pid in servers)
        assert not kubeconfig.exists()
    finally:
        up.kill()
        up.wait()


def test_servers_die_with_a_killed_python_process() -> None:
    """No atexit runs on SIGKILL; PR_SET_PDEATHSIG must still take the servers down."""
    up = _up()
    try:
        assert up.stdout is not None
        kubeconfig = Path(up.stdout.readline().strip())
        assert kubeconfig.is_file()
        servers = children_of(up.pid)
        assert len(servers) == 2
    finally:
        up.kill()
        up.wait()
    assert eventually(lambda: all(process_gone(pid) for pid in servers), timeout=10)
    # Nobody was left to remove the state directory; that much a SIGKILL does leak.
    shutil.rmtree(kubeconfig.parent)


# --------------------------------------------------------------------------- binaries


def test_missing_binaries_fail_the_fixture_with_the_build_command(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_needs_cluster.py").write_text("def test_it(controlplane):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GITKUBE_CONTROLPLANE_CACHE": str(tmp_path / "empty-cache")},
        timeout=120,
    )
    assert done.returncode != 0
    assert "1 error" in done.stdout
    assert "skipped" not in done.stdout
    assert BUILD_COMMAND in done.stdout


def test_kube_namespace_is_deleted_when_its_test_ends(tmp_path: Path) -> None:
    # The fixture's teardown is only observable from a later test, so run a
    # small session of its own: the second test sees what the first one left.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_order.py").write_text(
        textwrap.dedent(
            """\
            from kubernetes import client

            seen = []

            def test_uses_a_namespace(kube_namespace):
                seen.append(kube_namespace)

            def test_it_is_terminating_afterwards(controlplane):
                with controlplane.api_client() as api:
                    namespace = client.CoreV1Api(api).read_namespace(seen[0])
                assert namespace.status.phase == "Terminating"
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert "2 passed" in done.stdout, done.stdout + done.stderr


def test_a_broken_or_missing_binary_is_not_reused(tmp_path: Path) -> None:
    real = default_bin_dir()
    assert binaries_problem(real) is None

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy2(real / "etcd", bin_dir / "etcd")
    missing = binaries_problem(bin_dir)
    assert missing is not None and "kube-apiserver" in missing and "does not exist" in missing

    broken = bin_dir / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'cannot execute' >&2\nexit 126\n")
    broken.chmod(0o755)
    failing = binaries_problem(bin_dir)
    assert failing is not None and "exited 126" in failing

    broken.write_text("#!/bin/sh\necho 'Kubernetes v1.0.0'\n")
    wrong = binaries_problem(bin_dir)
    assert wrong is not None and KUBERNETES_VERSION in wrong


def test_a_working_cache_is_reused_without_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITKUBE_GO", "/nonexistent/go")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert build() == default_bin_dir()


def test_a_broken_cache_is_rebuilt_with_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = default_bin_dir(tmp_path)
    bin_dir.mkdir(parents=True)
    (bin_dir / "kube-apiserver").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "kube-apiserver").chmod(0o755)
    calls = tmp_path / "go-calls"
    # A stand-in for go that records how it is called and fails, so the
    # rebuild is observed without spending minutes compiling.
    fake_go = tmp_path / "go"
    fake_go.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "no network" >&2\nexit 1\n')
    fake_go.chmod(0o755)
    monkeypatch.setenv("GITKUBE_GO", str(fake_go))
    log = io.StringIO()

    with pytest.raises(ControlPlaneError, match="no network"):
        build(tmp_path, log=log)

    assert "rebuilding" in log.getvalue() and "kube-apiserver" in log.getvalue()
    assert calls.read_text().split() == [
        "mod",
        "download",
        "-json",
        f"k8s.io/kubernetes@{KUBERNETES_VERSION}",
    ]


def test_staging_modules_are_replaced_by_their_published_versions() -> None:
    gomod = textwrap.dedent(
        """\
        module k8s.io/kubernetes

        go 1.26.0

        require (
        \tgithub.com/spf13/cobra v1.10.0
        \tk8s.io/api v0.0.0
        \tk8s.io/apiserver v0.0.0
        )

        require k8s.io/kubectl v0.0.0 // indirect

        replace (
        \tk8s.io/api => ./staging/src/k8s.io/api
        \tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
        \tk8s.io/kubectl => ./staging/src/k8s.io/kubectl
        \tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
        \tgithub.com/x/y => github.com/x/y v1.2.3
        )
        """
    )
    # Not required (sample-controller) means no replace: it may not even be published.
    assert kubernetes_staging_replaces(gomod, "v1.37.2") == {
        "k8s.io/api": "v0.37.2",
        "k8s.io/apiserver": "v0.37.2",
        "k8s.io/kubectl": "v0.37.2",
    }
