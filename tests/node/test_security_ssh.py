"""Issue 15, point 4: host-key pins compared under the lock, one bastion connection per run
with its key pinned and reported under its own name, destroyed hosts' pins forgotten.
Each test failed on main (f823a2b)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import paramiko
import pytest

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions, hosts_of
from nomadctl.node import ssh as remote
from nomadctl.node.connect import forget_pins, known_hosts, session_for
from nomadctl.workspace import Workspace


def keys(n: int) -> list[paramiko.PKey]:
    return [paramiko.Ed25519Key.from_private_key_file(str(k)) for k in _keyfiles(n)]


def _keyfiles(n: int) -> list[Path]:
    import tempfile

    out = []
    d = Path(tempfile.mkdtemp())
    for i in range(n):
        p = d / f"k{i}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(p)],
            check=True,
            capture_output=True,
        )
        out.append(p)
    return out


def test_parallel_first_contacts_cannot_pin_two_keys(tmp_path: Path) -> None:
    """Sessions each hold their own KnownHosts (as session_for makes them); two meet
    one new host with different keys at once (one of them a man-in-the-middle): one key is
    pinned, the other session is refused, in this process and in another."""
    ws = Workspace(tmp_path, "lab").create()
    a, b = keys(2)
    stores = [known_hosts(ws) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    outcome: list[str] = []

    def contact(store: remote.KnownHosts, key: paramiko.PKey) -> None:
        barrier.wait()
        try:
            store.pin("198.18.0.7", key)
            outcome.append(key.get_base64())
        except paramiko.BadHostKeyException:
            outcome.append("refused")

    threads = [
        threading.Thread(target=contact, args=(s, a if i % 2 else b)) for i, s in enumerate(stores)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pinned = paramiko.HostKeys(str(ws.path / "known_hosts")).lookup("198.18.0.7")
    assert pinned is not None and len(pinned) == 1
    winner = next(iter(pinned.values())).get_base64()
    assert outcome.count(winner) == 4 and outcome.count("refused") == 4

    # Another process presenting the other key is refused the same way.
    loser = a if winner == b.get_base64() else b
    script = (
        "import sys, paramiko; from pathlib import Path;"
        "from nomadctl.node.connect import known_hosts;"
        "from nomadctl.workspace import Workspace;"
        f"k = paramiko.Ed25519Key(data=bytes.fromhex('{loser.asbytes().hex()}'));"
        f"store = known_hosts(Workspace(Path({str(tmp_path)!r}), 'lab'))\n"
        "try: store.pin('198.18.0.7', k)\n"
        "except paramiko.BadHostKeyException: sys.exit(9)"
    )
    assert subprocess.run([sys.executable, "-c", script], timeout=30).returncode == 9


def test_down_forgets_the_pins_of_destroyed_hosts(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "lab").create()
    store = known_hosts(ws)
    k1, k2, k3 = keys(3)
    store.pin("198.18.0.7", k1)
    store.pin("[203.0.113.7]:2222", k2)
    store.pin("198.18.0.8", k3)
    gone = [Host("lab-server-1", "server", "198.18.0.7", "203.0.113.7", "i-1")]
    assert sorted(forget_pins(ws, gone)) == ["198.18.0.7", "[203.0.113.7]:2222"]
    left = paramiko.HostKeys(str(store.path))
    assert list(left.keys()) == ["198.18.0.8"]


@pytest.mark.testbed
def test_one_bastion_connection_pinned_under_its_name(testbed_factory, tmp_path: Path) -> None:
    """Three nodes through one jump host: one connection to the jump host (sshd's own count
    of sessions), its key pinned as itself; a changed bastion key is reported as the
    bastion's, not as the node's."""
    tb = testbed_factory(4)
    jump, *targets = tb.hosts
    ws = Workspace(tmp_path, "lab").create()
    ssh = SshOptions(
        user="ubuntu", key_path=tb.key_path, address="private", bastion=f"ubuntu@{jump.address}"
    )
    hosts = [Host(f"lab-client-{i}", "client", h.address) for i, h in enumerate(targets)]

    def established() -> int:
        out = tb.exec(jump, ["ss", "-Htn", "state", "established", "( sport = :22 )"]).stdout
        return len([line for line in out.splitlines() if line.strip()])

    sessions = [session_for(ws, h, ssh) for h in hosts]
    try:
        threads = [threading.Thread(target=s.connect, kwargs={"wait": 20}) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s, h in zip(sessions, targets, strict=True):
            assert s.run("hostname").stdout.strip() == h.hostname
        assert established() == 1
    finally:
        for s in sessions:
            s.close()
        remote.close_jumps()
    pinned = paramiko.HostKeys(str(ws.path / "known_hosts"))
    assert set(pinned.keys()) == {jump.address, *(h.address for h in targets)}
    assert (
        pinned.lookup(jump.address)["ssh-ed25519"].get_base64()
        == (  # type: ignore[index]
            jump.host_public_key.split()[1]
        )
    )

    # The jump host is "rebuilt": its pin no longer matches.
    other = targets[0].host_public_key.split()
    text = (ws.path / "known_hosts").read_text().splitlines()
    (ws.path / "known_hosts").write_text(
        "\n".join(
            f"{jump.address} {other[0]} {other[1]}" if line.startswith(jump.address + " ") else line
            for line in text
        )
        + "\n"
    )
    session = session_for(ws, hosts[0], ssh)
    try:
        with pytest.raises(RemoteError, match=f"host key of bastion ubuntu@{jump.address} has"):
            session.connect(wait=5)
    finally:
        session.close()
        remote.close_jumps()


def test_aws_down_forgets_the_pins_of_the_instances_it_destroyed(aws_env) -> None:  # type: ignore[no-untyped-def]
    """Through the real CLI against moto: the destroyed instances' addresses leave
    known_hosts (moto hands out 198.18.1.x; no SSH, `up` stops after the instances)."""
    from tests.aws.checks import ok

    tree = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
    net = ("--vpc-cidr", "198.18.0.0/16", "--subnet-cidr", "198.18.1.0/24")
    args = ("--cluster", "gone", "up", "--yes", *net, "--allow-cidr", "203.0.113.0/24")
    ok(aws_env.nomadctl(*args, "--servers", "1", "--clients", "1", env=tree))
    ws = Workspace(aws_env.home, "gone")
    hosts = hosts_of(ws.load_state())
    store = known_hosts(ws)
    for host, key in zip(hosts, keys(len(hosts)), strict=True):
        store.pin(host.public_ip or host.private_ip, key)
    store.pin("198.51.100.1", keys(1)[0])  # not this cluster's: stays
    ok(aws_env.nomadctl("--cluster", "gone", "down", "--yes", env=tree))
    assert list(paramiko.HostKeys(str(store.path)).keys()) == ["198.51.100.1"]


def test_nomadctl_ssh_forwards_no_agent_and_trusts_only_the_clusters_pins(
    tmp_path: Path,
) -> None:
    """Issue 28 point 8: whatever the user's ~/.ssh/config says (ForwardAgent yes, a global
    known_hosts), `nomadctl ssh` runs with ForwardAgent=no and only the cluster's
    known_hosts, also through a bastion. The real client's `-G` prints the settings it would
    use. Failed on the main of 2026-12-07 (b311992): the user's ForwardAgent yes applied."""
    import subprocess

    from nomadctl.hosts import Host
    from nomadctl.node.connect import ssh_command
    from nomadctl.workspace import Workspace

    me = tmp_path / "me"
    (me / ".ssh").mkdir(parents=True)
    (me / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n  ForwardX11 yes\n"
        "  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts\n  UpdateHostKeys yes\n"
    )
    ws = Workspace(tmp_path / "home", "lab").create()
    key = ws.path / "ssh" / "id_ed25519"
    ws.write_secret(key, b"unused")
    for bastion in (None, "jump@198.18.0.250:2222"):
        ws.update_state(
            hosts=[Host("lab-server-1", "server", "198.18.0.9").to_dict()],
            ssh={"user": "ubuntu", "address": "private", "key_path": str(key), "bastion": bastion},
        )
        argv = ssh_command(ws, "server-1", [])
        out = subprocess.run(
            [argv[0], "-G", *argv[1:]], capture_output=True, text=True, timeout=30,
            env={"HOME": str(me), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        got = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        assert got["forwardagent"] == "no" and got["forwardx11"] == "no", bastion
        assert got["globalknownhostsfile"] == "/dev/null", bastion
        assert got["userknownhostsfile"] == str(ws.path / "known_hosts"), bastion
        assert got["updatehostkeys"] == "false", bastion
        if bastion:
            proxy = got["proxycommand"]
            assert "ForwardAgent=no" in proxy and "GlobalKnownHostsFile=/dev/null" in proxy


def test_nomadctl_ssh_to_an_instance_never_verified_is_refused(tmp_path: Path) -> None:
    """An AWS instance whose key was never pinned (its `up` died before configuring it):
    OpenSSH's accept-new would pin whatever key the network shows. nomadctl refuses, in one
    line, until `up` has pinned the key from the instance's console; once pinned, it runs."""
    from nomadctl.node.connect import ssh_command

    ws = Workspace(tmp_path / "home", "lab").create()
    key = ws.path / "ssh" / "id_ed25519"
    ws.write_secret(key, b"unused")
    ws.update_state(
        hosts=[Host("lab-server-1", "server", "198.18.0.9", instance_id="i-0abc").to_dict()],
        ssh={"user": "ubuntu", "address": "private", "key_path": str(key), "bastion": None},
    )
    with pytest.raises(RemoteError, match="never verified") as err:
        ssh_command(ws, "server-1", [])
    assert "\n" not in err.value.message
    known_hosts(ws).pin("198.18.0.9", keys(1)[0])
    assert ssh_command(ws, "server-1", [])[-1] == "ubuntu@198.18.0.9"
