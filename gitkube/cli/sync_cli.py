"""``gitkube plan``, ``sync`` and ``status``: the sync side of the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gitkube.cli.app import app
from gitkube.cli.present import (
    Format,
    emit,
    health_display,
    print_plan,
    print_statuses,
    reported_errors,
)
from gitkube.cli.trust_options import (
    AllowRewind,
    VerifyConfigMap,
    VerifyRendered,
    VerifyRerender,
    VerifySource,
    trust_options,
)

if TYPE_CHECKING:
    from gitkube.domain.targets import SyncResult
    from gitkube.sync.run import SyncOptions

Repo = Annotated[
    str,
    typer.Option(
        "--repo", "-C", help="Repository holding the rendered branch: a path or a git URL."
    ),
]
Ref = Annotated[str, typer.Option("--ref", help="The rendered commit to apply.")]
Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="kubeconfig file (default: in-cluster or ~/.kube/config)."),
]
Context = Annotated[str | None, typer.Option("--context", help="kubeconfig context.")]
GceEndpoint = Annotated[
    str | None,
    typer.Option("--gce-endpoint", help="Compute Engine API endpoint (a local one for tests)."),
]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only", help="Limit the run to targets: kubernetes, gce (repeat or comma-separate)."
    ),
]
Output = Annotated[Format, typer.Option("--output", "-o", help="text, json or yaml")]
AgeKeyFile = Annotated[
    str | None,
    typer.Option(
        "--age-key-file",
        help="age identities that decrypt SOPS Secrets (default: $SOPS_AGE_KEY_FILE, "
        "$SOPS_AGE_KEY, ~/.config/sops/age/keys.txt, then the Secret gitkube-age-key "
        "in gitkube-system).",
    ),
]


def _options(
    repo: str,
    ref: str,
    kubeconfig: str | None,
    context: str | None,
    gce_endpoint: str | None,
    only: list[str] | None,
    **flags: Any,
) -> SyncOptions:
    from gitkube.sync.run import SyncOptions

    return SyncOptions(
        repo=repo,
        ref=ref,
        kubeconfig=kubeconfig,
        context=context,
        gce_endpoint=gce_endpoint,
        only=frozenset(t.strip() for o in only for t in o.split(",") if t.strip())
        if only
        else None,
        **flags,
    )


def _report(result: SyncResult, output: Format) -> None:
    if output.structured:
        emit(output, result.as_dict())
        return
    print_plan(result)


@app.command()
def plan(
    repo: Repo = ".",
    ref: Ref = "refs/heads/rendered",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    gce_endpoint: GceEndpoint = None,
    only: Only = None,
    adopt: Annotated[
        bool, typer.Option(help="Plan to take over unowned objects in the way.")
    ] = False,
    verify_rendered: VerifyRendered = None,
    verify_source: VerifySource = None,
    verify_rerender: VerifyRerender = False,
    verify_configmap: VerifyConfigMap = None,
    allow_rewind: AllowRewind = False,
    age_key_file: AgeKeyFile = None,
    output: Output = Format.text,
) -> None:
    """Show what sync would change, per object and field. Writes nothing."""
    from gitkube.sync.run import plan as compute_plan

    trust = trust_options(
        verify_rendered, verify_source, verify_rerender, verify_configmap, allow_rewind
    )
    with reported_errors(output):
        result = compute_plan(
            _options(
                repo,
                ref,
                kubeconfig,
                context,
                gce_endpoint,
                only,
                adopt=adopt,
                trust=trust,
                age_key_file=age_key_file,
            )
        )
    _report(result, output)


@app.command()
def sync(
    repo: Repo = ".",
    ref: Ref = "refs/heads/rendered",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    gce_endpoint: GceEndpoint = None,
    only: Only = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only; the same as gitkube plan.")
    ] = False,
    adopt: Annotated[
        bool, typer.Option(help="Take over unowned objects that are in the way.")
    ] = False,
    force_conflicts: Annotated[
        bool, typer.Option(help="Take fields other managers own (server-side apply force).")
    ] = False,
    allow_replace: Annotated[
        bool, typer.Option(help="Delete and re-create objects whose immutable fields changed.")
    ] = False,
    allow_mass_prune: Annotated[
        bool,
        typer.Option(help="Allow deleting more than sync.maxPruneFraction of what gitkube owns."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="After applying, wait until every changed app is healthy (exit 3 if not).",
        ),
    ] = False,
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long --wait waits, e.g. 90s, 5m.")
    ] = "5m",
    verify_rendered: VerifyRendered = None,
    verify_source: VerifySource = None,
    verify_rerender: VerifyRerender = False,
    verify_configmap: VerifyConfigMap = None,
    allow_rewind: AllowRewind = False,
    age_key_file: AgeKeyFile = None,
    output: Output = Format.text,
) -> None:
    """Apply the rendered commit to the cluster and GCE; prune what gitkube owns and no longer wants.

    Exit codes: 0 done, 1 error, 2 refused by a safety rule (nothing changed),
    3 applied but with --wait an app is Degraded or not healthy in time.
    """
    from gitkube.sync import run as sync_command
    from gitkube.sync.agent import parse_duration

    options = _options(
        repo,
        ref,
        kubeconfig,
        context,
        gce_endpoint,
        only,
        adopt=adopt,
        force_conflicts=force_conflicts,
        allow_replace=allow_replace,
        allow_mass_prune=allow_mass_prune,
        age_key_file=age_key_file,
        trust=trust_options(
            verify_rendered, verify_source, verify_rerender, verify_configmap, allow_rewind
        ),
    )
    with reported_errors(output):
        seconds = parse_duration(timeout) if wait else None
        if dry_run:
            result = sync_command.plan(options)
        else:
            with health_display(output) as report:
                result = sync_command.sync(options, wait=seconds, report=report)
    _report(result, output)
    if result.health is not None and not result.health["healthy"]:
        if not output.structured:
            for app in result.health["apps"]:
                if app["state"] != "Healthy":
                    what = ": ".join(p for p in (app["reason"], app["message"]) if p)
                    typer.secho(
                        f"{app['app']}: {app['object']}: {app['state']}"
                        + (f": {what}" if what else ""),
                        fg=typer.colors.RED,
                        err=True,
                    )
            if result.health["timedOut"]:
                typer.secho(f"not healthy after {timeout}", fg=typer.colors.RED, err=True)
        raise typer.Exit(UNHEALTHY_EXIT_CODE)


UNHEALTHY_EXIT_CODE = 3


@app.command()
def status(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: Output = Format.text,
) -> None:
    """Show what each gitkube ApplySet in the cluster last synced, and how it went."""
    from gitkube.sync.status import read_status

    with reported_errors(output):
        statuses = read_status(kubeconfig, context)
    if output.structured:
        emit(output, [s.as_dict() for s in statuses])
        return
    print_statuses(statuses)


@app.command()
def agent(
    repo: Repo = ".",
    ref: Ref = "refs/heads/rendered",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    gce_endpoint: GceEndpoint = None,
    interval: Annotated[
        str, typer.Option(help="Re-sync at least this often, to heal drift.")
    ] = "5m",
    poll: Annotated[str, typer.Option(help="Fetch the rendered branch this often.")] = "30s",
    lease: Annotated[
        str, typer.Option(help="Name of the Lease in gitkube-system.")
    ] = "gitkube-agent",
    lease_duration: Annotated[str, typer.Option(help="How long a lease lasts unrenewed.")] = "30s",
    listen: Annotated[
        str, typer.Option(help="HOST:PORT for /metrics and /healthz.")
    ] = "127.0.0.1:9090",
    identity: Annotated[str, typer.Option(help="This agent's name in the Lease.")] = "",
    watch: Annotated[
        bool, typer.Option(help="Watch the managed kinds after the first run (drift in seconds).")
    ] = True,
    webhook_secret_file: Annotated[
        str | None,
        typer.Option(help="Secret shared with the forge; enables POST /hooks/git."),
    ] = None,
    shards: Annotated[
        int, typer.Option(help="Run as one of N agents, each owning the apps that hash to it.")
    ] = 1,
    shard: Annotated[
        int | None,
        typer.Option(help="This agent's shard (default: the StatefulSet ordinal in the hostname)."),
    ] = None,
    allow_mass_prune: Annotated[bool, typer.Option(help="See gitkube sync.")] = False,
    verify_rendered: VerifyRendered = None,
    verify_source: VerifySource = None,
    verify_rerender: VerifyRerender = False,
    verify_configmap: VerifyConfigMap = None,
    age_key_file: AgeKeyFile = None,
) -> None:
    """Fetch the rendered branch, sync when it moves and every interval; one agent at a time."""
    import logging
    import signal
    import socket

    from gitkube.primitives.errors import GitkubeError
    from gitkube.sync.agent import Agent, AgentOptions, parse_duration
    from gitkube.sync.shard import Shard, ordinal_from_hostname

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with reported_errors():
        # One agent is shard 0 of 1: scaling down to it adopts the other shards' apps.
        index = shard
        if index is None:
            index = 0 if shards == 1 else ordinal_from_hostname(socket.gethostname())
        if index is None:
            raise GitkubeError(
                f"--shards {shards}: give --shard, or run in a StatefulSet (hostname "
                f"{socket.gethostname()} ends in no ordinal)"
            )
        placed = Shard(index, shards)
        options = AgentOptions(
            sync=_options(
                repo,
                ref,
                kubeconfig,
                context,
                gce_endpoint,
                None,
                allow_mass_prune=allow_mass_prune,
                age_key_file=age_key_file,
                # The agent never rewinds on its own: no --allow-rewind here.
                trust=trust_options(
                    verify_rendered, verify_source, verify_rerender, verify_configmap
                ),
            ),
            interval=parse_duration(interval),
            poll=parse_duration(poll),
            lease_name=lease,
            lease_duration=parse_duration(lease_duration),
            listen=listen,
            identity=identity,
            watch=watch,
            webhook_secret_file=webhook_secret_file,
            shard=placed,
        )
        runner = Agent(options)
        host, port = runner.serve()
        typer.echo(
            f"gitkube agent {runner.identity} serving /metrics and /healthz on {host}:{port}",
            err=True,
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.stop.set())
        runner.run()
