"""Command definitions. Each one parses, calls :mod:`gitkube.commands`, and reports."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gitkube import __version__
from gitkube.cli.present import (
    Format,
    cluster_markdown,
    color_disabled,
    emit,
    print_cluster_diff,
    print_diff,
    print_plugins,
    print_render_summary,
    print_versions,
    reported_errors,
    settings,
    to_markdown,
    warn,
)

EXIT_CODES = (
    "Exit codes: 0 done; 1 an error (one line on stderr naming the file, nothing written); "
    "2 refused by a safety rule (nothing changed) or a usage error; "
    "3 diff --fail-on found a risk, or sync --wait saw an app not become healthy."
)

app = typer.Typer(
    name="gitkube",
    help="Render a Git repo of Kubernetes apps, review the plan, sync it (with its GCE networking).",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

OutputOption = Annotated[Format, typer.Option("--output", "-o", help="text, json or yaml")]
RepoArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="[REPO]",
        help="The config repo (default: here); the same as -C.",
        show_default=False,
    ),
]
RepoOption = Annotated[
    Path | None,
    typer.Option("--repo", "-C", help="The config repo (default: here).", show_default=False),
]


def _repo(positional: Path | None, option: Path | None) -> Path:
    """``-C/--repo``, or the positional form kept for compatibility, or here."""
    if positional is not None and option is not None and positional != option:
        raise typer.BadParameter(
            f"two repos given: {positional} and {option}", param_hint="-C/--repo"
        )
    return option or positional or Path(".")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gitkube {__version__}")
        raise typer.Exit()


def handed_in_plugins(ctx: typer.Context) -> tuple[tuple[str, object], ...]:
    """Plugins the caller handed to this invocation as ``obj`` (``name, plugin``
    pairs; the test kit's ``cli`` does, as ``CliRunner.invoke(..., obj=...)``)."""
    return tuple(ctx.find_root().obj or ())


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an error, print the traceback too (plugin authors). Also GITKUBE_DEBUG=1.",
        ),
    ] = False,
) -> None:
    """gitkube: GitOps for Kubernetes and Google Compute Engine."""
    settings.debug = debug
    if color_disabled():
        ctx.color = False  # inherited by every subcommand's context


@app.command()
def render(
    ctx: typer.Context,
    repo_argument: RepoArgument = None,
    apps: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[APP]...",
            help="With --out: write only these apps (all are still checked). "
            "With -C, every argument is an app.",
        ),
    ] = None,
    repo_option: RepoOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Render the work tree into this directory instead."),
    ] = None,
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref",
            help="The commit to render onto the branch (default: HEAD, when it is the tip "
            "of render.sourceBranch; elsewhere nothing is rendered).",
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="The rendered branch (default: gitkube.yaml render.branch)."),
    ] = None,
    push: Annotated[
        str | None, typer.Option("--push", metavar="REMOTE", help="Push the branch to REMOTE.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Render the staged files and write nothing (pre-commit)."),
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Ignore and skip the render cache.")
    ] = False,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign", help="Sign the rendered commit (git's user.signingKey; render.sign)."
        ),
    ] = False,
    output: OutputOption = Format.text,
) -> None:
    """Render a commit onto the rendered branch (or --out DIR, or --check the index)."""
    from gitkube.render.branch import source_branch_skip, uncommitted_note
    from gitkube.render.clusters import (
        check_index_clusters,
        render_clusters_to_branch,
        render_clusters_to_directory,
    )

    if repo_option is not None and repo_argument is not None:
        apps = [str(repo_argument), *(apps or [])]  # with -C, positionals are apps
        repo_argument = None
    repo = _repo(repo_argument, repo_option)
    with reported_errors(output):
        if sum((out is not None, check)) > 1:
            raise typer.BadParameter("--out and --check do not go together", param_hint="--check")
        if (out is not None or check) and (ref is not None or branch or push or sign):
            raise typer.BadParameter(
                "--ref, --branch, --push and --sign are for rendering onto the branch",
                param_hint="--out/--check",
            )
        if apps and out is None:
            raise typer.BadParameter("naming apps needs --out DIR", param_hint="APPS")
        if out is not None:
            summaries = render_clusters_to_directory(
                repo, out, apps, plugins=handed_in_plugins(ctx)
            )
        elif check:
            summaries = check_index_clusters(
                repo, use_cache=not no_cache, plugins=handed_in_plugins(ctx)
            )
        else:
            skipped = source_branch_skip(repo) if ref is None else None
            if skipped is not None:
                # Exit 0: the post-commit hook runs on every branch and must not fail.
                if output.structured:
                    emit(output, {"rendered": False, "reason": skipped})
                else:
                    typer.echo(skipped)
                return
            left_out = uncommitted_note(repo) if ref is None else None
            if left_out is not None:
                warn(left_out)
            summaries = render_clusters_to_branch(
                repo,
                ref=ref or "HEAD",
                branch=branch,
                push=push,
                use_cache=not no_cache,
                progress=_progress(),
                plugins=handed_in_plugins(ctx),
                sign=sign,
            )
    for problem in (p for summary in summaries for p in summary.warnings):
        warn(str(problem))
    if output.structured:  # one cluster: as before; clusters: one entry each
        many = len(summaries) > 1 or summaries[0].cluster
        emit(
            output,
            {"clusters": [s.as_dict() for s in summaries]} if many else summaries[0].as_dict(),
        )
    else:
        mode = "check" if check else "out" if out is not None else "branch"
        for summary in summaries:
            print_render_summary(summary, mode=mode, push=push)


@app.command()
def plugins(
    ctx: typer.Context,
    repo_argument: RepoArgument = None,
    repo_option: RepoOption = None,
    required: Annotated[
        bool,
        typer.Option(
            "--required",
            help="Print plugins.require of gitkube.yaml, one requirement a line "
            "(for pip install -r).",
        ),
    ] = False,
    output: OutputOption = Format.text,
) -> None:
    """List plugins in call order with versions, hooks and the app.yaml keys they own."""
    from gitkube.commands.plugins import list_plugins, required_plugins

    repo = _repo(repo_argument, repo_option)
    if required:
        with reported_errors(output):
            lines = required_plugins(repo)
        if output.structured:
            emit(output, lines)
        else:
            typer.echo("".join(f"{line}\n" for line in lines), nl=False)
        return
    with reported_errors(output):
        infos = list_plugins(repo, plugins=handed_in_plugins(ctx))
    if output.structured:
        emit(
            output,
            [
                {
                    "name": i.name,
                    "version": i.version,
                    "builtin": i.builtin,
                    "hooks": list(i.hooks),
                    "appKeys": list(i.app_keys),
                    "schemas": dict(i.schemas),
                }
                for i in infos
            ],
        )
        return
    print_plugins(infos)


@app.command()
def version(output: OutputOption = Format.text) -> None:
    """Show gitkube's version, Python's, and every installed plugin's."""
    from gitkube.commands.plugins import versions

    with reported_errors(output):
        info = versions()
    if output.structured:
        emit(output, info)
        return
    print_versions(info)


@app.command()
def explain(
    key: Annotated[
        str,
        typer.Argument(
            help="A key of gitkube.yaml or app.yaml: disks, disks.sizeGb, cluster.zone, "
            "plugins.options.NAME."
        ),
    ],
    output: OutputOption = Format.text,
) -> None:
    """Explain a gitkube.yaml or app.yaml key: type, default, owner, description, examples."""
    from gitkube.commands.reference import explain_text, find_entry

    with reported_errors(output):
        entry = find_entry(key)
    if output.structured:
        emit(
            output,
            {
                "file": entry.file,
                "key": entry.path,
                "owner": entry.owner,
                "required": entry.required,
                "schema": entry.schema,
            },
        )
        return
    typer.echo(explain_text(key), nl=False)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the config repo.")],
    age_key_file: Annotated[
        Path | None,
        typer.Option(
            "--age-key-file",
            help="Append a new age identity here and encrypt the example secrets to it "
            "(default: $SOPS_AGE_KEY_FILE or sops' ~/.config/sops/age/keys.txt).",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Create a new config repo from the bundled example."""
    from gitkube.commands.init import init_repo
    from gitkube.primitives.sops import default_key_file

    with reported_errors(output):
        files = init_repo(directory, age_key_file or default_key_file())
    if output.structured:
        emit(output, {"directory": str(directory), "files": files})
    else:
        typer.echo(f"created {directory} with {len(files)} files; next: cd {directory} && git init")


@app.command()
def promote(
    app_path: Annotated[
        str, typer.Argument(metavar="APP", help="The app (its path: web/frontend).")
    ],
    source: Annotated[str, typer.Option("--from", help="The cluster whose values to copy.")],
    target: Annotated[str, typer.Option("--to", help="The cluster to copy them to.")],
    repo: RepoOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Copy an app's per-cluster values (image tags, overrides) from one cluster to another.

    Edits <app>/clusters/<to>/app.yaml in the work tree, keeping its comments,
    key order and quoting; review the change and commit it.
    """
    from gitkube.cli.present import print_promotion
    from gitkube.commands.promote import promote as promote_app

    with reported_errors(output):
        done = promote_app(repo or Path("."), app_path, source, target)
    if output.structured:
        emit(output, done.as_dict())
    else:
        print_promotion(done)


def _progress() -> Callable[[str], None] | None:
    """Progress notes on stderr when it is a terminal; silence otherwise."""
    if not sys.stderr.isatty():
        return None
    return lambda text: typer.secho(f"{text}...", err=True, dim=True)


class DiffFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    yaml = "yaml"


class FailOn(StrEnum):
    risk = "risk"
    high = "high"


RISK_EXIT_CODE = 3  # `diff --fail-on`: the change carries a risk


@app.command()
def diff(
    base: Annotated[
        str | None,
        typer.Argument(help="The ref to compare from (default: render.sourceBranch, e.g. main)."),
    ] = None,
    head: Annotated[
        str | None,
        typer.Argument(
            help="The ref to compare to (default: the work tree, uncommitted edits included)."
        ),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", "-C", help="The config repo.")] = Path("."),
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="Rendered branch to read renders from (default: config)."),
    ] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with 1 when anything differs.")
    ] = False,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            help="Exit with 3 when the change has a risk (`risk`) or a high risk (`high`), "
            "after printing the report: for CI.",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Ignore and skip the render cache.")
    ] = False,
    output: Annotated[
        DiffFormat,
        typer.Option("--output", "-o", help="text, markdown (a PR comment), json or yaml"),
    ] = DiffFormat.text,
) -> None:
    """Show what changes in the rendered objects between two refs, per app."""
    from gitkube.render.cluster_diff import ClusterDiffReport, diff_any

    with reported_errors(output):
        report = diff_any(
            repo, base, head, branch=branch, use_cache=not no_cache, progress=_progress()
        )
    if output in (DiffFormat.json, DiffFormat.yaml):
        emit(output.value, report.as_dict())
    elif isinstance(report, ClusterDiffReport):  # clusters: one section per cluster
        if output is DiffFormat.markdown:
            typer.echo(cluster_markdown(report), nl=False)
        else:
            print_cluster_diff(report)
    elif output is DiffFormat.markdown:
        typer.echo(to_markdown(report), nl=False)
    else:
        print_diff(report)
    if fail_on is not None and any(
        fail_on is FailOn.risk or risk.severity == "high" for risk in report.risks
    ):
        raise typer.Exit(RISK_EXIT_CODE)
    if exit_code and report.changes:
        raise typer.Exit(1)


def main() -> None:
    app()
