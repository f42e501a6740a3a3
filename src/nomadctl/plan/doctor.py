"""`nomadctl doctor`: what this machine has for each kind of cluster, as findings (ok,
warning, problem, each with its fix). Facts only; cli/doctor.py words and prints them.

Checked, without contacting anything but the current cluster (when it has servers): Python,
the nomadctl home, the Nomad binary `up --local` would run (and why a `nomad` on PATH is
passed over), gpg for a download, Docker and root (the local clients' drivers), loopback
addresses, the API port on 127.0.0.1, AWS region and credentials, an SSH key, and the clock
against the cluster's (the HTTP Date of one server's answer).
"""

from __future__ import annotations

import email.utils
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nomadctl.errors import NomadctlError, scrub_unknown
from nomadctl.node import releases
from nomadctl.providers.aws.session import NO_CREDENTIALS, Aws  # boto3 only when Aws() is made
from nomadctl.providers.local.net import docker_answers, loopback_routable
from nomadctl.workspace import Workspace

OK, WARNING, PROBLEM = "ok", "warning", "problem"
SKEW_WARN = 5.0  # seconds between this machine's clock and the cluster's


@dataclass(frozen=True)
class Finding:
    check: str
    level: str  # ok | warning | problem
    detail: str
    fix: str = ""
    applies: str = "all"  # which clusters it matters for: all | local | hosts | aws

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def python() -> Finding:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro}"
    if v < (3, 11):
        return Finding("python", PROBLEM, text, "use Python 3.11 or newer")
    return Finding("python", OK, text)


def home(path: Path) -> Finding:
    path = Path(path).expanduser()
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(probe, os.W_OK | os.X_OK):
        return Finding("home", PROBLEM, f"{probe} is not writable", "pick another with --home")
    if path.exists() and path.stat().st_mode & 0o077:
        mode = path.stat().st_mode & 0o777
        return Finding("home", WARNING, f"{path} has mode {mode:04o}", f"chmod 700 {path}")
    return Finding("home", OK, f"{path}" + ("" if path.exists() else " (made by the first up)"))


def binary(home_dir: Path, version: str, running: Path | None = None) -> list[Finding]:
    """The binary `up --local` would run: `running`, the one the current cluster's agents
    were started with (a re-run keeps it), else what `releases.choose` finds."""
    try:
        choice = releases.choose(home_dir, version, running)
    except NomadctlError as exc:
        return [Finding("nomad binary", PROBLEM, exc.message, "", "local")]
    if running is not None:
        said = f"Nomad {choice.version} " if choice.version else ""
        what = f"{said}that the cluster's agents run ({running}); `up --local` keeps it"
        return [Finding("nomad binary", OK, what, "", "local")]
    out = [
        Finding(
            "nomad binary",
            WARNING,
            f"`nomad` on PATH: {p.split('passed over: ', 1)[-1]}",
            "a Nomad 1.8+ build for this machine on PATH, or none",
            "local",
        )
        for p in choice.passed_over
        if p.startswith("`nomad` on PATH")
    ]
    if choice.source != "download":
        return [*out, Finding("nomad binary", OK, choice.describe(), "", "local")]
    fix = (
        f"`up --local` downloads Nomad {version} once (releases.hashicorp.com) into "
        f"{choice.path.parent}; offline, pass a `nomad` for this machine as --nomad-binary PATH"
    )
    out.append(Finding("nomad binary", WARNING, "none at hand yet", fix, "local"))
    if shutil.which("gpg") is None:
        out.append(
            Finding(
                "gpg",
                PROBLEM,
                "gpg is missing: a download cannot be verified",
                "install gnupg, or give --nomad-binary",
                "local",
            )
        )
    return out


def drivers() -> list[Finding]:
    out = [
        Finding("docker", OK, "a Docker daemon answers", applies="local")
        if docker_answers()
        else Finding(
            "docker",
            WARNING,
            "no Docker daemon answers: docker jobs will not run",
            "start Docker (or run exec jobs as root)",
            "local",
        )
    ]
    if sys.platform.startswith("linux") and os.geteuid() != 0:
        out.append(
            Finding(
                "root",
                WARNING,
                "not root: local clients offer no exec driver",
                "run as root for exec jobs",
                "local",
            )
        )
    else:
        out.append(Finding("root", OK, "root: local clients offer exec", applies="local"))
    return out


def loopback() -> list[Finding]:
    out = [
        Finding("loopback", OK, "127.0.0.0/8 is routable: one address per agent", applies="local")
        if loopback_routable()
        else Finding(
            "loopback", WARNING, "only 127.0.0.1: each agent gets its own ports", applies="local"
        )
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", 4646))
            out.append(Finding("port 4646", OK, "free on 127.0.0.1", applies="local"))
        except OSError:
            out.append(
                Finding(
                    "port 4646",
                    WARNING,
                    "taken on 127.0.0.1 (another Nomad?)",
                    "nomadctl picks other addresses or ports",
                    "local",
                )
            )
    return out


# What tells boto3 where credentials or a region come from; with none of them (and no
# ~/.aws files), asking boto3 would only import it (~0.3 s) to say there are none.
AWS_HINTS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
NO_AWS = "no AWS credentials or configuration here (no AWS_* variables, no ~/.aws/config)"


def aws_set_up(ws: Workspace | None = None) -> bool:
    """Is AWS asked about: an AWS variable, an AWS config or credentials file, or a current
    cluster on AWS? (An EC2 instance role alone is not probed: it needs a region anyway.)"""
    if any(os.environ.get(name) for name in AWS_HINTS):
        return True
    files = (
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    )
    if any(Path(f).expanduser().is_file() for f in files):
        return True
    try:
        return (
            ws is not None and ws.state_path.is_file() and ws.load_state().get("provider") == "aws"
        )
    except (NomadctlError, OSError, ValueError):
        return False


def aws(profile: str | None = None, ws: Workspace | None = None) -> Finding:
    if not aws_set_up(ws):
        return Finding("aws", WARNING, NO_AWS, "only for clusters on AWS: `aws configure`", "aws")
    try:
        session = Aws(None, profile)
    except NomadctlError as exc:
        return Finding("aws", WARNING, exc.message, "only for clusters on AWS", "aws")
    if session.session.get_credentials() is None:
        return Finding("aws", WARNING, NO_CREDENTIALS, "only for clusters on AWS", "aws")
    return Finding("aws", OK, f"credentials and region {session.region}", applies="aws")


def ssh_key() -> Finding:
    keys = [Path.home() / ".ssh" / n for n in ("id_ed25519", "id_ecdsa", "id_rsa")]
    found = [k for k in keys if k.is_file()]
    if found:
        return Finding("ssh key", OK, str(found[0]), applies="hosts")
    return Finding(
        "ssh key",
        WARNING,
        "no ~/.ssh/id_ed25519, id_ecdsa or id_rsa",
        "pass --ssh-key for hosts you already have",
        "hosts",
    )


def clock(ws: Workspace, now: Callable[[], float] = time.time) -> Finding | None:
    """This machine's clock against one of the cluster's servers (None: no cluster here)."""
    if not ws.state_path.is_file():
        return None
    import http.client
    import ssl
    from urllib.parse import urlsplit

    from nomadctl.cluster.target import workspace_target

    try:  # the standard library's client: requests would cost ~0.1 s of imports for one GET
        target = workspace_target(ws, token_kind=None)
        url = urlsplit(target.addresses[0])
        tls = ssl.create_default_context(cafile=target.ca_file)
        tls.load_cert_chain(*target.client_cert)
        conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=tls, timeout=2)
        try:
            before = now()
            conn.request("GET", "/v1/status/leader")
            date = conn.getresponse().getheader("Date")
            after = now()
        finally:
            conn.close()
    except (NomadctlError, OSError, http.client.HTTPException) as exc:
        what = exc.message if isinstance(exc, NomadctlError) else type(exc).__name__
        return Finding("clock", WARNING, f"cluster {ws.cluster!r} did not answer ({what})")
    if not date:
        return Finding("clock", WARNING, f"cluster {ws.cluster!r} sent no Date header")
    theirs = email.utils.parsedate_to_datetime(date).timestamp()
    skew = theirs - (before + after) / 2
    text = f"{abs(skew):.0f}s {'behind' if skew > 0 else 'ahead of'} cluster {ws.cluster!r}"
    if abs(skew) > SKEW_WARN:
        return Finding("clock", WARNING, text, "sync this machine's clock (NTP)")
    return Finding("clock", OK, f"within {SKEW_WARN:.0f}s of cluster {ws.cluster!r}")


def _running(ws: Workspace) -> Path | None:
    from nomadctl.providers.local.provider import recorded_binary

    return recorded_binary(ws)


PROBE_SECONDS = 4.0  # each slow probe's bound: a hung daemon, binary or server is a warning


def examine(ws: Workspace, version: str, bound: float = PROBE_SECONDS) -> list[Finding]:
    """Every check, in the order a user would fix them; the slow ones (AWS's libraries, the
    cluster's answer, the binary's `version`, Docker's socket) side by side, each given at
    most `bound` seconds: one that has not finished by then is reported as a warning and
    left behind (a daemon thread; the process does not wait for it)."""
    import threading

    probes: dict[str, tuple[str, Callable[[], list[Finding]]]] = {
        "aws": ("aws", lambda: [aws(None, ws)]),
        "clock": ("all", lambda: [f for f in (clock(ws),) if f is not None]),
        "nomad binary": ("local", lambda: binary(ws.home, version, _running(ws))),
        "docker": ("local", drivers),
    }
    results: dict[str, list[Finding]] = {}

    def run(name: str, probe: Callable[[], list[Finding]]) -> None:
        try:
            results[name] = probe()
        except Exception as exc:  # a check that breaks is a finding, not a wait or a crash
            said = scrub_unknown(" ".join(str(exc).split()))[:160]
            what = f"the check failed: {type(exc).__name__}: {said}"
            results[name] = [Finding(name, WARNING, what, "", probes[name][0])]

    threads = {
        name: threading.Thread(target=run, args=(name, probe), daemon=True, name=f"doctor-{name}")
        for name, (_, probe) in probes.items()
    }
    for t in threads.values():
        t.start()
    found = [python(), home(ws.home)]  # quick ones while the probes run
    local = [*loopback()]
    keys = ssh_key()
    deadline = time.monotonic() + bound
    for name, t in threads.items():
        t.join(max(0.0, deadline - time.monotonic()))
        if name not in results:
            what = f"no answer within {bound:g}s"
            results[name] = [Finding(name, WARNING, what, "run doctor again", probes[name][0])]
    found += [*results["nomad binary"], *results["docker"], *local, *results["aws"], keys]
    return found + results["clock"]
