"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, for tests and the demo.

gitkube's sync is proven against the real API server, not a mock: server-side
apply, field managers, dry-run, label selectors, resourceVersion conflicts and
RBAC all behave exactly as in a cluster. This is the same idea as
controller-runtime's envtest:

* :func:`build` compiles ``kube-apiserver`` and ``etcd`` from the upstream Go
  modules (versions pinned below, in one place) into a cache directory outside
  the repo, and reuses them while they still answer ``--version``.
* :class:`ControlPlane` starts both on free loopback ports with a throwaway CA,
  an admin client certificate (group ``system:masters``), service-account keys
  and ``--authorization-mode=RBAC``, writes a kubeconfig, and stops them again.

There is no controller-manager, scheduler or kubelet; see
:mod:`gitkube.testing.controlplane_fixtures` for what that means for tests.

Command line::

    python -m gitkube.testing.controlplane build   # build or reuse; prints the bin dir
    python -m gitkube.testing.controlplane up      # prints the kubeconfig path, runs until SIGINT/SIGTERM
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import datetime
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitkube.primitives.errors import GitkubeError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

# The one place the versions are pinned. etcd is the release Kubernetes itself
# declares for this version (build/dependencies.yaml, hack/lib/etcd.sh).
KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.0"

CACHE_ENV = "GITKUBE_CONTROLPLANE_CACHE"
GO_ENV = "GITKUBE_GO"
BUILD_COMMAND = "python -m gitkube.testing.controlplane build"

# Service IPs are only allocated, never routed: nothing runs kube-proxy.
SERVICE_CIDR = "10.0.0.0/16"  # room for benchmarks with thousands of Services
_KUBERNETES_SERVICE_IP = "10.0.0.1"

_PR_SET_PDEATHSIG = 1


class ControlPlaneError(GitkubeError):
    """The control plane could not be built or started; the message says what to do."""


# --------------------------------------------------------------------------- build


def cache_root() -> Path:
    """Where built binaries live: ``$GITKUBE_CONTROLPLANE_CACHE`` or the user's cache dir."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "gitkube" / "controlplane"


def version_dir(root: Path | None = None) -> Path:
    # Versioned so that changing the pins never reuses binaries of other versions.
    return (root or cache_root()) / f"{KUBERNETES_VERSION}-{ETCD_VERSION}"


def default_bin_dir(root: Path | None = None) -> Path:
    return version_dir(root) / "bin"


def binaries_problem(bin_dir: Path) -> str | None:
    """Why the binaries in ``bin_dir`` are unusable, or None if both run and have the pinned versions."""
    expected = {
        "kube-apiserver": f"Kubernetes {KUBERNETES_VERSION}",
        "etcd": f"etcd Version: {ETCD_VERSION.removeprefix('v')}",
    }
    for name, marker in expected.items():
        path = bin_dir / name
        if not path.is_file():
            return f"{path} does not exist"
        try:
            done = subprocess.run(
                [str(path), "--version"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{path} --version failed: {exc}"
        if done.returncode != 0:
            return f"{path} --version exited {done.returncode}: {done.stderr.strip()[:500]}"
        if marker not in done.stdout:
            return f"{path} --version does not report {marker!r}: {done.stdout.strip()[:200]}"
    return None


def find_go() -> str:
    for candidate in (os.environ.get(GO_ENV), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ControlPlaneError(
        f"building the control plane needs Go: install it or set {GO_ENV} to the go binary"
    )


def _nice() -> None:
    # The build is long and CPU-bound; keep the machine usable for everything else.
    os.nice(10)


def _go(go: str, args: Sequence[str], cwd: Path, log: TextIO) -> str:
    env = {
        **os.environ,
        # Static binaries: no C toolchain needed, and they run on any glibc.
        "CGO_ENABLED": "0",
        # A go.work above the cache dir must not leak into the throwaway modules.
        "GOWORK": "off",
    }
    log.write(f"$ go {' '.join(args)}\n")
    log.flush()
    done = subprocess.run(
        [go, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_nice,
    )
    if done.stderr:
        log.write(done.stderr)
        log.flush()
    if done.returncode != 0:
        raise ControlPlaneError(
            f"`go {' '.join(args)}` failed in {cwd} (exit {done.returncode}):\n"
            f"{done.stderr.strip()[-4000:]}"
        )
    return done.stdout


def _gomod_blocks(text: str, directive: str) -> list[list[str]]:
    """The entries of every ``require``/``replace`` directive of a go.mod, as token lists."""
    entries: list[list[str]] = []
    in_block = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                entries.append(line.split())
        elif line == f"{directive} (":
            in_block = True
        elif line.startswith(f"{directive} "):
            entries.append(line[len(directive) + 1 :].split())
    return entries


def kubernetes_staging_replaces(gomod: str, kubernetes_version: str) -> dict[str, str]:
    """``replace`` lines a module needs to depend on ``k8s.io/kubernetes``.

    Its go.mod requires the staging modules (k8s.io/api, k8s.io/apiserver, ...)
    at v0.0.0 and replaces them with directories of its own repo, and
    replacements of a dependency are ignored. The published staging modules
    carry the same code as v0.<minor>.<patch>.
    """
    staging_version = "v0." + kubernetes_version.removeprefix("v1.")
    staged = {
        entry[0]
        for entry in _gomod_blocks(gomod, "replace")
        if len(entry) >= 3 and entry[1] == "=>" and entry[2].startswith("./staging/")
    }
    required = {entry[0] for entry in _gomod_blocks(gomod, "require") if len(entry) >= 2}
    return {module: staging_version for module in sorted(staged & required)}


def _gomod_go_line(gomod: str) -> str:
    found = re.search(r"^go\s+(\S+)\s*$", gomod, re.MULTILINE)
    return found.group(1) if found else "1.24"


def _build_kube_apiserver(go: str, workdir: Path, out: Path, log: TextIO) -> None:
    info = json.loads(
        _go(
            go,
            ["mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
            workdir,
            log,
        )
    )
    upstream = Path(info["GoMod"]).read_text()
    replaces = kubernetes_staging_replaces(upstream, KUBERNETES_VERSION)
    module = workdir / "kube-apiserver"
    module.mkdir()
    lines = [
        "module gitkube.local/controlplane-build/kube-apiserver",
        "",
        f"go {_gomod_go_line(upstream)}",
        "",
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}",
        "",
        "replace (",
        *(f"\t{name} => {name} {version}" for name, version in replaces.items()),
        ")",
        "",
    ]
    (module / "go.mod").write_text("\n".join(lines))
    package = "k8s.io/kubernetes/cmd/kube-apiserver"
    _go(go, ["get", f"{package}@{KUBERNETES_VERSION}"], module, log)
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    version_pkg = "k8s.io/component-base/version"
    # Without these the server reports v0.0.0-master, which clients print as a
    # version skew and which would hide what is actually under test.
    ldflags = " ".join(
        [
            "-s",
            "-w",
            f"-X {version_pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {version_pkg}.gitMajor={major}",
            f"-X {version_pkg}.gitMinor={minor}",
            f"-X {version_pkg}.gitTreeState=clean",
        ]
    )
    _go(go, ["build", "-trimpath", "-ldflags", ldflags, "-o", str(out), package], module, log)


def _build_etcd(go: str, workdir: Path, out: Path, log: TextIO) -> None:
    module = workdir / "etcd"
    module.mkdir()
    package = "go.etcd.io/etcd/server/v3"
    (module / "go.mod").write_text(
        f"module gitkube.local/controlplane-build/etcd\n\ngo 1.24\n\nrequire {package} {ETCD_VERSION}\n"
    )
    # etcd's own replaces point at sibling directories; its requirements already
    # name the matching released modules, so none are needed here.
    _go(go, ["get", f"{package}@{ETCD_VERSION}"], module, log)
    _go(go, ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), package], module, log)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Parallel test workers or CI jobs sharing a cache must not build twice at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(root: Path | None = None, *, force: bool = False, log: TextIO | None = None) -> Path:
    """Build ``kube-apiserver`` and ``etcd`` into the cache unless usable ones are there; return the bin dir."""
    log = log or sys.stderr
    bin_dir = default_bin_dir(root)
    if not force and binaries_problem(bin_dir) is None:
        return bin_dir
    with _locked(version_dir(root) / ".build.lock"):
        problem = None if force else binaries_problem(bin_dir)
        if problem is None and not force:
            return bin_dir  # another process built them while we waited
        if problem:
            log.write(f"rebuilding: {problem}\n")
        go = find_go()
        bin_dir.mkdir(parents=True, exist_ok=True)
        log.write(
            f"building kube-apiserver {KUBERNETES_VERSION} and etcd {ETCD_VERSION} into {bin_dir} "
            "(the first build takes many minutes)\n"
        )
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="build-", dir=version_dir(root)) as tmp:
            workdir = Path(tmp)
            # Build next to the target and rename: a half-written binary is never picked up.
            for name, builder in (("kube-apiserver", _build_kube_apiserver), ("etcd", _build_etcd)):
                partial = workdir / f"{name}.partial"
                builder(go, workdir, partial, log)
                os.replace(partial, bin_dir / name)
        seconds = time.monotonic() - started
        problem = binaries_problem(bin_dir)
        if problem:
            raise ControlPlaneError(f"the freshly built binaries do not work: {problem}")
        go_version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
        (version_dir(root) / "build-info.json").write_text(
            json.dumps(
                {
                    "kubernetes": KUBERNETES_VERSION,
                    "etcd": ETCD_VERSION,
                    "go": go_version,
                    "seconds": round(seconds),
                    "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                },
                indent=2,
            )
            + "\n"
        )
        log.write(f"built in {int(seconds // 60)}m{int(seconds % 60):02d}s\n")
        log.flush()
    return bin_dir


# --------------------------------------------------------------------------- certificates


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 rather than RSA: key generation is instant, and every party here
    # (Go's TLS, OpenSSL via Python and kubectl) speaks ECDSA.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class CertificateAuthority:
    """A throwaway CA that signs the serving certificate and every client certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "gitkube-controlplane-ca") -> CertificateAuthority:
        key = _new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    @property
    def cert_pem(self) -> bytes:
        return _cert_pem(self.cert)

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        client: bool = False,
        dns_names: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> tuple[bytes, bytes]:
        """A (certificate PEM, key PEM) pair signed by this CA.

        For client certificates the API server takes the user name from the
        common name and the groups from the organizations.
        """
        key = _new_key()
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _cert_pem(cert), _key_pem(key)


def kubeconfig_document(
    server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str
) -> dict[str, object]:
    """A self-contained kubeconfig (certificates inline) for one user of one server."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gitkube-controlplane",
                "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
            }
        ],
        "contexts": [
            {
                "name": user,
                "context": {
                    "cluster": "gitkube-controlplane",
                    "user": user,
                    "namespace": "default",
                },
            }
        ],
        "current-context": user,
        "preferences": {},
    }


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when this Python process dies.

    atexit and finalizers do not run when Python is SIGKILLed (an OOM kill, a CI
    timeout), and the servers would then outlive the tests forever. The kernel
    delivers PR_SET_PDEATHSIG when the *thread* that forked exits, so it is only
    armed from the main thread; a worker thread ending would otherwise kill them.
    """
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would stop us.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


@dataclass
class _Children:
    """The processes and files of one control plane.

    Kept apart from :class:`ControlPlane` so a ``weakref.finalize`` can clean
    up without holding the control plane alive: the finalizer runs on
    :meth:`ControlPlane.stop`, on garbage collection, and at interpreter exit
    (a crashed test session included).
    """

    workdir: Path
    keep_workdir: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cleanup(self) -> None:
        # The API server first, while etcd still answers, so it shuts down cleanly.
        for proc in reversed(self.procs):
            _stop_group(proc, grace=10.0)
        self.procs.clear()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    # Each server leads its own session (start_new_session), so its pid is the
    # group id and anything it might have spawned goes down with it.
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _PortTaken(Exception):
    """Another process took a port between picking it and the server binding it."""


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """etcd + kube-apiserver on loopback, started by :meth:`start` and stopped by :meth:`stop`.

    ::

        with ControlPlane() as cp:
            core = kubernetes.client.CoreV1Api(cp.api_client())
            core.list_namespace()
            subprocess.run(["kubectl", "--kubeconfig", cp.kubeconfig, "get", "ns"])

    Every instance has its own CA, ports and temporary directory, so several can
    run side by side (pytest-xdist workers, the demo next to the tests).
    """

    ADMIN_USER = "gitkube-admin"

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        start_timeout: float = 120.0,
        keep_workdir: bool = False,
        apiserver_args: Sequence[str] = (),
    ) -> None:
        self.bin_dir = bin_dir or default_bin_dir()
        # more kube-apiserver flags (e.g. --runtime-config=api/all=true)
        self.apiserver_args = tuple(apiserver_args)
        self.start_timeout = start_timeout
        self.keep_workdir = keep_workdir
        self._children: _Children | None = None
        self._finalizer: weakref.finalize[[], ControlPlane] | None = None
        self._ca: CertificateAuthority | None = None
        self._server: str | None = None
        self._kubeconfig: Path | None = None
        self.etcd_url: str | None = None
        self.startup_seconds: float | None = None
        self._killed_port: int | None = None

    # -- lifecycle

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        if self._children is not None:
            raise ControlPlaneError("this control plane is already running")
        problem = binaries_problem(self.bin_dir)
        if problem:
            raise ControlPlaneError(
                f"the control-plane binaries are not usable: {problem}. Build them with: {BUILD_COMMAND}"
            )
        started = time.monotonic()
        workdir = Path(tempfile.mkdtemp(prefix="gitkube-controlplane-"))
        self._children = _Children(workdir=workdir, keep_workdir=self.keep_workdir)
        self._finalizer = weakref.finalize(self, self._children.cleanup)
        try:
            self._write_pki(workdir)
            for attempt in range(3):
                try:
                    self._start_etcd(workdir)
                    self._start_apiserver(workdir)
                    break
                except _PortTaken:
                    for proc in reversed(self._children.procs):
                        _stop_group(proc, grace=5.0)
                    self._children.procs.clear()
                    if attempt == 2:
                        raise ControlPlaneError(
                            "could not find free loopback ports for etcd and kube-apiserver"
                        ) from None
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL) and remove the temporary directory. Idempotent."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._children = None
        # A stopped control plane must not hand out a kubeconfig for a dead server.
        self._server = self._kubeconfig = self._ca = self.etcd_url = None

    def kill_apiserver(self) -> None:
        """SIGKILL the kube-apiserver, as a crash would (etcd and its data stay): for fault
        tests. :meth:`start_apiserver` brings it back on the same port."""
        children = self._require_children()
        proc = next(p for p in children.procs if "kube-apiserver" in str(p.args))
        self._killed_port = int(self.server.rsplit(":", 1)[1])
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        children.procs.remove(proc)
        self._server = None

    def start_apiserver(self) -> str:
        """Start the killed kube-apiserver again on the same port, etcd and PKI; its URL."""
        self._start_apiserver(self._require_children().workdir, port=self._killed_port)
        return self.server

    @property
    def running(self) -> bool:
        return self._children is not None and all(p.poll() is None for p in self._children.procs)

    @property
    def pids(self) -> list[int]:
        """Process ids of etcd and kube-apiserver (empty when stopped)."""
        return [p.pid for p in self._children.procs] if self._children else []

    @property
    def workdir(self) -> Path:
        return self._require_children().workdir

    # -- what clients use

    @property
    def server(self) -> str:
        """The API server's URL, ``https://127.0.0.1:<port>``."""
        if self._server is None:
            raise ControlPlaneError("the control plane is not running")
        return self._server

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig for the admin user (group ``system:masters``)."""
        if self._kubeconfig is None:
            raise ControlPlaneError("the control plane is not running")
        return self._kubeconfig

    @property
    def ca_pem(self) -> bytes:
        return self._require_ca().cert_pem

    def user_kubeconfig(self, username: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for a user with no rights but what RBAC grants ``username`` and ``groups``.

        The API server adds ``system:authenticated``; nothing else is implied.
        """
        ca = self._require_ca()
        cert, key = ca.issue(username, organizations=groups, client=True)
        users = self.workdir / "users"
        users.mkdir(exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", username)
        path = users / f"{safe}-{secrets.token_hex(3)}.kubeconfig"
        self._write_kubeconfig(path, cert, key, username)
        return path

    def api_client(self, kubeconfig: Path | None = None) -> ApiClient:
        """A ``kubernetes.client.ApiClient`` for the admin kubeconfig, or for ``kubeconfig``."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig), persist_config=False
        )
        return client

    def create_namespace(self, name: str | None = None, *, prefix: str = "test") -> str:
        """Create a namespace (a unique ``<prefix>-<random>`` one by default) and return its name."""
        from kubernetes import client

        name = name or f"{prefix}-{secrets.token_hex(4)}"
        with self.api_client() as api:
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            )
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace. It stays ``Terminating``: only a controller-manager would finish it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with self.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    # -- internals

    def _require_children(self) -> _Children:
        if self._children is None:
            raise ControlPlaneError("the control plane is not running")
        return self._children

    def _require_ca(self) -> CertificateAuthority:
        if self._ca is None:
            raise ControlPlaneError("the control plane is not running")
        return self._ca

    def _write_pki(self, workdir: Path) -> None:
        pki = workdir / "pki"
        pki.mkdir(mode=0o700)
        self._ca = ca = CertificateAuthority.create()
        (pki / "ca.crt").write_bytes(ca.cert_pem)
        cert, key = ca.issue(
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=["127.0.0.1", _KUBERNETES_SERVICE_IP],
        )
        (pki / "apiserver.crt").write_bytes(cert)
        (pki / "apiserver.key").write_bytes(key)
        admin_cert, admin_key = ca.issue(
            self.ADMIN_USER, organizations=["system:masters"], client=True
        )
        (pki / "admin.crt").write_bytes(admin_cert)
        (pki / "admin.key").write_bytes(admin_key)
        sa_key = _new_key()
        (pki / "sa.key").write_bytes(_key_pem(sa_key))
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def _spawn(self, name: str, argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
        children = self._require_children()
        log = workdir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        children.procs.append(proc)
        return proc

    def _wait(
        self,
        name: str,
        proc: subprocess.Popen[bytes],
        workdir: Path,
        probe: Callable[[], str | None],
    ) -> None:
        """Poll ``probe`` (None means ready, else the latest reason) until ready, the process dies or time runs out."""
        deadline = time.monotonic() + self.start_timeout
        log = workdir / f"{name}.log"
        reason = "not probed yet"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = _log_tail(log)
                if "address already in use" in tail:
                    raise _PortTaken(name)
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode} while starting:\n{tail}"
                )
            reason_or_ready = probe()
            if reason_or_ready is None:
                return
            reason = reason_or_ready
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{name} was not ready after {self.start_timeout:.0f}s ({reason}):\n{_log_tail(log)}"
        )

    def _start_etcd(self, workdir: Path) -> None:
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        data = workdir / f"etcd-{client_port}"
        argv = [
            str(self.bin_dir / "etcd"),
            "--name=gitkube",
            f"--data-dir={data}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=gitkube={peer_url}",
            # Test data is thrown away; fsync would make every write wait for the disk.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        proc = self._spawn("etcd", argv, workdir)

        def probe() -> str | None:
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=2) as response:
                    body = json.loads(response.read())
            except (OSError, ValueError) as exc:
                return str(exc)
            return None if body.get("health") == "true" else f"health: {body}"

        self._wait("etcd", proc, workdir, probe)
        self.etcd_url = client_url

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver (SIGTERM) and start it again on the same port over the
        same etcd: clients keep their kubeconfig, watches are cut (tests of resuming)."""
        children = self._require_children()
        old = next(p for p in children.procs if "kube-apiserver" in str(p.args))
        _stop_group(old, grace=10.0)
        children.procs.remove(old)
        port = int(self.server.rsplit(":", 1)[1])
        self._start_apiserver(children.workdir, port=port)

    def _start_apiserver(self, workdir: Path, port: int | None = None) -> None:
        pki = workdir / "pki"
        port = port or free_port()
        server = f"https://127.0.0.1:{port}"
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The endpoint reconciler refuses a loopback address for the
            # `kubernetes` Service's endpoints; nothing routes to them here anyway.
            "--endpoint-reconciler-type=none",
            f"--secure-port={port}",
            f"--cert-dir={workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            # Without a controller-manager no namespace gets its `default`
            # ServiceAccount, and this admission plugin would then reject every Pod.
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
            *self.apiserver_args,
        ]
        proc = self._spawn("kube-apiserver", argv, workdir)
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

        def probe() -> str | None:
            # /readyz turns 200 only after the post-start hooks ran, the RBAC
            # bootstrap roles included: before that, RBAC tests would flake.
            try:
                with urllib.request.urlopen(
                    f"{server}/readyz", timeout=5, context=context
                ) as response:
                    return None if response.status == 200 else f"readyz {response.status}"
            except urllib.error.HTTPError as exc:
                return f"readyz {exc.code}: {exc.read().decode(errors='replace')[-300:]}"
            except OSError as exc:
                return str(exc)

        self._wait("kube-apiserver", proc, workdir, probe)
        self._server = server
        self._kubeconfig = workdir / "admin.kubeconfig"
        self._write_kubeconfig(
            self._kubeconfig,
            (pki / "admin.crt").read_bytes(),
            (pki / "admin.key").read_bytes(),
            self.ADMIN_USER,
        )

    def _write_kubeconfig(self, path: Path, cert: bytes, key: bytes, user: str) -> None:
        document = kubeconfig_document(self.server, self.ca_pem, cert, key, user)
        # Holds a private key: owner-only from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            # JSON is YAML: kubectl and the Python client read it, and it needs
            # no YAML library beyond what gitkube already depends on.
            json.dump(document, handle, indent=2)
            handle.write("\n")


# --------------------------------------------------------------------------- command line


def _cmd_build(args: argparse.Namespace) -> int:
    bin_dir = build(force=args.force)
    print(bin_dir)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    bin_dir = Path(args.bin_dir) if args.bin_dir else default_bin_dir()
    with ControlPlane(bin_dir) as cp:
        # The first line is only the path, so a script can do `read KUBECONFIG`.
        print(cp.kubeconfig, flush=True)
        print(
            f"kube-apiserver {KUBERNETES_VERSION} at {cp.server} (etcd {ETCD_VERSION}), "
            f"ready in {cp.startup_seconds:.1f}s; stop with Ctrl-C\n"
            f"  export KUBECONFIG={cp.kubeconfig}",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            if not cp.running:
                print("a control-plane process exited unexpectedly", file=sys.stderr)
                return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gitkube.testing.controlplane",
        description="Build and run a local Kubernetes control plane (etcd + kube-apiserver).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build or reuse the binaries; print the bin dir")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even if the cache works")
    build_cmd.set_defaults(func=_cmd_build)
    up_cmd = commands.add_parser(
        "up", help="start a control plane, print its kubeconfig path, run until SIGINT/SIGTERM"
    )
    up_cmd.add_argument("--bin-dir", help="use binaries from here instead of the cache")
    up_cmd.set_defaults(func=_cmd_up)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
