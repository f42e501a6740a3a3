"""Implementation of the test network. See the package docstring for what is real."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(os.environ.get("NOMADCTL_TESTBED_DIR", "/run/nomadctl-testbed"))
TESTBED_RANGE = ipaddress.ip_network("198.18.0.0/15")
DEFAULT_SUBNET = "198.18.1.0/24"
DEFAULT_FIRST_HOST = 4
SSH_USER = "ubuntu"
SHIM_STATE_DIR = "/run/testbed-shim"
SUDOERS_FILE = Path("/etc/sudoers.d/nomadctl-testbed")
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSHD = "/usr/sbin/sshd"
# Directories that get a private tmpfs on every host: (path, mode, owner).
PRIVATE_DIRS: tuple[tuple[str, int, str], ...] = (
    ("/etc/nomad.d", 0o755, "root"),
    ("/opt/nomad", 0o755, "root"),
    ("/etc/systemd/system", 0o755, "root"),
    ("/usr/local/bin", 0o755, "root"),
    ("/usr/local/sbin", 0o755, "root"),
    ("/tmp", 0o1777, "root"),
    (f"/home/{SSH_USER}", 0o755, SSH_USER),
    (SHIM_STATE_DIR, 0o755, "root"),
)
_HERE = Path(__file__).resolve().parent
_LOCK = BASE_DIR / ".lock"


class TestbedError(RuntimeError):
    """A testbed could not be created or a prerequisite is missing."""

    __test__ = False


@dataclass(frozen=True)
class Host:
    """One test host: its own network namespace, mount namespace and real sshd.

    ``address`` is the host's only address (on the testbed bridge); SSH listens on
    ``address:port`` and accepts ``key_path`` for ``user`` (``ubuntu``, passwordless sudo)
    and for ``root``. ``host_public_key`` is the sshd host key as an OpenSSH public-key line
    (``ssh-ed25519 AAAA...``), to check the server against.
    """

    name: str
    address: str
    user: str
    key_path: Path
    host_public_key: str
    hostname: str = ""
    port: int = 22
    netns: str = ""
    index: int = 0

    def known_hosts_line(self) -> str:
        return f"{self.address} {self.host_public_key}"


# ---------------------------------------------------------------------------------------
# small helpers


def _run(argv: Sequence[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise TestbedError(
            f"command failed ({res.returncode}): {' '.join(argv)}\n{res.stderr.strip()}"
        )
    return res


def _proc_start(pid: int) -> str | None:
    """Start time of a live (non-zombie) process, None otherwise."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _alive(pid: int | None, start: str | None = None) -> bool:
    if not pid:
        return False
    s = _proc_start(pid)
    return s is not None and (start is None or s == start)


def _netns_pids() -> dict[int, list[int]]:
    """Map net-namespace inode -> live pids in it (zombies excluded)."""
    result: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
        if _proc_start(pid) is None:
            continue
        result.setdefault(ino, []).append(pid)
    return result


def _ns_inode(netns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return None


def check_prerequisites() -> None:
    """Raise TestbedError naming what is missing (root, sshd, ip, unshare, nsenter...)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, mounts, sshd)")
    for tool, hint in (
        (SSHD, "apt-get install -y openssh-server"),
        ("ssh-keygen", "apt-get install -y openssh-client"),
        ("ip", "apt-get install -y iproute2"),
        ("unshare", "apt-get install -y util-linux"),
        ("nsenter", "apt-get install -y util-linux"),
        ("sudo", "apt-get install -y sudo"),
        ("visudo", "apt-get install -y sudo"),
        ("useradd", "apt-get install -y passwd"),
    ):
        if not (os.path.isabs(tool) and os.access(tool, os.X_OK)) and not shutil.which(tool):
            problems.append(f"{tool} not found ({hint})")
    if problems:
        raise TestbedError("testbed prerequisites missing: " + "; ".join(problems))


_COMPILE = (
    "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True, "
    "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)"
)


def _shim_python() -> str:
    # The shim must run for every user (is-active without sudo); /root may be mode 0700.
    for cand in ("/usr/bin/python3",):
        if os.access(cand, os.X_OK):
            return cand
    return sys.executable


def _closed_dirs() -> list[str]:
    """Directories on the way to this interpreter and its libraries that other users cannot
    enter (e.g. /root, 0700, holding a pyenv or a clone's venv), shallowest first.

    A host's agent may run as an unprivileged user (nomadctl runs servers as `nomad`), through
    the stand-in whose first line names this interpreter: each host opens these directories
    up in its own mount namespace (``_hostd.open_up``), the machine's stay as they are."""
    import site
    import sysconfig

    wanted = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix}
    wanted |= set(sysconfig.get_paths().values()) | set(site.getsitepackages())
    wanted.add(site.getusersitepackages())
    closed: set[str] = set()
    for path in wanted:
        for d in [*reversed(Path(path).parents), Path(path)]:
            with contextlib.suppress(OSError):
                st = d.lstat()
                if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
                    closed.add(str(d))
    return sorted(closed, key=lambda d: (d.count("/"), d))


_machine_lock = threading.Lock()
_machine_ready = False


def _prepare_machine() -> None:
    """One-time, idempotent changes to the machine itself: the ``ubuntu`` user, its sudoers
    file, sshd's privilege-separation dir and the (empty) mount-point directories."""
    global _machine_ready
    with _machine_lock:
        if _machine_ready:
            return
        # Also across processes (pytest-xdist workers on a fresh machine): useradd and the
        # sudoers temp file must not run twice at once.
        with _global_lock():
            _prepare_machine_locked()
        _machine_ready = True


def _prepare_machine_locked() -> None:
    """The body of _prepare_machine, run under the machine-wide testbed lock."""
    try:
        pw = pwd.getpwnam(SSH_USER)
    except KeyError:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", SSH_USER])
        pw = pwd.getpwnam(SSH_USER)
    # sshd without PAM refuses accounts whose password field starts with "!" (locked).
    with open("/etc/shadow") as f:
        for line in f:
            parts = line.split(":")
            if parts[0] == SSH_USER and parts[1].startswith("!"):
                _run(["usermod", "--password", "*", SSH_USER])
    del pw
    sudoers = (
        "# Written by nomadctl's test network (tests/testbed): passwordless sudo for the\n"
        "# test user; secure_path keeps the testbed's systemctl shim first.\n"
        f"Defaults:{SSH_USER} !requiretty\n"
        f'Defaults:{SSH_USER} secure_path="{SESSION_PATH}"\n'
        f"{SSH_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )
    if not SUDOERS_FILE.exists() or SUDOERS_FILE.read_text() != sudoers:
        tmp = SUDOERS_FILE.with_name(".nomadctl-testbed.tmp")
        tmp.write_text(sudoers)
        tmp.chmod(0o440)
        _run(["visudo", "-c", "-q", "-f", str(tmp)])
        tmp.rename(SUDOERS_FILE)
    # Traffic to 198.18.0.0/15 must never leave through the default route (e.g. to a
    # torn-down testbed): the /24 routes of live bridges are more specific than this.
    _run(["ip", "route", "replace", "blackhole", str(TESTBED_RANGE)])
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    for path, _mode, _owner in PRIVATE_DIRS:
        os.makedirs(path, exist_ok=True)
    BASE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    BASE_DIR.chmod(0o755)


@contextlib.contextmanager
def _global_lock():
    BASE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _routed_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    res = _run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False)
    routes = []
    try:
        data = json.loads(res.stdout or "[]")
    except json.JSONDecodeError:
        data = []
    for r in data:
        dst = r.get("dst", "")
        if dst in ("default", "") or (r.get("type") == "blackhole" and dst == str(TESTBED_RANGE)):
            continue
        with contextlib.suppress(ValueError):
            routes.append((ipaddress.ip_network(dst, strict=False), r.get("dev", "?")))
    res = _run(["ip", "-j", "-4", "addr", "show"], check=False)
    with contextlib.suppress(json.JSONDecodeError):
        for link in json.loads(res.stdout or "[]"):
            for a in link.get("addr_info", []):
                with contextlib.suppress(ValueError, KeyError):
                    net = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
                    routes.append((net, link.get("ifname", "?")))
    return routes


def _claimed_subnets() -> list[ipaddress.IPv4Network]:
    nets = []
    if BASE_DIR.is_dir():
        for d in BASE_DIR.iterdir():
            with contextlib.suppress(OSError, ValueError, KeyError, json.JSONDecodeError):
                nets.append(
                    ipaddress.ip_network(json.loads((d / "state.json").read_text())["subnet"])
                )
    return nets


def _subnet_conflict(net: ipaddress.IPv4Network) -> str | None:
    for other, dev in _routed_networks():
        if other.overlaps(net):
            return f"{other} on {dev}"
    for other in _claimed_subnets():
        if other.overlaps(net):
            return f"{other} (another testbed)"
    return None


def subnet_held_by_testbed(subnet: str) -> bool:
    """True when ``subnet`` overlaps a live testbed's claim (its state or its ``tb-`` bridge)
    and nothing else routed on this machine: waiting for that testbed's teardown frees it."""
    net = ipaddress.ip_network(subnet)
    routed = [dev for other, dev in _routed_networks() if other.overlaps(net)]
    claimed = any(other.overlaps(net) for other in _claimed_subnets())
    return (claimed or bool(routed)) and all(dev.startswith("tb-") for dev in routed)


def subnet_is_free(subnet: str) -> bool:
    """Nothing routes or claims ``subnet`` now (a testbed that held it may just have gone)."""
    return _subnet_conflict(ipaddress.ip_network(subnet)) is None


def free_subnet() -> str:
    """The first 198.18.N.0/24 (N >= 2) that is neither routed here nor claimed by a testbed."""
    used = [n for n, _ in _routed_networks()] + _claimed_subnets()
    for third in range(2, 512):
        net = ipaddress.ip_network(f"198.{18 + third // 256}.{third % 256}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise TestbedError("no free /24 left in 198.18.0.0/15")


# ---------------------------------------------------------------------------------------


class Testbed:
    """A running test network. Create with :meth:`Testbed.create`, remove with
    :meth:`teardown` (idempotent). See the package docstring."""

    __test__ = False

    def __init__(self, state: dict[str, Any], procs: dict[str, subprocess.Popen] | None = None):
        self._state = state
        self._procs = procs or {}
        self.id: str = state["id"]
        self.dir = Path(state["dir"])
        self.subnet: str = state["subnet"]
        self.bridge: str = state["bridge"]
        self.bridge_address: str = state["bridge_address"]
        self.delay_ms: list[int] = state.get("delay_ms", [])
        self.key_path = Path(state["key_path"])
        self.known_hosts_path = self.dir / "known_hosts"
        self.hosts: list[Host] = [
            Host(
                name=h["name"],
                address=h["address"],
                user=SSH_USER,
                key_path=self.key_path,
                host_public_key=h.get("host_public_key", ""),
                hostname=h["hostname"],
                port=22,
                netns=h["netns"],
                index=i,
            )
            for i, h in enumerate(state["hosts"])
        ]
        self._torn_down = False

    def __repr__(self) -> str:
        return f"<Testbed {self.id} {self.subnet} {len(self.hosts)} hosts>"

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # ---- creation ----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        n: int,
        *,
        subnet: str | None = DEFAULT_SUBNET,
        first_host: int = DEFAULT_FIRST_HOST,
        delay_ms: int | Sequence[int] = 0,
        persistent: bool = False,
        name_prefix: str = "host",
        overlays: Sequence[str] = (),
        addresses: Sequence[str] = (),
    ) -> Testbed:
        """Bring up ``n`` hosts. ``subnet=None`` picks a free 198.18.N.0/24 (N >= 2).

        ``overlays`` (e.g. ``("/etc", "/usr", "/var")``) gives every host a private
        copy-on-write overlay of those machine directories (upper layer on a tmpfs only the
        host sees), so a package manager run on the host (dpkg, apt, useradd) changes the
        host and never the machine. ``/etc`` always has one: a host's `useradd` (nomadctl
        makes the `nomad` user for servers) writes the host's /etc/passwd, never the
        machine's.

        ``delay_ms`` (one value or one per host) is added by a relay in front of sshd, in
        each direction, so an SSH round trip gets 2 x delay_ms. ``persistent`` marks
        testbeds made by ``python -m tests.testbed up``: the crash sweep leaves them alone.
        ``addresses`` (one per host, inside ``subnet``) replaces ``first_host``'s run of
        consecutive addresses: the IPs moto gives nodes in several small subnets of one /24.
        """
        check_prerequisites()
        if n < 1:
            raise TestbedError("need at least one host")
        delays = [int(delay_ms)] * n if isinstance(delay_ms, int) else [int(d) for d in delay_ms]
        if len(delays) != n or any(d < 0 for d in delays):
            raise TestbedError("delay_ms must be >= 0, one value or one per host")
        _prepare_machine()
        procs: dict[str, subprocess.Popen] = {}
        with _global_lock():
            if subnet is None:
                subnet = free_subnet()
            try:
                net = ipaddress.ip_network(subnet)
            except ValueError as e:
                raise TestbedError(f"bad subnet {subnet!r}: {e}") from None
            if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(TESTBED_RANGE):
                raise TestbedError(
                    f"subnet {subnet} is outside 198.18.0.0/15, the only range the testbed uses"
                )
            conflict = _subnet_conflict(net)
            if conflict:
                raise TestbedError(
                    f"subnet {net} is already routed on this machine ({conflict}); pick another "
                    "198.18.x.0/24 or remove the other testbed (python -m tests.testbed down)"
                )
            bridge_ip = net.network_address + 1
            addrs = [net.network_address + first_host + i for i in range(n)]
            if addresses:
                addrs = [ipaddress.ip_address(a) for a in addresses]  # type: ignore[misc]
                if len(addrs) != n or len(set(addrs)) != n:
                    raise TestbedError("addresses: one distinct address per host")
                if any(a not in net or a in (bridge_ip, net.broadcast_address) for a in addrs):
                    raise TestbedError(f"addresses must be hosts of {net} other than .1")
            elif first_host < 2 or addrs[-1] >= net.broadcast_address:
                raise TestbedError(f"{n} hosts from .{first_host} do not fit in {net}")
            tb_id = cls._new_id()
            tb_dir = BASE_DIR / tb_id
            tb_dir.mkdir(mode=0o755)
            hosts = []
            for i, addr in enumerate(addrs):
                octets = str(addr).replace(".", "-")
                hosts.append(
                    {
                        "name": f"{name_prefix}{i + 1}",
                        "address": str(addr),
                        "hostname": f"ip-{octets}",
                        "netns": f"tb-{tb_id}-{i + 1}",
                        "veth": f"tb{tb_id}v{i + 1}",
                        "dir": str(tb_dir / f"h{i + 1}"),
                        "delay_ms": delays[i],
                        "overlays": list(dict.fromkeys(["/etc", *map(str, overlays)])),
                    }
                )
            state: dict[str, Any] = {
                "id": tb_id,
                "dir": str(tb_dir),
                "owner_pid": os.getpid(),
                "owner_start": _proc_start(os.getpid()),
                "persistent": False,
                "subnet": str(net),
                "bridge": f"tb-{tb_id}",
                "bridge_address": str(bridge_ip),
                "key_path": str(tb_dir / "id_ed25519"),
                "delay_ms": delays,
                "hosts": hosts,
                "created": time.time(),
            }
            tb = cls(state, procs)
            tb._save()
            try:
                # The bridge (and with it the route) is the subnet's claim: create it
                # before releasing the lock.
                br = state["bridge"]
                _run(
                    [
                        "ip",
                        "link",
                        "add",
                        "name",
                        br,
                        "type",
                        "bridge",
                        "stp_state",
                        "0",
                        "forward_delay",
                        "0",
                    ]
                )
                _write_sysctl(f"net/ipv6/conf/{br}/disable_ipv6", "1")
                _run(["ip", "addr", "add", f"{bridge_ip}/{net.prefixlen}", "dev", br])
                _run(["ip", "link", "set", br, "up"])
            except BaseException:
                tb.teardown()
                raise
        try:
            tb._build()
            state["persistent"] = persistent
            tb._save()
        except BaseException:
            tb.teardown()
            raise
        return tb

    @staticmethod
    def _new_id() -> str:
        existing = {p.name for p in BASE_DIR.iterdir()} if BASE_DIR.is_dir() else set()
        links = _run(["ip", "-o", "link", "show"], check=False).stdout
        while True:
            cand = secrets.token_hex(2)
            if cand not in existing and f"tb-{cand}" not in links and f"tb{cand}v" not in links:
                return cand

    def _save(self) -> None:
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(self._state, indent=1))
        tmp.rename(self.dir / "state.json")

    def _build(self) -> None:
        st = self._state
        key = Path(st["key_path"])
        _run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"nomadctl-testbed-{self.id}",
                "-f",
                str(key),
            ]
        )
        key.chmod(0o600)
        auth = self.dir / "authorized_keys"
        auth.write_text((key.with_suffix(".pub")).read_text())
        auth.chmod(0o644)
        # The shim runs several times per `up` on every host: keep its start cheap (no `site`,
        # bytecode compiled once here by the interpreter that runs it).
        python = _shim_python()
        module = self.dir / "testbed_shim.py"
        module.write_text((_HERE / "_shim.py").read_text())
        module.chmod(0o644)
        _run([python, "-S", "-c", _COMPILE, str(module)])
        shim = self.dir / "systemctl"
        shim.write_text(
            f"#!{python} -S\nimport sys\n\nsys.path.insert(0, {str(self.dir)!r})\n"
            "from testbed_shim import main\n\nsys.exit(main())\n"
        )
        shim.chmod(0o755)
        etc_hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        etc_hosts += "\n# nomadctl testbed hosts\n" + "".join(
            f"{h['address']} {h['hostname']} {h['name']}\n" for h in st["hosts"]
        )

        workers = min(32, max(4, len(st["hosts"])))
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(self._build_host, i, etc_hosts) for i in range(len(st["hosts"]))]
            errors = []
            for f in futures:
                try:
                    f.result()
                except BaseException as e:
                    errors.append(e)
            if errors:
                raise errors[0]
        self.hosts = [
            Host(
                name=h["name"],
                address=h["address"],
                user=SSH_USER,
                key_path=key,
                host_public_key=h["host_public_key"],
                hostname=h["hostname"],
                port=22,
                netns=h["netns"],
                index=i,
            )
            for i, h in enumerate(st["hosts"])
        ]
        self.known_hosts_path.write_text("".join(h.known_hosts_line() + "\n" for h in self.hosts))

    def _build_host(self, i: int, etc_hosts: str) -> None:
        st = self._state
        h = st["hosts"][i]
        hdir = Path(h["dir"])
        hdir.mkdir(mode=0o755)
        hkey = hdir / "ssh_host_ed25519_key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h["hostname"], "-f", str(hkey)])
        pub = hkey.with_suffix(".pub").read_text().split()
        h["host_public_key"] = f"{pub[0]} {pub[1]}"
        (hdir / "hosts").write_text(f"127.0.0.1 localhost\n{etc_hosts}")
        delay = h["delay_ms"]
        sshd_listen = ["127.0.0.1", 22] if delay else [h["address"], 22]
        (hdir / "sshd_config").write_text(
            "\n".join(
                [
                    "# sshd of one nomadctl test host (real OpenSSH; see tests/testbed)",
                    f"ListenAddress {sshd_listen[0]}:{sshd_listen[1]}",
                    f"HostKey {hkey}",
                    f"PidFile {hdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    f"AllowUsers {SSH_USER} root",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowTcpForwarding yes",
                    "MaxStartups 200",
                    "MaxSessions 100",
                    "LoginGraceTime 30",
                    "Subsystem sftp internal-sftp",
                    f"SetEnv PATH={SESSION_PATH}",
                    "",
                ]
            )
        )
        uid_of = {
            name: (pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid)
            for name in {o for _, _, o in PRIVATE_DIRS}
        }
        overlay_base = hdir / "overlay"
        overlay_base.mkdir(exist_ok=True)
        cfg = {
            "hostname": h["hostname"],
            "overlays": h.get("overlays", []),
            "overlay_base": str(overlay_base),
            "open_dirs": _closed_dirs(),
            "private_dirs": [[p, m, *uid_of[o]] for p, m, o in PRIVATE_DIRS],
            "binds": [[str(hdir / "hosts"), "/etc/hosts"]],
            "install": [
                [str(self.dir / "systemctl"), "/usr/local/sbin/systemctl"],
                [str(self.dir / "systemctl"), "/usr/local/sbin/journalctl"],
            ],
            "sshd": SSHD,
            "ip": shutil.which("ip") or "/usr/sbin/ip",
            "sshd_config": str(hdir / "sshd_config"),
            "sshd_log": str(hdir / "sshd.log"),
            "sshd_listen": sshd_listen,
            "relay_listen": [h["address"], 22] if delay else None,
            "delay_ms": delay,
            "control_socket": str(hdir / "ctl.sock"),
            "hostd_log": str(hdir / "hostd.log"),
        }
        # If the machine has a real systemctl/journalctl, hide it behind the shim on the host.
        seen = set()
        for real in (
            "/usr/bin/systemctl",
            "/usr/bin/journalctl",
            "/bin/systemctl",
            "/bin/journalctl",
        ):
            target = os.path.realpath(real)
            if os.path.isfile(target) and target not in seen:
                seen.add(target)
                cfg["binds"].append([str(self.dir / "systemctl"), target])
        (hdir / "host.json").write_text(json.dumps(cfg, indent=1))

        ns, veth = h["netns"], h["veth"]
        _run(["ip", "netns", "add", ns])
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        _write_sysctl(f"net/ipv6/conf/{veth}/disable_ipv6", "1")
        _run(["ip", "link", "set", veth, "master", st["bridge"], "up"])
        prefix = ipaddress.ip_network(st["subnet"]).prefixlen
        _run(["ip", "-n", ns, "addr", "add", f"{h['address']}/{prefix}", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

        with open(hdir / "hostd.log", "ab") as errlog:
            proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "unshare",
                    "-m",
                    "-u",
                    "--propagation",
                    "private",
                    sys.executable,
                    "-I",
                    str(_HERE / "_hostd.py"),
                    str(hdir / "host.json"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errlog,
                start_new_session=True,
                close_fds=True,
            )
        self._procs[h["name"]] = proc
        h["anchor_pid"] = proc.pid
        assert proc.stdout is not None
        line = _readline_timeout(proc.stdout, 30.0)
        proc.stdout.close()
        if not line.startswith("ready "):
            log = (hdir / "hostd.log").read_text(errors="replace")[-2000:]
            raise TestbedError(
                f"host {h['name']} ({h['address']}) did not come up: {line.strip() or 'no answer'}"
                f"\n{log}"
            )
        h["anchor_start"] = _proc_start(proc.pid)

    # ---- host lookup ---------------------------------------------------------------------
    def host(self, key: Host | str | int) -> Host:
        """A host by Host, name, address or index."""
        if isinstance(key, Host):
            return key
        if isinstance(key, int):
            return self.hosts[key]
        for h in self.hosts:
            if key in (h.name, h.address, h.hostname, h.netns):
                return h
        raise KeyError(key)

    def _hstate(self, host: Host | str | int) -> dict[str, Any]:
        return self._state["hosts"][self.host(host).index]

    def _anchor(self, host: Host | str | int) -> int:
        h = self._hstate(host)
        pid = h.get("anchor_pid")
        if not _alive(pid, h.get("anchor_start")):
            raise TestbedError(f"host {h['name']} is not running (anchor process gone)")
        return pid

    def host_dir(self, host: Host | str | int) -> Path:
        """The host's directory on the machine (sshd_config, sshd.log, hostd.log)."""
        return Path(self._hstate(host)["dir"])

    # ---- inspecting hosts ------------------------------------------------------------------
    def exec(
        self,
        host: Host | str | int,
        cmd: str | Sequence[str],
        check: bool = True,
        *,
        input: str | bytes | None = None,
        timeout: float = 60,
        text: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` as root inside the host's network, mount and UTS namespaces (not over
        SSH). A string goes to ``/bin/sh -c``. Raises CalledProcessError when ``check`` and
        the exit status is not 0."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        full = ["nsenter", "-t", str(self._anchor(host)), "-n", "-m", "-u", "--", *argv]
        if text and isinstance(input, bytes):
            input = input.decode()
        res = subprocess.run(full, capture_output=True, text=text, input=input, timeout=timeout)
        if check and res.returncode != 0:
            raise subprocess.CalledProcessError(res.returncode, argv, res.stdout, res.stderr)
        return res

    def _path(self, host: Host | str | int, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"absolute path required, got {path!r}")
        # /proc/<pid>/root resolves paths in that process's mount namespace, but an absolute
        # symlink met on the way would restart at OUR root: resolve symlinks here.
        root = f"/proc/{self._anchor(host)}/root"
        parts = [p for p in path.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = root + "/" + "/".join([*resolved, part])
            if os.path.islink(candidate):
                hops += 1
                if hops > 40:
                    raise OSError(f"too many symlinks in {path}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            resolved.append(part)
        return root + "/" + "/".join(resolved)

    def read_file(self, host: Host | str | int, path: str) -> bytes | None:
        """Contents of ``path`` as seen on the host, None if it does not exist."""
        try:
            with open(self._path(host, path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def file_mode(self, host: Host | str | int, path: str) -> int | None:
        """Permission bits (e.g. 0o600) of ``path`` on the host, None if missing."""
        try:
            return os.stat(self._path(host, path)).st_mode & 0o7777
        except (FileNotFoundError, NotADirectoryError):
            return None

    def file_owner(self, host: Host | str | int, path: str) -> tuple[int, int] | None:
        """(uid, gid) of ``path`` on the host, None if missing."""
        try:
            st = os.stat(self._path(host, path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_uid, st.st_gid

    def write_file(
        self,
        host: Host | str | int,
        path: str,
        data: bytes | str,
        mode: int = 0o644,
        dir_mode: int | None = None,
    ) -> None:
        """Write a file on the host directly (as root), e.g. to plant a fault. `dir_mode`
        sets its directory's mode too: a fault is taken away by the agent that meets it, and
        a server's agent runs as `nomad`, not root (0o777; not sticky, or only root could)."""
        p = self._path(host, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(p, mode)
        if dir_mode is not None:
            os.chmod(os.path.dirname(p), dir_mode)

    def unit_log(self, host: Host | str | int, unit: str = "nomad") -> str:
        """What the unit's processes wrote (stdout+stderr), as the systemctl shim kept it."""
        data = self.read_file(host, f"{SHIM_STATE_DIR}/{_unit_base(unit)}.log")
        return (data or b"").decode(errors="replace")

    def unit_pid(self, host: Host | str | int, unit: str = "nomad") -> int | None:
        """Main pid of a unit started through the shim, None if it is not running."""
        data = self.read_file(host, f"{SHIM_STATE_DIR}/{_unit_base(unit)}.pid")
        if not data:
            return None
        try:
            pid_s, start = data.decode().split()
            pid = int(pid_s)
        except ValueError:
            return None
        return pid if _alive(pid, start) else None

    def pids(self, host: Host | str | int) -> list[int]:
        """All live processes in the host's network namespace (anchor, sshd, units...)."""
        ino = _ns_inode(self.host(host).netns)
        return sorted(_netns_pids().get(ino, [])) if ino else []

    # ---- faults ------------------------------------------------------------------------
    def net_down(self, host: Host | str | int) -> None:
        """Unplug the host: its veth on the bridge goes down (nothing reaches it)."""
        _run(["ip", "link", "set", self._hstate(host)["veth"], "down"])

    def net_up(self, host: Host | str | int) -> None:
        """Plug the host back in."""
        _run(["ip", "link", "set", self._hstate(host)["veth"], "up"])

    def kill_sshd(
        self, host: Host | str | int, sig: int = signal.SIGTERM, sessions: bool = False
    ) -> None:
        """Stop the host's sshd listener (new SSH connections are refused). With
        ``sessions`` also kill the running SSH sessions of that host."""
        self._control(host, f"kill-sshd {int(sig)}")
        if sessions:
            for pid in self.pids(host):
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                        os.kill(pid, signal.SIGKILL)

    def start_sshd(self, host: Host | str | int) -> int:
        """(Re)start the host's sshd after :meth:`kill_sshd`; returns its pid once listening."""
        return int(self._control(host, "start-sshd"))

    def set_delay(self, host: Host | str | int, delay_ms: int) -> None:
        """Change the added delay of a host created with delay_ms > 0."""
        self._control(host, f"delay {int(delay_ms)}")

    def kill_unit(
        self, host: Host | str | int, unit: str = "nomad", sig: int = signal.SIGKILL
    ) -> int | None:
        """Kill a shim-started unit's process group behind the shim's back (a crash: the
        shim then reports it "failed"). Returns the pid killed, None if it was not running."""
        pid = self.unit_pid(host, unit)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        return pid

    def _control(self, host: Host | str | int, line: str) -> str:
        sock_path = str(self.host_dir(host) / "ctl.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(sock_path)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        reply = buf.decode().strip()
        status, _, rest = reply.partition(" ")
        if status != "ok":
            raise TestbedError(f"host {self.host(host).name}: {line!r} failed: {reply}")
        return rest

    # ---- SSH convenience ---------------------------------------------------------------
    def ssh_client(self, host: Host | str | int, user: str | None = None, timeout: float = 10):
        """A connected paramiko SSHClient that checks the host key (RejectPolicy)."""
        import paramiko

        h = self.host(host)
        client = paramiko.SSHClient()
        keytype, b64 = h.host_public_key.split()[:2]
        client.get_host_keys().add(
            h.address, keytype, paramiko.PKey.from_type_string(keytype, _b64(b64))
        )
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                h.address,
                port=h.port,
                username=user or h.user,
                key_filename=str(h.key_path),
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except BaseException:  # a failed connect leaves paramiko's transport thread running
            client.close()
            raise
        return client

    def info(self) -> dict[str, Any]:
        """JSON-able description (what ``python -m tests.testbed up`` prints)."""
        return {
            "id": self.id,
            "subnet": self.subnet,
            "bridge": self.bridge,
            "bridge_address": self.bridge_address,
            "key_path": str(self.key_path),
            "known_hosts": str(self.known_hosts_path),
            "hosts": [
                {
                    **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(h).items()},
                    "delay_ms": self._state["hosts"][h.index].get("delay_ms", 0),
                }
                for h in self.hosts
            ],
        }

    # ---- teardown ----------------------------------------------------------------------
    def teardown(self) -> None:
        """Remove everything of this testbed: processes (agents started through the shim
        included), namespaces, veths, bridge, private mounts, its directory. Idempotent."""
        if self._torn_down:
            return
        _destroy(self._state, self._procs)
        self._torn_down = True

    @classmethod
    def load(cls, tb_id: str) -> Testbed:
        """A handle on an existing testbed (e.g. one made by ``python -m tests.testbed up``)."""
        state = json.loads((BASE_DIR / tb_id / "state.json").read_text())
        return cls(state)


def _b64(s: str) -> bytes:
    import base64

    return base64.b64decode(s)


def _unit_base(unit: str) -> str:
    return unit[: -len(".service")] if unit.endswith(".service") else unit


def _write_sysctl(key: str, value: str) -> None:
    with contextlib.suppress(OSError), open(f"/proc/sys/{key}", "w") as f:
        f.write(value)


def _readline_timeout(stream, timeout: float) -> str:
    import select

    deadline = time.monotonic() + timeout
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")


def _destroy(state: dict[str, Any], procs: dict[str, subprocess.Popen] | None = None) -> None:
    """Tear down a testbed from its recorded state (also partial states of a crashed run)."""
    procs = procs or {}
    hosts = state.get("hosts", [])
    inodes = {ino for ino in (_ns_inode(h["netns"]) for h in hosts) if ino}
    anchors = {
        h["anchor_pid"]
        for h in hosts
        if h.get("anchor_pid") and _alive(h["anchor_pid"], h.get("anchor_start"))
    }
    anchors |= {p.pid for p in procs.values() if p.poll() is None}
    # 1. everything on the hosts but their anchors (the anchors reap them, no zombies)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        by_ns = _netns_pids()
        victims = [p for ino in inodes for p in by_ns.get(ino, []) if p not in anchors]
        if not victims:
            break
        for p in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        time.sleep(0.02)
    # 2. the anchors
    for p in anchors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    for proc in procs.values():
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in anchors) and time.monotonic() < deadline:
        time.sleep(0.02)
    # 3. namespaces (their veth ends go with them), leftover veths, the bridge
    batch = "".join(
        f"netns del {h['netns']}\n" for h in hosts if os.path.exists(f"/run/netns/{h['netns']}")
    )
    if batch:
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)
    links = _run(["ip", "-o", "link", "show"], check=False).stdout
    names = {
        line.split(":")[1].strip().split("@")[0]
        for line in links.splitlines()
        if line.count(":") >= 2
    }
    batch = "".join(f"link del {h['veth']}\n" for h in hosts if h.get("veth") in names)
    if state.get("bridge") in names:
        batch += f"link del {state['bridge']}\n"
    if batch:
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)
    # 4. the directory
    d = state.get("dir")
    if d and Path(d).is_dir() and Path(d).parent == BASE_DIR:
        shutil.rmtree(d, ignore_errors=True)


def list_testbeds() -> list[dict[str, Any]]:
    """States of all testbeds on this machine (any owner)."""
    out = []
    if BASE_DIR.is_dir():
        for d in sorted(BASE_DIR.iterdir()):
            f = d / "state.json"
            if f.is_file():
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    out.append(json.loads(f.read_text()))
    return out


def _owner_alive(state: dict[str, Any]) -> bool:
    return _alive(state.get("owner_pid"), state.get("owner_start"))


def sweep_stale() -> list[str]:
    """Remove testbeds left by an earlier run that crashed: those whose owner process is
    dead and that were not made by ``up`` (persistent). Returns the ids removed."""
    removed = []
    if not BASE_DIR.is_dir():
        return removed
    with _global_lock():
        for d in sorted(BASE_DIR.iterdir()):
            if not d.is_dir():
                continue
            f = d / "state.json"
            try:
                state = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                # a directory without state: only remove it when old (not being created)
                if time.time() - d.stat().st_mtime > 600:
                    shutil.rmtree(d, ignore_errors=True)
                continue
            if state.get("persistent") or _owner_alive(state):
                continue
            _destroy(state)
            removed.append(state["id"])
    return removed


def destroy_by_id(tb_id: str) -> None:
    state = json.loads((BASE_DIR / tb_id / "state.json").read_text())
    _destroy(state)
