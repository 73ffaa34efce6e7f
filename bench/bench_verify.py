"""What verification costs per sync: the same no-op sync with and without each trust check, one run.

    .venv/bin/python bench/bench_verify.py [--apps 300] [--repeat 5]

Starts the local control plane (gitkube.testing.controlplane), generates a
repo of N apps (a Deployment and a Service each) twice: one whose source and
rendered commits are signed with a fresh SSH key, one with a fresh GPG key
(both made here with ssh-keygen and gpg). Each is synced once, then timed as a
no-op sync (nothing to apply, so the difference is the checks) with:

* no flags (the rewind rule only, which is always on);
* --verify-rendered (the rendered commit's signature);
* --verify-rendered --verify-source (and the source commit's);
* all of that and --verify-rerender (a full re-render in a child process);

and the rewind rule's git call on its own (a no-op sync, same commit, skips it).

Prints the median of ``--repeat`` runs of each, and the extra time over no flags.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

from gitkube.primitives.gitsign import is_ancestor, keyring, read_key_file, verify_commit
from gitkube.primitives.kubeapi import KubeApi
from gitkube.sync.run import SyncOptions, sync
from gitkube.sync.trust import TrustOptions
from gitkube.testing.controlplane import ControlPlane, default_bin_dir


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def ssh_key(tmp: Path) -> tuple[list[str], Path, dict[str, str]]:
    key = tmp / "ssh" / "id_ed25519"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    trusted = tmp / "ssh" / "allowed_signers"
    trusted.write_text(f"bench@example.com {key.with_suffix('.pub').read_text()}")
    return ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}"], trusted, {}


def gpg_key(tmp: Path) -> tuple[list[str], Path, dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="gkbench"))
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    gen = ["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key"]
    subprocess.run(
        [*gen, "Bench <bench@example.com>", "ed25519", "sign", "never"], check=True, env=env
    )
    listing = subprocess.run(
        ["gpg", "--with-colons", "--list-keys"], check=True, env=env, capture_output=True, text=True
    ).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    trusted = tmp / "bench.asc"
    trusted.write_bytes(
        subprocess.run(["gpg", "--armor", "--export", fpr], env=env, capture_output=True).stdout
    )
    return ["-c", "gpg.format=openpgp", "-c", f"user.signingKey={fpr}"], trusted, env


def signed_repo(root: Path, apps: int, cluster: str, sign: list[str], env: dict[str, str]) -> Path:
    repo = generate(root, apps)
    (repo / "gitkube.yaml").write_text(f"cluster: {{name: {cluster}}}\nnamespace: {cluster}\n")
    full_env = {**os.environ, **env}
    git(root.parent, "init", "-q", "-b", "main", str(repo))
    ident = ["-c", "user.email=bench@example.com", "-c", "user.name=bench", *sign]
    git(repo, *ident, "add", "-A")
    git(repo, *ident, "commit", "-q", "-S", "-m", "bench", env=full_env)
    for setting in sign[1::2]:  # render --sign signs with the repository's settings
        git(repo, "config", *setting.split("=", 1))
    subprocess.run(
        [sys.executable, "-m", "gitkube", "render", "--sign", str(repo)],
        check=True,
        capture_output=True,
        env=full_env,
    )
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, ControlPlane(default_bin_dir()) as cp:
        tmp = Path(tmp_name)
        kube = KubeApi(cp.api_client())
        print(f"{args.apps} apps, {2 * args.apps} objects, no-op syncs, median of {args.repeat}")
        for kind, make_key in (("ssh", ssh_key), ("gpg", gpg_key)):
            sign, trusted, env = make_key(tmp)
            cluster = f"bench-{kind}"
            kube.request(
                "POST",
                "/api/v1/namespaces",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster}},
            )
            repo = signed_repo(tmp / kind, args.apps, cluster, sign, env)
            base = SyncOptions(repo=str(repo), kubeconfig=str(cp.kubeconfig))
            sync(base)  # the first sync creates everything; the rest change nothing
            cases = {
                "no flags (rewind rule only)": TrustOptions(),
                "--verify-rendered": TrustOptions(rendered_keys=(str(trusted),)),
                "--verify-rendered --verify-source": TrustOptions(
                    rendered_keys=(str(trusted),), source_keys=(str(trusted),)
                ),
                "... and --verify-rerender": TrustOptions(
                    rendered_keys=(str(trusted),), source_keys=(str(trusted),), rerender=True
                ),
            }
            # Round robin, so a busy moment of the machine is shared by every case.
            runs: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.repeat):
                for name, trust in cases.items():
                    options = SyncOptions(
                        repo=str(repo), kubeconfig=str(cp.kubeconfig), trust=trust
                    )
                    started = time.perf_counter()
                    sync(options)
                    runs[name].append(time.perf_counter() - started)
            baseline = statistics.median(runs["no flags (rewind rule only)"])
            for name, seconds_list in runs.items():
                seconds = statistics.median(seconds_list)
                print(
                    f"{kind}  {name:36s} {seconds * 1000:8.0f} ms  "
                    f"(+{(seconds - baseline) * 1000:.0f} ms)"
                )
            # The rewind rule's git work when the branch moved (a no-op sync skips it).
            rendered = git(repo, "rev-parse", "refs/heads/rendered")
            ancestry = []
            for _ in range(20):
                started = time.perf_counter()
                is_ancestor(repo, rendered, rendered)
                ancestry.append(time.perf_counter() - started)
            print(
                f"{kind}  rewind rule on a moved branch (git merge-base --is-ancestor): "
                f"{statistics.median(ancestry) * 1000:.0f} ms"
            )
            # One signature check on its own: the keyring, then git verify-commit.
            keys = read_key_file(str(trusted))
            checks = []
            for _ in range(20):
                started = time.perf_counter()
                with keyring(keys) as ring:
                    assert verify_commit(repo, rendered, ring).good
                checks.append(time.perf_counter() - started)
            print(
                f"{kind}  one signature check (keyring + git verify-commit): "
                f"{statistics.median(checks) * 1000:.0f} ms"
            )
            if env:
                subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False)
                shutil.rmtree(env["GNUPGHOME"], ignore_errors=True)


if __name__ == "__main__":
    main()
