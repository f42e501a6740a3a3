"""`nomadctl workspace export|import`: a cluster's workspace as one file sealed with a
passphrase (nomadctl.portable), to carry it to another machine or keep a copy off this one."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from nomadctl.cli.context import AppContext
from nomadctl.cli.options import JsonOutput
from nomadctl.errors import UsageError

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from this file's first line instead of asking for it "
        "(never give it on the command line).",
        show_default=False,
    ),
]


def _from_file(path: Path) -> str:
    try:
        text = path.expanduser().read_bytes().decode()
    except OSError as exc:
        raise UsageError(f"--passphrase-file: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--passphrase-file: {path} is not UTF-8 text") from None
    line = text.split("\n", 1)[0].removesuffix("\r")
    if not line:
        raise UsageError(f"--passphrase-file: the first line of {path} is empty")
    return line


def _passphrase(path: Path | None, twice: bool) -> str:
    if path is not None:
        return _from_file(path)
    if not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask for the passphrase: pass --passphrase-file (stdin is not a "
            "terminal)"
        )
    return typer.prompt("Passphrase", hide_input=True, confirmation_prompt=twice, err=True)


def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The file to write (must not exist yet).")],
    passphrase_file: PassphraseFile = None,
    json_output: JsonOutput = False,
) -> None:
    """Write the cluster's workspace into one file encrypted with a passphrase.

    The CA and every certificate and key, the gossip key, the SSH key and known_hosts, the ACL
    tokens, state.json and saved snapshots, sealed with AES-256-GCM under a key derived from
    the passphrase with scrypt. Not included: this machine's local agents (`local/`). The
    passphrase is asked twice, or read with --passphrase-file; it is never an argument.
    """
    from nomadctl import portable

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace("workspace export")
    passphrase = portable.check_passphrase(_passphrase(passphrase_file, twice=True))
    with ws.locked():
        done = portable.export_file(ws, file, passphrase)
    if json_output:
        app_ctx.ui.json(done.to_dict())
        return
    typer.echo(
        f"Cluster {done.cluster!r} exported to {done.path} ({done.files} files, "
        f"{done.size} bytes, encrypted); `nomadctl workspace import {done.path}` restores it"
    )


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `nomadctl workspace export`.")],
    passphrase_file: PassphraseFile = None,
    json_output: JsonOutput = False,
) -> None:
    """Restore a cluster's workspace from a file written by `workspace export`.

    The cluster keeps the name it was exported with (--cluster, when given, must be that
    name) and lands under --home; an existing cluster of that name is never overwritten.
    A wrong passphrase, or a file that was changed or cut short, writes nothing (exit 3).
    """
    from nomadctl import portable

    app_ctx: AppContext = ctx.obj
    passphrase = _passphrase(passphrase_file, twice=False)
    expected = app_ctx.cluster if app_ctx.named else None
    done = portable.import_file(app_ctx.home, file, passphrase, expected)
    if json_output:
        app_ctx.ui.json(done.to_dict())
        return
    typer.echo(
        f"Cluster {done.cluster!r} imported into {done.path} ({done.files} files, exported "
        f"{done.exported_at}); `nomadctl --cluster {done.cluster} status` talks to it"
    )
