"""``gitkube secret``: SOPS files for Secrets kept in git (docs/secrets.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitkube.cli.app import app
from gitkube.cli.present import reported_errors

secret_app = typer.Typer(
    name="secret",
    help="Secrets kept in git as SOPS files encrypted to age keys (docs/secrets.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(secret_app)

RepoOption = Annotated[Path, typer.Option("--repo", "-C", help="The config repo (default: here).")]
KeyFile = Annotated[
    str | None,
    typer.Option(
        "--age-key-file",
        help="age identities to decrypt with (default: $SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY, "
        "then sops' own ~/.config/sops/age/keys.txt).",
    ),
]


@secret_app.command()
def edit(
    file: Annotated[Path, typer.Argument(help="The SOPS file (*.sops.yaml).")],
    repo: RepoOption = Path("."),
    age_key_file: KeyFile = None,
) -> None:
    """Decrypt to a private temporary file, open $EDITOR, re-encrypt, remove the file."""
    from gitkube.commands.secret import edit as edit_file

    with reported_errors():
        changed = edit_file(repo, file, age_key_file)
    typer.echo(f"{file}: {'re-encrypted' if changed else 'unchanged'}")


@secret_app.command()
def encrypt(
    file: Annotated[
        Path, typer.Argument(help="A plaintext Secret named *.sops.yaml; encrypted in place.")
    ],
    repo: RepoOption = Path("."),
) -> None:
    """Encrypt a plaintext Secret file in place to the recipients of secrets.age."""
    from gitkube.commands.secret import encrypt_file

    with reported_errors():
        encrypt_file(repo, file)
    typer.echo(f"{file}: encrypted")


@secret_app.command()
def rotate(repo: RepoOption = Path("."), age_key_file: KeyFile = None) -> None:
    """Re-encrypt every SOPS file to the current secrets.age recipients; rewrite .sops.yaml."""
    from gitkube.commands.secret import rotate as rotate_files

    with reported_errors():
        done = rotate_files(repo, age_key_file)
    typer.echo(f"re-encrypted {len(done)} SOPS file(s) to the recipients of gitkube.yaml")


@secret_app.command()
def keygen(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Append the identity to this file (mode 0600); else print it."),
    ] = None,
) -> None:
    """Make a new age identity; prints its recipient (put it in secrets.age)."""
    from gitkube.commands.secret import generate_identity
    from gitkube.commands.secret import keygen as make_key

    if out is None:
        identity, recipient = generate_identity()
        typer.echo(f"# public key: {recipient}\n{identity}")
        return
    with reported_errors():
        recipient, _ = make_key(out)
    typer.echo(recipient)
