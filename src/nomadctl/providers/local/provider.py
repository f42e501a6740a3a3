"""A secured Nomad cluster as processes on this machine (`nomadctl up --local`).

Everything the AWS cluster has: the cluster's own CA and one certificate per agent, mTLS on
HTTP and RPC, gossip encryption, ACLs (bootstrapped by the plan's finish step). Each agent
lives in `<workspace>/local/<node>/` (config/nomad.hcl, tls/, data/, nomad.log, nomad.pid;
dirs 0700, files 0600) and runs detached in its own session, so it outlives the terminal.
Addresses come from `net` (own loopback address per agent, or own ports on 127.0.0.1),
processes are handled by `proc`. A re-run restarts nothing unchanged: a running agent
whose config is the same is left alone, a dead one is started, a changed config restarts it,
and new TLS files alone are picked up with SIGHUP (Nomad reloads TLS on SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nomadctl import trust
from nomadctl.cluster import acl
from nomadctl.errors import UsageError, WorkspaceError
from nomadctl.hosts import Host, Role, hosts_of
from nomadctl.node import release_keys, releases, render
from nomadctl.node.connect import forget_pins
from nomadctl.node.release_keys import SigningKey
from nomadctl.node.render import Ports
from nomadctl.providers import DownOptions
from nomadctl.providers import state as cluster_state
from nomadctl.providers.base import (
    Applied,
    Destroyed,
    Forgotten,
    PlannedHost,
    Progress,
    ProviderPlan,
    Reach,
    Resource,
)
from nomadctl.providers.local import agents, files, net, proc
from nomadctl.providers.local.files import node_dir
from nomadctl.providers.local.outage import LocalOutage
from nomadctl.providers.local.rebuild import restore_state  # noqa: F401 - providers.restore_state
from nomadctl.workspace import SECRET_MODE, Workspace, atomic_write

if TYPE_CHECKING:
    from nomadctl.node.configure import HostResult
    from nomadctl.node.fleet import NodeOptions

NAME = "local"
LEAVE_WAIT = 20.0  # above command/agent/command.go gracefulTimeout (5s, then exit 1): room to spare
# The sample jobs ship in the package (nomadctl/jobs, in a checkout a link to examples/jobs),
# so an installed nomadctl finds them as a checkout does.
JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
_DRIVER = re.compile(r'^\s*driver\s*=\s*"([A-Za-z0-9_-]+)"', re.MULTILINE)


@dataclass(frozen=True)
class LocalOptions:
    servers: int = 3
    clients: int = 3
    nomad_binary: Path | None = None  # --nomad-binary; else `nomad` on PATH, else download
    nomad_version: str = render.ClusterFacts.nomad_version  # what a download fetches
    releases_url: str = releases.RELEASES_URL  # --releases-url (a mirror)
    release_key: SigningKey | None = None  # a mirror's key; None: HashiCorp's, pinned
    loopback: bool | None = None  # None: own 127.x address per agent where routable
    start_timeout: float = 60.0  # seconds for a started agent to listen on its HTTP port
    stop_timeout: float = 10.0  # seconds after SIGINT (SIGTERM: a leave) before SIGKILL


def provider_from_options(opts: Any) -> LocalProvider:
    """The provider for `up --local` from `nomadctl.plan.options.UpOptions`.

    A mirror's key that cannot be read is left to `plan.options.validate`, which names the
    flag in its error before anything runs."""

    key = None
    if getattr(opts, "release_key", None) is not None and opts.release_key_fingerprint:
        with contextlib.suppress(OSError, ValueError):
            key = release_keys.key_from_file(opts.release_key, opts.release_key_fingerprint)
    return LocalProvider(
        LocalOptions(
            servers=opts.servers,
            clients=opts.clients,
            nomad_binary=opts.nomad_binary,
            nomad_version=opts.nomad_version,
            releases_url=opts.releases_url,
            release_key=key,
        )
    )


# ---- drivers and sample jobs -------------------------------------------------------------


def drivers() -> list[str]:
    """The task drivers local clients offer: docker when it answers, exec as root on Linux."""
    found = ["docker"] if net.docker_answers() else []
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        found.append("exec")
    return found


def sample_jobs(available: Sequence[str], jobs_dir: Path = JOBS_DIR) -> list[str]:
    """The examples/jobs/*.nomad.hcl whose every task's driver is `available`."""
    if not jobs_dir.is_dir():
        return []
    out = []
    for path in sorted(jobs_dir.glob("*.nomad.hcl")):
        used = set(_DRIVER.findall(path.read_text(errors="replace")))
        if used and used <= set(available):
            out.append(path.name)
    return out


# ---- the provider ------------------------------------------------------------------------


@dataclass
class LocalDetail:
    """What `plan` found, handed to `apply`: the mode, each agent's slot, the binary."""

    mode: net.Mode
    slots: dict[str, net.Slot]
    binary: releases.BinaryChoice
    leftover: dict[str, net.Slot] = field(default_factory=dict)


def recorded_binary(ws: Workspace) -> Path | None:
    """The binary the cluster's local agents were started with, while it is still there: a
    re-run of `up` keeps it (plan/options.py). A downloaded one (in the cache) is chosen and
    checked again instead, so None then, as when nothing is recorded or state is unreadable."""
    binary = _recorded(ws, damaged_ok=True).get("binary")
    if not binary or not Path(binary).is_file():
        return None
    return None if Path(binary).is_relative_to(ws.home / "cache") else Path(binary)


def _recorded(ws: Workspace, damaged_ok: bool = False) -> dict[str, Any]:
    """state.json's `local` section; with `damaged_ok` (for `down`), {} when unreadable."""
    if not ws.state_path.exists():
        return {}
    if damaged_ok:
        state, damaged = ws.read_state()
        local = state.get("local") if damaged is None else None
        return local if isinstance(local, dict) else {}
    return ws.load_state().get("local") or {}


def _slots(local: dict[str, Any]) -> dict[str, net.Slot]:
    return {n: net.Slot.from_dict(d) for n, d in (local.get("nodes") or {}).items()}


def _running_slots(ws: Workspace) -> dict[str, net.Slot]:
    """The addresses the agents' own configs hold (state.json lost or damaged)."""
    return {
        n: net.Slot(ip, Ports(http, rpc, serf))
        for n, (ip, http, rpc, serf) in files.agents_addresses(ws).items()
    }


def acl_reset(ws: Workspace) -> Callable[[int, str], None]:
    """Nomad's ACL bootstrap reset for local agents: the reset index written to
    `<data_dir>/server/acl-bootstrap-reset` (nomad/acl_endpoint.go fileBootstrapResetIndex
    reads `aclBootstrapReset` in the server's data dir, itself `<data_dir>/server`; the
    content is the index in decimal). Written on every local server, so that a leader
    change between the answer and the next request does not matter: only the leader reads
    it, and only when bootstrapping."""

    def reset(index: int, leader: str) -> None:
        dirs = files.server_data_dirs(ws)
        if not dirs:
            raise WorkspaceError(
                f"no local server data directory under {ws.path / 'local'} to write Nomad's "
                f"ACL reset index into (the leader is {leader})"
            )
        for server in dirs:
            atomic_write(server / "acl-bootstrap-reset", f"{int(index)}\n".encode(), SECRET_MODE)

    return reset


@dataclass(frozen=True)
class LocalProvider:
    opts: LocalOptions = LocalOptions()
    name: str = NAME

    def validate(self, cluster: str = "") -> None:
        if self.opts.servers < 1 or self.opts.servers % 2 == 0:
            raise UsageError(
                f"--servers {self.opts.servers}: use an odd number (1, 3, 5) to keep a quorum"
            )
        if self.opts.clients < 0:
            raise UsageError(f"--clients {self.opts.clients}: cannot be negative")
        if not sys.platform.startswith(("linux", "darwin")):
            raise UsageError("--local runs agents on Linux or macOS only")

    def names(self, cluster: str) -> list[tuple[str, Role]]:
        out: list[tuple[str, Role]] = [
            (f"{cluster}-server-{i}", "server") for i in range(1, self.opts.servers + 1)
        ]
        return out + [(f"{cluster}-client-{i}", "client") for i in range(1, self.opts.clients + 1)]

    def plan(self, ws: Workspace, progress: Progress) -> ProviderPlan:
        self.validate()
        local = _recorded(ws)
        # What the agents' own configs say fills in what state.json does not (it was lost
        # or rewritten): a running agent is never moved to a new address.
        recorded = {**_running_slots(ws), **_slots(local)}
        mode: net.Mode = local.get("mode") or _mode_of(recorded) or self._mode()
        names = self.names(ws.cluster)
        wanted = [n for n, _ in names]
        slots = net.assign(wanted, recorded, ws.home, ws.path, mode)
        key = self.opts.release_key
        choice = releases.choose(
            ws.home,
            self.opts.nomad_version,
            self.opts.nomad_binary,
            self.opts.releases_url,
            key.fingerprint if key else release_keys.RELEASE_KEY_FINGERPRINT,
        )
        down = {n for n in recorded if n in slots and _pid_text(ws, n) is None}
        planned = [
            PlannedHost(
                n,
                role,
                slots[n].ip,
                "keep" if n in recorded else "create",
                f"HTTPS {slots[n].ip}:{slots[n].ports.http}"
                + (", agent not running: started again" if n in down else ""),
            )
            for n, role in names
        ]
        # Recorded agents the plan no longer names stay recorded: the plan's scale-in step
        # stops them (teardown) and drops them (remove); `hosts` names only wanted ones.
        leftover = {n: s for n, s in recorded.items() if n not in slots}
        plan = ProviderPlan(
            provider=NAME,
            where="this machine",
            hosts=planned,
            resources=[Resource("nomad-binary", "nomad", str(choice.path), choice.source)],
            changed=bool(down)
            or any(h.action != "keep" for h in planned)
            or choice.source == "download",
            spends_money=False,
            detail=LocalDetail(mode, slots, choice, leftover),
        )
        plan.warnings += list(choice.passed_over)
        return plan

    def prepare(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> None:
        """Before anything is written: the binary downloaded (when it must be) and proven.
        Offline with no binary at hand, `up` stops here, saying where to put one."""
        detail: LocalDetail = plan.detail
        path = releases.ensure(
            detail.binary, progress, self.opts.releases_url, self.opts.release_key
        )
        if detail.binary.source == "download":
            detail.binary = releases.BinaryChoice(path, "cache", detail.binary.version)

    def _mode(self) -> net.Mode:
        loopback = self.opts.loopback
        if loopback is None:
            loopback = net.loopback_routable()
        return "loopback" if loopback else "ports"

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied:
        detail: LocalDetail = plan.detail
        binary = releases.ensure(
            detail.binary, progress, self.opts.releases_url, self.opts.release_key
        )
        ws.create()
        hosts = [
            Host(n, role, detail.slots[n].ip, http_port=detail.slots[n].ports.http)
            for n, role in self.names(ws.cluster)
        ]
        every = {**detail.leftover, **detail.slots}
        ws.update_state(
            provider=NAME,
            hosts=[h.to_dict() for h in hosts],
            local={
                "mode": detail.mode,
                "binary": str(binary),
                "nodes": {n: s.to_dict() for n, s in every.items()},
            },
        )
        resources = [Resource("agent", h.name, f"{h.private_ip}:{h.http_port}") for h in hosts]
        return Applied(hosts, resources=resources)

    def hosts(self, ws: Workspace) -> list[Host]:
        if not ws.state_path.exists():
            return []
        return hosts_of(ws.load_state())

    def remove(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> None:
        """Scale-in: stop these agents (if still running), drop their dirs and slots."""
        LocalAgents(self.opts).teardown(ws, hosts, progress)
        gone = {h.name for h in hosts}
        if ws.state_path.exists():
            state = ws.load_state()
            local = state.get("local") or {}
            nodes = {n: d for n, d in (local.get("nodes") or {}).items() if n not in gone}
            kept = [h for h in state.get("hosts") or [] if h.get("name") not in gone]
            ws.update_state(hosts=kept, local={**local, "nodes": nodes})

    def agents(self, ws: Workspace) -> LocalAgents:
        return LocalAgents(self.opts, _recorded(ws).get("mode") or self._mode())

    def reach(self, ws: Workspace) -> Reach:
        """Agents on this machine: no SSH, logs in the workspace, the drivers found here."""
        available = drivers()
        jobs = tuple(sample_jobs(available))
        return Reach(ssh=False, logs=True, drivers=tuple(available), sample_jobs=jobs)

    def replace(
        self, ws: Workspace, host: Host, plan: ProviderPlan, progress: Progress
    ) -> list[Host]:
        """Never planned here (no machine type to change)."""
        raise UsageError(f"{host.name}: local agents are restarted, never replaced")

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed:
        """Stop every agent of the cluster (recorded or found in its dir), remove its data."""
        names = sorted(set(_slots(_recorded(ws, damaged_ok=True))) | set(files.node_names(ws)))
        said: dict[str, Any] = {"where": "this machine", "kind": NAME}
        if dry_run:
            return Destroyed(
                [Resource("agent", n, _pid_text(ws, n), "delete") for n in names], **said
            )
        pids = {n: proc.running_pid(node_dir(ws, n)) for n in names}
        errors = stop_and_remove(ws, pids, self.opts.stop_timeout)
        resources = []
        for n in names:
            pid = pids[n]
            progress(f"{n}: {errors.get(n) or 'agent stopped, data removed'}")
            status = "failed" if n in errors else "deleted"
            resources.append(Resource("agent", n, str(pid) if pid else None, status))
        with contextlib.suppress(OSError):
            (ws.path / "local").rmdir()
        if _readable(ws):  # what is gone is not found again by the next `down`
            local = ws.load_state().get("local") or {}
            nodes = {n: d for n, d in (local.get("nodes") or {}).items() if n in errors}
            ws.update_state(local={**local, "nodes": nodes})
        lines = [f"{n}: {e}" for n, e in errors.items()]
        return Destroyed(resources, errors=lines, **said)

    def forget(self, ws: Workspace, done: Destroyed) -> Forgotten:
        """Every agent gone: forget the hosts, the ACL tokens and the local record; keep
        `provider` (a second `down` finds nothing and says so) and the CA."""

        if done.left:
            return Forgotten("kept")
        if not ws.state_path.exists():  # agents found from their dirs: their tokens go too
            if not done.resources:
                return Forgotten("nothing")
            acl.forget_tokens(ws)
            return Forgotten("forgotten")
        if not _readable(ws):  # every agent found from its directory is gone
            return Forgotten("moved aside", aside=cluster_state.set_aside_damaged(ws))
        state = ws.load_state()
        forget_pins(ws, hosts_of(state))
        acl.forget_tokens(ws)
        for key in ("hosts", "configured", "leaving", "spec", NAME):
            state.pop(key, None)
        ws.save_state(state)
        return Forgotten("forgotten")


def _readable(ws: Workspace) -> bool:
    return ws.state_path.exists() and ws.read_state()[1] is None


def _mode_of(slots: dict[str, net.Slot]) -> net.Mode | None:
    """Agents that share 127.0.0.1 run in port mode, others each on their own address."""
    if not slots:
        return None
    return "ports" if all(s.ip == "127.0.0.1" for s in slots.values()) else "loopback"


def _pid_text(ws: Workspace, name: str) -> str | None:
    pid = proc.running_pid(node_dir(ws, name))
    return str(pid) if pid else None


def stop_and_remove(
    ws: Workspace, pids: dict[str, int | None], timeout: float, leave: bool = False
) -> dict[str, str]:
    """Stop these nodes' agents (side by side) and remove their dirs; errors by node name.
    `leave`: servers leave the cluster gracefully first (SIGTERM, leave_on_terminate), with
    LEAVE_WAIT (above Nomad's own 5s graceful timeout) as the least wait."""
    wait = max(timeout, LEAVE_WAIT) if leave else timeout
    left = set(proc.stop_all([p for p in pids.values() if p], wait, leave=leave))
    errors = {}
    for name, pid in pids.items():
        if pid in left:
            errors[name] = f"agent (pid {pid}) did not stop after SIGKILL"
            continue
        root = node_dir(ws, name).root
        stuck = proc.kill(proc.strays(root))
        if stuck:
            errors[name] = f"processes {stuck} under {root} did not stop"
            continue
        try:
            trust.remove_tree(root, ws.home)
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors[name] = f"cannot remove {root}: {exc.strerror}"
    return errors


# ---- the agents --------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalAgents:
    opts: LocalOptions = LocalOptions()
    mode: str = "loopback"

    def describe(self) -> str:
        where = (
            "each on its own loopback address, ports 4646-4648"
            if self.mode == "loopback"
            else "on 127.0.0.1, each with its own ports"
        )
        return f"processes on this machine, {where}"

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: NodeOptions,
        progress: Progress,
        on_servers_done: Callable[[list[HostResult]], None] | None = None,
    ) -> list[HostResult]:
        return agents.configure_all(
            ws, hosts, node, progress, on_servers_done, self.opts.start_timeout
        )

    def outage(self, ws: Workspace) -> LocalOutage:
        """`nomadctl recover`'s steps on this machine's agents (outage.py)."""
        return LocalOutage(ws, self.opts.stop_timeout, self.opts.start_timeout)

    def watch(self, ws: Workspace, hosts: Sequence[Host]) -> Callable[[], dict[str, str]]:
        """For `up`'s checks and leader wait: the server agents no longer running (they
        died while the cluster was forming), each with the last lines of its log."""
        servers = [h.name for h in hosts if h.role == "server"]

        def died() -> dict[str, str]:
            dead = {}
            for name in servers:
                node = node_dir(ws, name)
                if proc.running_pid(node) is None:
                    tail = proc.last_lines(node.log)
                    dead[name] = (
                        f"{name}: the agent exited while the cluster was forming "
                        f"(see {node.log}){': ' + tail if tail else ''}"
                    )
            return dead

        return died

    def teardown(
        self, ws: Workspace, hosts: Sequence[Host], progress: Progress, leave: bool = False
    ) -> list[str]:
        pids = {h.name: proc.running_pid(node_dir(ws, h.name)) for h in hosts}
        errors = stop_and_remove(ws, pids, self.opts.stop_timeout, leave=leave)
        for h in hosts:
            progress(f"{h.name}: {errors.get(h.name) or 'agent stopped, data removed'}")
        return [f"{n}: {e}" for n, e in errors.items()]


def for_down(state: dict, opts: DownOptions) -> LocalProvider:
    return LocalProvider()
