"""`nomadctl ui`: the cluster's web UI in the browser, through a local mutual-TLS proxy.

(cli/ui.py is the output helper; this module is the command.) The work is in
cluster/ui_proxy.py; here the options are read, the proxy started, the browser opened or
the address printed, and Ctrl-C (or SIGTERM) awaited for a clean stop.
"""

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nomadctl.cli.context import AppContext, ignored_env_note, progress_for

if TYPE_CHECKING:
    from nomadctl.cluster.ui_signin import SignInEvent


def ui(
    ctx: typer.Context,
    no_open: Annotated[
        bool,
        typer.Option(
            "--no-open", help="Print the address instead of opening a browser; keep serving."
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port of the local proxy (0: any free port)."),
    ] = 0,
    address: Annotated[
        str,
        typer.Option(help="Loopback address the proxy listens on (127.0.0.1 or ::1 only)."),
    ] = "127.0.0.1",
    management: Annotated[
        bool,
        typer.Option(
            "--management",
            help="Sign the browser in with the management token instead of the user token.",
        ),
    ] = False,
) -> None:
    """Open the cluster's web UI, signed in, through a local proxy (Ctrl-C stops it).

    The proxy listens on a loopback address of this machine and forwards to the cluster's
    servers over mutual TLS with the cli certificate, so the browser needs no certificate.
    The browser is signed in with a one-time token (Nomad's `nomad ui -authenticate`). The
    address --no-open prints is a short-lived credential (valid once, within 10 minutes):
    do not share it. Without --no-open the browser is started ($BROWSER, or the desktop's)
    on an address of the proxy that works once and passes the credential on, so no command
    line holds it. A sign-in address opened too late or a second time, or a browser token
    the cluster no longer accepts, gets a new address printed here. The UI's exec terminal
    (a WebSocket) passes through too, from the UI's own pages only. Always the workspace's
    own cluster: NOMAD_ADDR and NOMAD_TOKEN are not followed.
    """
    import webbrowser

    from nomadctl.cluster.target import workspace_target
    from nomadctl.cluster.ui_proxy import UiProxy, Upstream, loopback_address
    from nomadctl.cluster.ui_signin import SIGN_IN_PATH, SignIn, one_time_token
    from nomadctl.errors import PkiError

    app_ctx: AppContext = ctx.obj
    listen = loopback_address(address)  # a usage error before anything else
    ws = app_ctx.cluster_workspace("ui")
    ignored_env_note(app_ctx, own_cluster=True)
    kind = "management" if management else "user"
    target = workspace_target(ws, token_kind=kind)
    for path in (target.ca_file, *(target.client_cert or ())):
        if path and not Path(path).is_file():
            raise PkiError(
                f"{path} does not exist: the proxy needs the cluster's CA and the cli "
                "certificate (`nomadctl certs --force` re-issues the cli certificate)"
            )
    info = app_ctx.ui.info
    progress = progress_for(app_ctx)
    upstream = Upstream(target)
    proxy = UiProxy(upstream, listen, port, log=progress)
    proxy.signin = SignIn(
        proxy.base_url,
        lambda: _held_token(ws, kind),  # read at each sign-in: acl-bootstrap may renew it
        lambda token: one_time_token(upstream, token),
        lambda event: _signed_out(info, event),
    )
    previous = _stop_on_signals()  # before the address is out: a stop then is a clean one
    try:
        if not target.token:
            info(
                f"note: cluster {ws.cluster!r} has no {kind} token (see `nomadctl "
                "acl-bootstrap`); the UI opens signed out"
            )
        url = proxy.signin.first()
        proxy.start()
        progress(
            f"cluster {ws.cluster!r}: proxy on {proxy.base_url} to {target.describe()} "
            "(mutual TLS with the cli certificate); Ctrl-C stops it"
        )
        if no_open or not webbrowser.open(proxy.launch(url)):
            if not no_open:
                info("no browser could be opened here; open this address in yours:")
            typer.echo(url)
        else:
            info(f"opened {proxy.base_url}{SIGN_IN_PATH} with a one-time sign-in token")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    info("proxy stopped")


def _held_token(ws: Any, kind: str) -> str | None:
    from nomadctl.cluster.acl import load_token

    stored = load_token(ws, kind)
    return stored["SecretID"] if stored else None


SIGNED_OUT = {
    "expired": "the sign-in address was opened too late (a one-time token lasts 10 minutes)",
    "used": "the sign-in address was opened again (it signs in once)",
    "refused": "the cluster refused the sign-in address",
}


def _signed_out(info: Callable[[str], None], event: "SignInEvent") -> None:
    """The proxy saw a sign-in fail: say why, and give the new address on stdout (as
    --no-open gives the first: a credential, for this terminal only)."""
    if event.reason == "token-gone":
        what = f"the cluster no longer accepts the browser's token ({event.detail})"
    else:
        what = SIGNED_OUT.get(event.reason, SIGNED_OUT["refused"])
    if event.url is None:
        info(
            f"warning: {what}, and gives no new sign-in: {event.error}; "
            "then reload the page for a new sign-in address"
        )
        return
    info(f"{what}; sign in with this new address (once, within 10 minutes):")
    typer.echo(event.url)


def _stop_on_signals() -> dict[int, Any]:
    """Ctrl-C (SIGINT) and SIGTERM both raise KeyboardInterrupt, ending the serving the same
    clean way; SIGINT is set too because a shell starts a background job with it ignored.
    Returns the handlers to put back."""
    stops = (signal.SIGINT, signal.SIGTERM)
    return {sig: signal.signal(sig, signal.default_int_handler) for sig in stops}
