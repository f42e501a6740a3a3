"""The test network itself: real OpenSSH hosts in network namespaces (tests/testbed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paramiko
import pytest

from tests.testbed import Host, Testbed, TestbedError, list_testbeds, sweep_stale
from tests.testbed.core import BASE_DIR

pytestmark = pytest.mark.testbed
REPO = Path(__file__).resolve().parent.parent


def connect(host: Host, user: str | None = None, timeout: float = 5.0) -> paramiko.SSHClient:
    """Real SSH with the host key checked (RejectPolicy, key known beforehand)."""
    client = paramiko.SSHClient()
    keytype, b64 = host.host_public_key.split()[:2]
    client.get_host_keys().add(
        host.address,
        keytype,
        paramiko.PKey.from_type_string(keytype, __import__("base64").b64decode(b64)),
    )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host.address,
            port=host.port,
            username=user or host.user,
            key_filename=str(host.key_path),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:  # a refused host key leaves paramiko's transport thread running
        client.close()
        raise
    return client


def run(client: paramiko.SSHClient, cmd: str, timeout: float = 30) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(cmd, timeout=timeout)
    out = stdout.read().decode()
    err = stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err


@pytest.fixture(scope="module")
def tb6(testbed_factory_module) -> Testbed:
    return testbed_factory_module(6)


def test_six_hosts_reachable_over_real_ssh(tb6: Testbed) -> None:
    assert len(tb6.hosts) == 6
    addresses = [h.address for h in tb6.hosts]
    assert len(set(addresses)) == 6
    assert all(a.startswith("198.18.") for a in addresses)
    for host in tb6.hosts:
        with contextlib.closing(connect(host)) as c:
            rc, out, err = run(
                c,
                "id -un; hostname; sudo -n true && echo sudo-ok; "
                "command -v systemctl; sudo -n sh -c 'command -v systemctl'",
            )
            assert rc == 0, err
            assert out.split() == [
                "ubuntu",
                host.hostname,
                "sudo-ok",
                "/usr/local/sbin/systemctl",
                "/usr/local/sbin/systemctl",
            ]
        with contextlib.closing(connect(host, user="root")) as c:
            rc, out, _ = run(c, "id -u; ip -4 -o addr show dev eth0")
            assert rc == 0
            assert out.split()[0] == "0"
            assert f"{host.address}/" in out


def test_wrong_host_key_is_rejected(tb6: Testbed) -> None:
    h1, h2 = tb6.hosts[0], tb6.hosts[1]
    impostor = Host(h1.name, h1.address, h1.user, h1.key_path, h2.host_public_key)
    with pytest.raises(paramiko.SSHException):
        connect(impostor).close()


def test_files_are_private_to_each_host(tb6: Testbed) -> None:
    h1 = tb6.hosts[0]
    with contextlib.closing(connect(h1)) as c:
        rc, _, err = run(
            c,
            "echo secret | sudo -n tee /etc/nomad.d/only-here.hcl >/dev/null && "
            "sudo -n chmod 600 /etc/nomad.d/only-here.hcl && "
            "echo tmp > /tmp/only-here && sudo -n touch /usr/local/bin/nomad",
        )
        assert rc == 0, err
    assert tb6.read_file(h1, "/etc/nomad.d/only-here.hcl") == b"secret\n"
    assert tb6.file_mode(h1, "/etc/nomad.d/only-here.hcl") == 0o600
    assert tb6.exec(h1, "cat /etc/nomad.d/only-here.hcl").stdout == "secret\n"
    # absolute symlinks are resolved on the host, not on the machine
    tb6.exec(h1, "ln -s /etc/nomad.d/only-here.hcl /opt/nomad/link")
    assert tb6.read_file(h1, "/opt/nomad/link") == b"secret\n"
    for other in tb6.hosts[1:]:
        for path in ("/etc/nomad.d/only-here.hcl", "/tmp/only-here", "/usr/local/bin/nomad"):
            assert tb6.read_file(other, path) is None
        assert (
            tb6.exec(other, ["test", "-e", "/etc/nomad.d/only-here.hcl"], check=False).returncode
            == 1
        )
    for path in ("/etc/nomad.d/only-here.hcl", "/tmp/only-here", "/usr/local/bin/nomad"):
        assert not os.path.exists(path)


UNIT = """\
[Unit]
Description=testbed shim check
[Service]
Environment="GREETING=hello from the unit"
ExecStart=/bin/sh -c 'echo "$$GREETING"; exec /usr/bin/sleep 1000'
KillSignal=SIGINT
"""


def test_shim_starts_stops_and_restarts_units(tb6: Testbed) -> None:
    h1, h2 = tb6.hosts[0], tb6.hosts[1]
    with contextlib.closing(connect(h1)) as c:
        rc, _, err = run(
            c,
            f"sudo -n tee /etc/systemd/system/sleeper.service >/dev/null <<'EOF'\n"
            f"{UNIT}EOF\nsudo -n systemctl daemon-reload && "
            "sudo -n systemctl enable --now sleeper",
        )
        assert rc == 0, err
        rc, out, _ = run(c, "systemctl is-active sleeper.service")
        assert (rc, out.strip()) == (0, "active")
        rc, out, _ = run(c, "systemctl is-enabled sleeper")
        assert (rc, out.strip()) == (0, "enabled")
        pid = tb6.unit_pid(h1, "sleeper")
        assert pid is not None
        assert pid in tb6.pids(h1)
        assert pid not in tb6.pids(h2)
        # the unit's process lives in h1's mount namespace
        assert (
            os.readlink(f"/proc/{pid}/ns/mnt")
            == tb6.exec(h1, "readlink /proc/self/ns/mnt").stdout.strip()
        )
        assert "hello from the unit" in tb6.unit_log(h1, "sleeper")

        rc, _, err = run(c, "sudo -n systemctl restart sleeper")
        assert rc == 0, err
        new_pid = tb6.unit_pid(h1, "sleeper")
        assert new_pid is not None and new_pid != pid
        assert not _alive(pid)

        rc, _, err = run(c, "sudo -n systemctl stop sleeper")
        assert rc == 0, err
        assert not _alive(new_pid)
        rc, out, _ = run(c, "systemctl is-active sleeper")
        assert (rc, out.strip()) == (3, "inactive")
        rc, out, _ = run(c, "systemctl status sleeper")
        assert rc == 3 and "inactive" in out
    # other hosts know nothing about it
    with contextlib.closing(connect(h2)) as c:
        rc, out, _ = run(c, "systemctl is-active sleeper")
        assert (rc, out.strip()) == (3, "inactive")


def test_unit_serves_on_its_host_address_and_crash_shows_failed(tb6: Testbed) -> None:
    h3 = tb6.hosts[2]
    unit = (
        "[Service]\n"
        f"ExecStart=/usr/bin/python3 -m http.server 4646 --bind {h3.address}\n"
        "WorkingDirectory=/etc/nomad.d\n"
    )
    tb6.write_file(h3, "/etc/nomad.d/hello.txt", "served\n")
    with contextlib.closing(connect(h3, user="root")) as c:
        rc, _, err = run(
            c, f"cat > /etc/systemd/system/web.service <<'EOF'\n{unit}EOF\nsystemctl start web"
        )
        assert rc == 0, err
    url = f"http://{h3.address}:4646/hello.txt"
    body = _wait_http(url)
    assert body == b"served\n"
    pid = tb6.kill_unit(h3, "web")
    assert pid is not None
    deadline = time.monotonic() + 5
    state = ""
    while time.monotonic() < deadline:
        state = tb6.exec(h3, "systemctl is-active web", check=False).stdout.strip()
        if state == "failed":
            break
        time.sleep(0.05)
    assert state == "failed"
    assert "signal=SIGKILL" in tb6.unit_log(h3, "web")


def test_net_down_and_up(tb6: Testbed) -> None:
    h4 = tb6.hosts[3]
    tb6.net_down(h4)
    try:
        with pytest.raises((OSError, paramiko.SSHException)):
            connect(h4, timeout=1).close()
    finally:
        tb6.net_up(h4)
    with contextlib.closing(connect(h4)) as c:
        assert run(c, "true")[0] == 0


def test_kill_and_start_sshd(tb6: Testbed) -> None:
    h5 = tb6.hosts[4]
    tb6.kill_sshd(h5)
    with pytest.raises((OSError, paramiko.SSHException)):
        connect(h5, timeout=1).close()
    tb6.start_sshd(h5)
    with contextlib.closing(connect(h5)) as c:
        assert run(c, "sudo -n true")[0] == 0


def test_delay_slows_ssh_round_trips(testbed_factory) -> None:
    tb = testbed_factory(2, delay_ms=[0, 50])
    fast, slow = tb.hosts
    times = {}
    for host in (fast, slow):
        with contextlib.closing(connect(host)) as c:
            run(c, "true")
            t0 = time.monotonic()
            for _ in range(3):
                assert run(c, "true")[0] == 0
            times[host.name] = (time.monotonic() - t0) / 3
    # one exec is several round trips; each round trip gets 2 x 50 ms
    assert times[slow.name] > 0.05, times
    assert times[slow.name] > times[fast.name] + 0.05, times


def test_teardown_leaves_nothing(testbed_factory) -> None:
    tb = testbed_factory(2)
    h = tb.hosts[0]
    tb.exec(
        h,
        "printf '[Service]\\nExecStart=/usr/bin/sleep 1000\\n' "
        "> /etc/systemd/system/s.service && systemctl start s",
    )
    unit_pid = tb.unit_pid(h, "s")
    assert unit_pid is not None
    pids = {p for host in tb.hosts for p in tb.pids(host)}
    mnt_ns = {os.readlink(f"/proc/{p}/ns/mnt") for p in pids}
    assert unit_pid in pids and len(pids) >= 5  # 2 anchors, 2 sshd, 1 unit
    names = [host.netns for host in tb.hosts]
    tb.teardown()

    assert not set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    ) & set(names)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"tb-{tb.id}" not in links and f"tb{tb.id}v" not in links
    ps = subprocess.run(["ps", "-eo", "pid=,stat="], capture_output=True, text=True).stdout
    live = {int(line.split()[0]) for line in ps.splitlines() if "Z" not in line.split()[1]}
    assert not pids & live
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                assert os.readlink(f"/proc/{entry}/ns/mnt") not in mnt_ns
    with open("/proc/mounts") as f:
        assert str(tb.dir) not in f.read()
    assert not tb.dir.exists()
    assert tb.subnet not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout


def test_refuses_routed_or_foreign_subnet(testbed_factory) -> None:
    tb = testbed_factory(1)
    with pytest.raises(TestbedError, match="already routed"):
        Testbed.create(1, subnet=tb.subnet)
    with pytest.raises(TestbedError, match=r"198\.18\.0\.0/15"):
        Testbed.create(1, subnet="10.9.8.0/24")


def test_sweep_removes_only_crashed_testbeds(testbed_factory) -> None:
    mine = testbed_factory(1)
    code = (
        "import os, json; from tests.testbed import Testbed\n"
        "tb = Testbed.create(1, subnet=None)\n"
        "print(tb.id, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    crashed = res.stdout.strip()
    assert crashed, res.stderr
    assert (BASE_DIR / crashed).is_dir()
    removed = sweep_stale()
    assert crashed in removed
    assert mine.id not in removed
    assert not (BASE_DIR / crashed).exists()
    with contextlib.closing(connect(mine.hosts[0])) as c:
        assert run(c, "true")[0] == 0


def test_cli_up_and_down() -> None:
    busy = any(s["subnet"] == "198.18.1.0/24" for s in list_testbeds())
    cmd = [sys.executable, "-m", "tests.testbed", "up", "--hosts", "2"]
    if busy:
        cmd += ["--subnet", "auto"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    if res.returncode != 0 and "already routed" in res.stderr:
        res = subprocess.run(
            [*cmd, "--subnet", "auto"], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    try:
        assert len(info["hosts"]) == 2
        # the hosts outlive the `up` command
        for h in info["hosts"]:
            host = Host(
                h["name"], h["address"], h["user"], Path(h["key_path"]), h["host_public_key"]
            )
            with contextlib.closing(connect(host)) as c:
                assert run(c, "sudo -n true")[0] == 0
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "tests.testbed", "down", "--id", info["id"]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert down.returncode == 0, down.stderr
    assert not (BASE_DIR / info["id"]).exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"tb-{info['id']}-" not in netns


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_http(url: str, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_kill_sshd_sessions_flag_is_scoped_to_host(tb6: Testbed) -> None:
    h6, h1 = tb6.hosts[5], tb6.hosts[0]
    keep = connect(h1)
    try:
        tb6.kill_sshd(h6, sig=signal.SIGKILL, sessions=True)
        assert run(keep, "true")[0] == 0  # h1's session untouched
        tb6.start_sshd(h6)
        with contextlib.closing(connect(h6)) as c:
            assert run(c, "true")[0] == 0
    finally:
        keep.close()


def test_missing_prerequisite_fails_not_skips(tmp_path: Path) -> None:
    (tmp_path / "test_needs_hosts.py").write_text(
        "def test_needs_hosts(testbed_factory):\n    testbed_factory(1)\n"
    )
    env = {**os.environ, "PATH": str(tmp_path / "empty"), "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.testbed.fixtures",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_needs_hosts.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 failed" in res.stdout and "skipped" not in res.stdout
    assert "testbed prerequisites missing" in res.stdout
    assert "ip not found" in res.stdout


def test_shim_reports_units_that_cannot_start(tb6: Testbed) -> None:
    h6 = tb6.hosts[5]
    tb6.write_file(
        h6,
        "/etc/systemd/system/nouser.service",
        "[Service]\nUser=no-such-user\nExecStart=/usr/bin/sleep 100\n",
    )
    tb6.write_file(
        h6,
        "/etc/systemd/system/crash.service",
        "[Service]\nExecStart=/bin/sh -c 'echo bad config >&2; exit 3'\n",
    )
    res = tb6.exec(h6, "systemctl start nouser", check=False)
    assert res.returncode != 0
    assert tb6.exec(h6, "systemctl is-active nouser", check=False).stdout.strip() == "failed"
    assert tb6.exec(h6, "systemctl start crash", check=False).returncode == 0  # Type=simple
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if tb6.exec(h6, "systemctl is-active crash", check=False).stdout.strip() == "failed":
            break
        time.sleep(0.05)
    res = tb6.exec(h6, "systemctl is-active crash", check=False)
    assert (res.returncode, res.stdout.strip()) == (3, "failed")
    assert "bad config" in tb6.unit_log(h6, "crash")
    assert "status=3" in tb6.unit_log(h6, "crash")
    assert tb6.exec(h6, "journalctl -u crash --no-pager").stdout == tb6.unit_log(h6, "crash")
    assert tb6.exec(h6, "systemctl start missing", check=False).returncode == 5


NOTIFY_READY = (
    '[Service]\nType=notify\nExecStart=/usr/bin/python3 -c "import os, socket, time; '
    "time.sleep(0.3); open('/tmp/before-ready', 'w').close(); "
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(os.environ['NOTIFY_SOCKET']); "
    "s.send(b'READY=1'); time.sleep(300)\"\n"
)


def test_shim_honours_type_notify(tb6: Testbed) -> None:
    """Type=notify: `start` returns once READY=1 arrives, fails when the process dies first
    or sends nothing within TimeoutStartSec."""
    h5 = tb6.hosts[4]
    tb6.write_file(h5, "/etc/systemd/system/ready.service", NOTIFY_READY)
    tb6.write_file(
        h5,
        "/etc/systemd/system/silent.service",
        "[Service]\nType=notify\nTimeoutStartSec=1\nExecStart=/usr/bin/sleep 300\n",
    )
    tb6.write_file(
        h5,
        "/etc/systemd/system/dies.service",
        "[Service]\nType=notify\nExecStart=/bin/sh -c 'exit 3'\n",
    )
    res = tb6.exec(h5, "systemctl start ready", check=False)
    assert res.returncode == 0, res.stderr
    assert tb6.read_file(h5, "/tmp/before-ready") is not None  # returned after READY=1
    assert tb6.exec(h5, "systemctl is-active ready").stdout.strip() == "active"
    assert "ready (READY=1 received)" in tb6.unit_log(h5, "ready")

    res = tb6.exec(h5, "systemctl start silent", check=False)
    assert res.returncode == 1 and "failed" in res.stderr
    assert "no READY=1 within 1s" in tb6.unit_log(h5, "silent")
    assert tb6.unit_pid(h5, "silent") is None
    assert tb6.exec(h5, "systemctl is-active silent", check=False).stdout.strip() != "active"

    res = tb6.exec(h5, "systemctl start dies", check=False)
    assert res.returncode == 1
    assert "exited before it notified READY=1" in tb6.unit_log(h5, "dies")
    tb6.exec(h5, "systemctl stop ready")
