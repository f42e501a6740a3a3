"""Configure one node over one SSH connection: check, then upload and restart only what changed.

A node costs two round trips on a first run (check, apply) and one on a re-run that finds
everything in place (check). The apply step is a single `sudo sh -c` whose stdin is a tar of
the changed files with their modes, so secrets never appear in a command line, and the agent
is restarted only when one of its files changed, and only reloaded (SIGHUP) when every changed
file is a TLS file.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host
from nomadctl.node import privilege, render

if TYPE_CHECKING:  # paramiko only where SSH is used: the local provider never imports it
    from nomadctl.node.ssh import Counters, Session

SUPPORTED_OS = ("ubuntu", "debian")


@dataclass(frozen=True)
class RemoteFile:
    path: str
    content: bytes
    mode: int
    owner: str = privilege.ROOT  # "user:group" as `stat -c %U:%G` prints it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class NodeTls:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass
class HostResult:
    host: Host
    status: str  # configured | unchanged | failed
    changed: list[str] = field(default_factory=list)
    restarted: bool = False
    reloaded: bool = False  # SIGHUP only: every changed file was a TLS file
    error: str | None = None
    counters: Counters | None = None
    pending: bool = False  # files written, the running agent still to restart (a roll)


def node_files(
    facts: render.ClusterFacts,
    host: Host,
    tls: NodeTls,
    binary: bytes | None = None,
    license_text: bytes | None = None,
    bootstrap_expect: int | None = None,
) -> list[RemoteFile]:
    """Every file nomadctl owns on `host`, with its content and mode.

    `bootstrap_expect`: the server count the cluster was bootstrapped with (default: the
    servers in `facts`); it is only read before the first raft configuration exists."""
    config = render.agent_config(facts, host, join=False)
    secret = privilege.secret_access(host.role)  # the agent reads it: 0640 root:nomad on servers
    unit = render.systemd_unit(facts, privilege.unit_user(host.role))
    join = render.join_config(facts, host, bootstrap_expect)
    files = [
        RemoteFile(f"{render.CONFIG_DIR}/nomad.hcl", config.encode(), *secret),
        RemoteFile(f"{render.TLS_DIR}/ca.pem", tls.ca_pem, 0o644),
        RemoteFile(f"{render.TLS_DIR}/node.pem", tls.cert_pem, 0o644),
        RemoteFile(f"{render.TLS_DIR}/node-key.pem", tls.key_pem, *secret),
        RemoteFile(render.UNIT_PATH, unit.encode(), 0o644),
        RemoteFile(render.JOIN_PATH, join.encode(), *secret),
    ]
    if facts.install_method == "binary":
        if binary is None:
            raise ValueError("install method 'binary' needs the binary's bytes")
        files.append(RemoteFile(render.LOCAL_BINARY, binary, 0o755))
    if facts.edition == "enterprise" and host.role == "server":
        # Only servers read a licence (server.license_path); clients need none.
        if license_text is None:
            raise ValueError("the enterprise edition needs a licence")
        files.append(RemoteFile(render.LICENSE_PATH, license_text, *secret))
    return files


# Directories nomadctl owns: their owners and modes per role are privilege.wanted_dirs's
# (HashiCorp's package chowns /etc/nomad.d to nomad; nomadctl puts them back).
OWNED_DIRS = (render.CONFIG_DIR, render.TLS_DIR, privilege.OPT_DIR, render.DATA_DIR)
ROOT = privilege.ROOT
# Files read only when an agent starts: written without restarting a running agent.
START_ONLY = (render.JOIN_PATH,)
# Written when files changed under a running agent whose restart is left to the roll, removed
# by the restart: a roll that stopped half-way is continued by the next `up`.
PENDING = "/opt/nomad/nomadctl-restart-pending"


def check_script(facts: render.ClusterFacts, paths: Sequence[str]) -> str:
    """What the node has: OS, systemd, each file's mode, owner and checksum, the owned
    directories' mode and owner, the installed version, docker and the agent's state."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    dirs = " ".join(shlex.quote(d) for d in OWNED_DIRS)
    # An uploaded binary is one of `paths`, compared by checksum: no need to run it.
    version = (
        'echo "version"'
        if facts.install_method == "binary"
        else f'echo "version $({facts.binary_path} version 2>/dev/null | head -n1)"'
    )
    return f"""\
. /etc/os-release 2>/dev/null || true
echo "os ${{ID:-unknown}} ${{ID_LIKE:-}}"
echo "arch $(uname -m)"
command -v systemctl >/dev/null && echo "systemd yes" || echo "systemd no"
for f in {quoted}; do
  [ -f "$f" ] && echo "file $(stat -c '%a %U:%G' "$f") $(sha256sum "$f" | cut -d' ' -f1) $f"
done
for d in {dirs}; do
  [ -d "$d" ] && echo "dir $(stat -c '%a %U:%G' "$d") $d"
done
{version}
command -v docker >/dev/null && echo "docker yes" || echo "docker no"
echo "active $(systemctl is-active nomad 2>/dev/null)"
[ -e {PENDING} ] && echo "pending yes"
exit 0
"""


@dataclass(frozen=True)
class Observed:
    os_id: str
    os_like: str
    systemd: bool
    files: dict[str, tuple[int, str, str]]  # path -> (mode, "user:group", sha256)
    version: str
    active: bool
    docker: bool
    dirs: dict[str, tuple[int, str]] = field(default_factory=dict)  # path -> (mode, owner)
    pending: bool = False  # a restart left over from a roll that stopped
    arch: str = ""  # uname -m

    def dirs_ok(self, role: str = "client") -> bool:
        """The owned directories that exist have the role's modes and owners (clients: 0700,
        root's; servers: privilege.wanted_dirs)."""
        wanted = privilege.wanted_dirs(role)
        return all(wanted.get(path) == seen for path, seen in self.dirs.items())


def parse_check(output: str) -> Observed:
    os_id, os_like, systemd, version, active, docker = "unknown", "", False, "", False, False
    pending, arch = False, ""
    files: dict[str, tuple[int, str, str]] = {}
    dirs: dict[str, tuple[int, str]] = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "os":
            os_id, _, os_like = rest.partition(" ")
        elif word == "systemd":
            systemd = rest.strip() == "yes"
        elif word == "file":
            mode, owner, sha, path = rest.split(" ", 3)
            files[path] = (int(mode, 8), owner, sha)
        elif word == "dir":
            mode, owner, path = rest.split(" ", 2)
            dirs[path] = (int(mode, 8), owner)
        elif word == "version":
            version = rest.strip()
        elif word == "active":
            active = rest.strip() == "active"
        elif word == "docker":
            docker = rest.strip() == "yes"
        elif word == "pending":
            pending = rest.strip() == "yes"
        elif word == "arch":
            arch = rest.strip()
    return Observed(
        os_id, os_like.strip(), systemd, files, version, active, docker, dirs, pending, arch
    )


def wanted_version(facts: render.ClusterFacts) -> str:
    return f"Nomad v{render.package_version(facts)}"


def changed_files(files: Sequence[RemoteFile], seen: Observed) -> list[RemoteFile]:
    """Files whose content, mode or owner differ from what nomadctl writes."""
    return [f for f in files if seen.files.get(f.path) != (f.mode, f.owner, f.sha256)]


def tar_of(files: Sequence[RemoteFile]) -> bytes:
    """A tar of `files` at their absolute paths (minus the leading /), root-owned, with modes
    (a server's secret files get their group afterwards: privilege.dir_script)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in files:
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(f.content), f.mode, 0, 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(f.content))
    return buf.getvalue()


TLS_FILES = frozenset(f"{render.TLS_DIR}/{name}" for name in ("ca.pem", "node.pem", "node-key.pem"))

# Nomad re-reads its CA, certificate and key on SIGHUP, for RPC and HTTP, without a restart:
# command/agent/command.go handleReload -> Agent.ShouldReload (TLS changed when the files'
# checksum differs, nomad/structs/config/tls.go CertificateInfoIsEqual) -> Agent.Reload (the
# keyloader loads the new pair), Server.Reload -> reloadTLSConnections
# (tlsutil.NewTLSConfiguration from the new files, nomad/server.go), client.Reload and
# reloadHTTPServer (hashicorp/nomad aa026cc99cfb74a77e519a1c1f0c78ba1b452705).
RELOAD = """\
before=$(systemctl show --property=MainPID --value nomad)
systemctl reload nomad
after=$(systemctl show --property=MainPID --value nomad)
if [ "$before" != "$after" ]; then
  echo "the agent restarted instead of reloading (PID $before -> $after)" >&2; exit 1
fi"""


def reload_only(todo: Sequence[RemoteFile], needs_install: bool, active: bool) -> bool:
    """True when a running agent only needs SIGHUP: every changed file is a TLS file (or a
    START_ONLY one, read at the next start anyway)."""
    files = [f for f in todo if f.path not in START_ONLY]
    return active and bool(files) and not needs_install and all(f.path in TLS_FILES for f in files)


def apply_script(
    install: str,
    restart: bool,
    upload: bool,
    *,
    unit_changed: bool = True,
    active: bool = False,
    reload: bool = False,
    defer: bool = False,
    server: bool = False,
) -> str:
    """The one command that installs, unpacks the tar on stdin and (re)starts the agent.

    systemd is asked only what the change needs: `daemon-reload` when the unit file (or an
    installer) changed, `enable --now` for an agent that is not running, `restart` for one
    that runs with old files, `reload` (ExecReload sends SIGHUP; the PID must not change)
    for one whose only new files are its TLS files, nothing for one that keeps its files.
    `defer`: a running agent that needs a restart is left running and marked (PENDING) for
    the roll. `server`: the agent runs as `nomad` (node/privilege.py): the user is made if
    missing, and its data dir handed over while the agent is stopped."""
    lines = ["set -eu", "umask 077"]
    if install.strip():
        # The installer must not read the tar waiting on stdin.
        lines.append(f"( {install.rstrip()}\n) </dev/null")
    # Root's alone, whatever an installer did (HashiCorp's postinst: chown -R nomad:nomad
    # /etc/nomad.d, chown nomad:nomad /opt/nomad/data).
    role = "server" if server else "client"
    if server:
        lines.append(privilege.ENSURE_USER)
    dirs = " ".join(privilege.SHARED_DIRS)
    lines.append(f"install -d -m 0700 -o root -g root {dirs}")
    lines.append(f"chown -R root:root {render.CONFIG_DIR}")
    if upload:
        lines.append("tar -x -p --same-owner --no-overwrite-dir -C / -f -")
    lines += privilege.dir_script(role)
    if unit_changed or install.strip():
        lines.append("systemctl daemon-reload")
    if not active:
        lines += [privilege.MIGRATE] if server else []
        lines.append("systemctl --quiet enable --now nomad")
        lines.append(f"rm -f {PENDING}")
    elif restart and defer:
        lines.append("systemctl --quiet enable nomad")
        lines.append(f"touch {PENDING}")
    elif restart:
        lines.append("systemctl --quiet enable nomad")
        lines.append(f"rm -f {PENDING}")  # before: a failed restart leaves the agent stopped
        lines.append(_restart(server))
    elif reload:
        lines.append(RELOAD)
    return "\n".join(lines) + "\n"


def _restart(server: bool) -> str:
    """Restart the agent; a server's data dir goes to `nomad` while it is stopped."""
    if not server:
        return "systemctl restart nomad"
    return f"systemctl stop nomad\n{privilege.MIGRATE}\nsystemctl start nomad"


def restart_script(server: bool = False) -> str:
    """The roll's restart of one agent whose files were written earlier (PENDING)."""
    return f"set -eu\nrm -f {PENDING}\n{_restart(server)}\n"


def needs_restart(todo: Sequence[RemoteFile]) -> bool:
    """A running agent must restart to use these files (not for START_ONLY ones alone)."""
    return any(f.path not in START_ONLY for f in todo)


def configure_host(
    session: Session,
    facts: render.ClusterFacts,
    host: Host,
    files: Sequence[RemoteFile],
    *,
    defer_restart: bool = False,
    prove: Callable[[str], object] | None = None,
) -> HostResult:
    """Bring one connected node to the wanted state; raise RemoteError when it cannot.

    Files are uploaded and a stopped agent started; a running agent that must restart is
    restarted here, or with `defer_restart` left running and reported `pending` (the caller
    rolls it with `restart_host`). `prove(uname_m)`: called before a new uploaded binary
    goes onto the node (`proof.Prover.check`); it raises RemoteError to stop the upload."""
    check = session.sudo(check_script(facts, [f.path for f in files]), timeout=60)
    if check.code != 0:
        raise RemoteError(f"{host.name}: checking the node failed: {check.tail()}")
    seen = parse_check(check.stdout)
    if not seen.systemd:
        raise RemoteError(f"{host.name}: no systemd on the node (nomadctl needs systemd)")
    if facts.install_method != "binary" and not (
        seen.os_id in SUPPORTED_OS or "debian" in seen.os_like.split()
    ):
        raise RemoteError(
            f"{host.name}: unsupported OS {seen.os_id!r}; installing Nomad with "
            f"{facts.install_method!r} needs Ubuntu or Debian (or use --nomad-binary)"
        )
    todo = changed_files(files, seen)
    if prove is not None and any(f.path == render.LOCAL_BINARY for f in todo):
        prove(seen.arch)
    needs_nomad = facts.install_method != "binary" and seen.version != wanted_version(facts)
    needs_docker = facts.docker and host.role == "client" and not seen.docker
    # A server whose data dir is not yet nomad's moves over at its next start (MIGRATE).
    moving = privilege.as_nomad(host.role) and not privilege.data_moved(seen.dirs)
    restart = needs_restart(todo) or needs_nomad or seen.pending or moving
    ok_dirs = seen.dirs_ok(host.role)
    if not todo and not needs_nomad and not needs_docker and seen.active and ok_dirs:
        if seen.pending and defer_restart:
            return HostResult(host, "configured", pending=True)
        if not seen.pending:
            return HostResult(host, "unchanged")
    if needs_docker:
        check_mirror(session, host)
    install = render.install_script(facts, nomad=needs_nomad, docker=needs_docker)
    reload = not (seen.pending or moving) and reload_only(
        todo, needs_nomad or needs_docker, seen.active
    )
    restart = restart and not reload
    defer = defer_restart and seen.active and restart
    script = apply_script(
        install,
        restart=restart,
        upload=bool(todo),
        unit_changed=any(f.path == render.UNIT_PATH for f in todo),
        active=seen.active,
        reload=reload,
        defer=defer,
        server=privilege.as_nomad(host.role),
    )
    result = session.sudo(script, stdin=tar_of(todo) if todo else None)
    if result.code != 0:
        raise RemoteError(f"{host.name}: configuring the node failed: {result.tail()}")
    return HostResult(
        host,
        "configured",
        changed=[f.path for f in todo],
        restarted=restart and seen.active and not defer,
        reloaded=reload,
        pending=defer,
    )


# Docker comes from the node's package mirror: asked before anything on the node changes.
def check_mirror(session: Session, host: Host) -> None:
    """A client that needs Docker must reach a package mirror; RemoteError naming --no-docker
    (and leaving the node untouched) when it cannot."""
    done = session.sudo(
        "export DEBIAN_FRONTEND=noninteractive\n"
        "out=$(apt-get update -qq 2>&1); rc=$?\n"
        'if [ "$rc" -ne 0 ] || printf "%s" "$out" | grep -qE "^(E: |W: Failed to fetch|W: Some '
        'index files failed)"; then\n'
        '  printf "%s\\n" "$out" | tail -n 2; exit 1\nfi\n',
        timeout=120,
    )
    if done.code != 0:
        said = " ".join(done.stdout.split())[-160:] or done.tail()
        raise RemoteError(
            f"{host.name}: Docker is not installed and no package mirror answers: pass "
            "--no-docker for hosts without one (clients then run no docker jobs), or make a "
            f"mirror reachable; nothing on the node was changed (apt-get update: {said})"
        )


def restart_host(session: Session, result: HostResult) -> None:
    """Restart a `pending` agent (its files are in place); raise RemoteError on failure."""
    done = session.sudo(restart_script(privilege.as_nomad(result.host.role)), timeout=120)
    if done.code != 0:
        raise RemoteError(f"{result.host.name}: restarting the agent failed: {done.tail()}")
    result.pending, result.restarted = False, True


def teardown_script(facts: render.ClusterFacts, leave: bool = False) -> str:
    """Remove what nomadctl put on a node the user keeps (hosts-you-already-have clusters).

    `leave` (a server going for good): SIGTERM to the agent first, which with
    leave_on_terminate (render.agent_config) is Nomad's graceful leave: out of raft, then
    serf, then exit 0 (command/agent/command.go handleSignals; nomad/server.go Leave), within
    Nomad's gracefulTimeout of 5s (exit 1 when it runs out; 1.8 to 1.11). `systemctl stop`
    alone sends the unit's SIGINT, which leaves nothing: the leader would keep a dead voter
    until it is forced out."""
    remove = [render.CONFIG_DIR, "/opt/nomad", render.UNIT_PATH]
    if facts.install_method in ("binary", "zip"):
        remove.append(render.LOCAL_BINARY)
    first = (
        "pid=$(systemctl show -p MainPID --value nomad 2>/dev/null || echo 0)\n"
        'if [ "${pid:-0}" -gt 0 ] 2>/dev/null && kill -TERM "$pid" 2>/dev/null; then\n'
        "  n=0\n"
        '  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 200 ]; do sleep 0.1; n=$((n+1)); done\n'
        "fi\n"
        if leave
        else ""
    )
    return (
        first + "systemctl disable nomad >/dev/null 2>&1 || true\n"
        "systemctl stop nomad >/dev/null 2>&1 || true\n"
        f"rm -rf {' '.join(remove)}\n"
        "systemctl daemon-reload\n"
    )


def read_local(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RemoteError(f"cannot read {what} {path}: {exc.strerror}") from None
