"""Test network of real SSH hosts on one Linux machine ("testbed").

What is real and what is not
----------------------------
REAL: every host is a Linux network namespace with its own address in 198.18.0.0/15 (the
range reserved for network tests; nothing else is ever used), plugged by a veth pair into a
bridge in the root namespace (the bridge has ``.1``, hosts ``.4`` and up by default, matching
the private IPs moto hands out in that subnet). On it runs a real OpenSSH ``sshd``
(``/usr/sbin/sshd``) with per-host ed25519 host keys, accepting a per-testbed ed25519 key for
``ubuntu`` (passwordless ``sudo``, real sudo) and ``root``. Connections are real TCP through
the kernel. Each host has a private mount namespace with tmpfs over ``/etc/nomad.d``,
``/opt/nomad``, ``/etc/systemd/system``, ``/usr/local/bin``, ``/usr/local/sbin``, ``/tmp``,
``/home/ubuntu`` and ``/run/testbed-shim``, a private UTS namespace (host name
``ip-198-18-1-4`` like EC2) and its own ``/etc/hosts``; so what one host writes there is
invisible on the others and on the machine. ``/etc`` is always a private copy-on-write overlay
of the machine's (upper layer on a tmpfs in the host's namespace): nomadctl's `useradd` of
the ``nomad`` user (servers run as it) changes that host's /etc/passwd only. The PID namespace
and the rest of the file system (``/usr``, ``/root``) are shared with the machine, unless the
testbed is created with ``overlays=("/usr", "/var")``: then each host gets private overlays of
those too, so that dpkg/apt run on a host change that host only
(tests/node/test_install_apt.py). Directories on the way to the interpreter that runs the
stand-in which other users cannot enter (``/root``, 0700, holding a pyenv or a venv) are
opened up on each host only (a 0711 tmpfs with the real entries bound back), so an agent
running as ``nomad`` can start; the machine's modes stay as they are.

Each host has one "anchor" process (``_hostd.py``, running as root in the host's namespaces):
it made the mounts, runs sshd as its child, reaps every orphan of the host (it is the host's
child subreaper, standing in for pid 1) and starts units for the shim.

Changes to the machine itself (idempotent, left in place): user ``ubuntu`` (password field
``*``, so key login works without PAM), ``/etc/sudoers.d/nomadctl-testbed``, ``/run/sshd``,
empty mount-point directories, and a blackhole route for 198.18.0.0/15 so that traffic to a
torn-down testbed never leaves through the default route (live bridges' /24s win over it).

STAND-IN: there is no systemd. ``systemctl`` (and ``journalctl -u``) on the hosts is a small
shim (``_shim.py``, installed as ``/usr/local/sbin/systemctl`` and bound over
``/usr/bin/systemctl``) that has the anchor start a unit's ``ExecStart`` detached (output
appended to ``/run/testbed-shim/<unit>.log``), keeps pid files, exit statuses and enabled
flags in ``/run/testbed-shim`` and stops units with their KillSignal, then SIGKILL after
TimeoutStopSec (default 10 s).
``Restart=`` is ignored on purpose. Network delay (``delay_ms``) is a user-space TCP relay in
front of sshd (the kernel here has no netem), delaying each direction by ``delay_ms``, so one
SSH round trip costs 2 x delay_ms more; port 4646 etc. are not delayed.

Public API
----------
::

    @dataclass(frozen=True)
    class Host:
        name: str              # "host1", "host2", ...
        address: str           # "198.18.1.4", ...
        user: str              # "ubuntu"
        key_path: Path         # private key (OpenSSH ed25519), also good for root
        host_public_key: str   # "ssh-ed25519 AAAA..." of the host's sshd
        hostname: str          # "ip-198-18-1-4" (the host's own hostname)
        port: int              # 22
        netns: str             # "tb-<id>-<i>"
        index: int
        def known_hosts_line() -> str      # "198.18.1.4 ssh-ed25519 AAAA..."

    class Testbed:
        Testbed.create(n, *, subnet="198.18.1.0/24" | None (pick a free 198.18.N.0/24),
                       first_host=4, delay_ms=0 | [per host], persistent=False,
                       overlays=()) -> Testbed
        Testbed.load(id) -> Testbed
        id, hosts: list[Host], subnet, bridge, bridge_address, key_path, known_hosts_path, dir
        host(name | address | index | Host) -> Host
        exec(host, cmd: str | list[str], check=True, *, input=None, timeout=60, text=True)
            -> subprocess.CompletedProcess      # as root in the host's namespaces, not SSH
        read_file(host, path) -> bytes | None
        write_file(host, path, data, mode=0o644)
        file_mode(host, path) -> int | None     # e.g. 0o600
        file_owner(host, path) -> (uid, gid) | None
        unit_log(host, unit="nomad") -> str     # stdout+stderr of the unit (shim's log)
        unit_pid(host, unit="nomad") -> int | None
        pids(host) -> list[int]                 # live processes in the host's netns
        net_down(host); net_up(host)            # veth on the bridge down / up
        kill_sshd(host, sig=SIGTERM, sessions=False); start_sshd(host) -> pid
        kill_unit(host, unit="nomad", sig=SIGKILL) -> pid | None   # a crash
        set_delay(host, ms)                     # only hosts created with delay_ms > 0
        ssh_client(host, user=None) -> paramiko.SSHClient   # RejectPolicy + host key
        info() -> dict                          # what `up` prints
        teardown()                              # idempotent; also a context manager

    TestbedError, check_prerequisites(), sweep_stale(), free_subnet(), list_testbeds()

Pytest (``tests/testbed/fixtures.py``, loaded by ``tests/conftest.py``)::

    def test_x(testbed_factory):
        tb = testbed_factory(6)                      # free 198.18.N.0/24, torn down after
        tb = testbed_factory(3, subnet="198.18.1.0/24", delay_ms=50)

``testbed_factory_module`` is the same with module scope. A missing prerequisite (root,
sshd, ip, unshare, nsenter...) makes the fixture FAIL, never skip. At session start,
testbeds whose owner process died (a crashed run) are swept; live ones and ``up`` ones stay.

For people::

    python -m tests.testbed up --hosts 3 [--subnet 198.18.1.0/24] [--first-host 4] [--delay-ms D]
    python -m tests.testbed list
    python -m tests.testbed down [--id ID]      # default: every testbed made by `up`
"""

from tests.testbed.core import (
    DEFAULT_FIRST_HOST,
    DEFAULT_SUBNET,
    SHIM_STATE_DIR,
    Host,
    Testbed,
    TestbedError,
    check_prerequisites,
    free_subnet,
    list_testbeds,
    sweep_stale,
)

__all__ = [
    "DEFAULT_FIRST_HOST",
    "DEFAULT_SUBNET",
    "SHIM_STATE_DIR",
    "Host",
    "Testbed",
    "TestbedError",
    "check_prerequisites",
    "free_subnet",
    "list_testbeds",
    "sweep_stale",
]
