"""Issue 28 point 8: before trusting a new instance's SSH host key, nomadctl reads the keys
the instance printed to its console at boot (GetConsoleOutput, as cloud-init writes them)
and pins only a key from there; no keys yet means wait, a console that contradicts itself
or a host presenting another key means stop. Against moto through the strict layer (whose
console output is what cloud-init would print for the testbed host at the instance's
address) and a real OpenSSH host. Failed on the main of 2026-12-07 (b311992): nothing read
the console; the first key a host presented was pinned."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import paramiko
import pytest

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions
from nomadctl.node.connect import session_for
from nomadctl.providers.aws import first_contact
from nomadctl.workspace import Workspace
from tests.aws.strict import cloud_init_console

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_parse_what_cloud_init_prints() -> None:
    text = "boot noise\n" + cloud_init_console(ED, "ip-10-0-0-5") + "login: "
    found = first_contact.parse_console(text)
    assert found is not None and found.keys == (tuple(ED.split()),)
    assert first_contact.choose_key("n", found) == tuple(ED.split())
    assert first_contact.parse_console("Linux version 6.8 ... no keys yet") is None
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBl9p3g8b4lY1bCz4j0yQ0mNn5zq3bGf1YbGk0m0vYx1"
    lying = first_contact.parse_console(cloud_init_console(ED, "h", fingerprint_of=other))
    assert lying is not None
    with pytest.raises(first_contact.HostKeyMismatch, match="does not match the fingerprints"):
        first_contact.choose_key("n", lying)


def _instance_at(aws_env: Any, address: str) -> str:
    """A moto instance whose private IP is `address` (made directly in moto)."""
    ec2 = aws_env.client("ec2")
    net = ipaddress.ip_network(f"{address}/24", strict=False)
    vpc = ec2.create_vpc(CidrBlock=str(net.supernet(new_prefix=16)))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=str(net))["Subnet"]["SubnetId"]
    run = ec2.run_instances(
        ImageId=aws_env.ami, MinCount=1, MaxCount=1, InstanceType="t3.small",
        SubnetId=subnet, PrivateIpAddress=address,
    )  # fmt: skip
    return run["Instances"][0]["InstanceId"]


def _proxy_ec2(aws_env: Any) -> Any:
    """EC2 as nomadctl reaches it: through the strict layer."""
    import boto3

    return boto3.client(
        "ec2",
        region_name=aws_env.region,
        endpoint_url=aws_env.proxy.url,
        aws_access_key_id="AKIATESTTESTTESTTEST",
        aws_secret_access_key="x",
    )


@pytest.mark.testbed
def test_first_contact_pins_the_console_key_and_refuses_another(
    aws_env: Any, testbed_factory: Any, tmp_path: Path
) -> None:
    tb = testbed_factory(2)
    real, other = tb.hosts
    iid = _instance_at(aws_env, real.address)
    ws = Workspace(tmp_path / "home", "fc").create()
    ssh = SshOptions(user="ubuntu", key_path=tb.key_path, address="private")
    host = Host("fc-server-1", "server", real.address, instance_id=iid)
    said: list[str] = []
    ec2 = _proxy_ec2(aws_env)

    # The console shows the host's own key: pinned from there, and SSH then works.
    assert first_contact.pin_from_console(ws, [host], ssh, ec2, said.append, 10) == [host.name]
    pinned = paramiko.HostKeys(str(ws.path / "known_hosts")).lookup(real.address)
    assert (
        pinned is not None and pinned["ssh-ed25519"].get_base64() == real.host_public_key.split()[1]
    )
    assert any("pinned from its console output" in m for m in said)
    assert aws_env.proxy.calls("GetConsoleOutput")
    session = session_for(ws, host, ssh)
    try:
        session.connect(wait=10)
        assert session.run("hostname").stdout.strip() == real.hostname
    finally:
        session.close()
    # A re-run asks the console nothing for a host already pinned.
    calls = len(aws_env.proxy.calls("GetConsoleOutput"))
    assert first_contact.pin_from_console(ws, [host], ssh, ec2, said.append, 10) == []
    assert len(aws_env.proxy.calls("GetConsoleOutput")) == calls

    # A new instance whose console shows a key the host does not have: that key is pinned,
    # and the host (presenting its own) is refused: `up` stops for that host.
    ws2 = Workspace(tmp_path / "home2", "fc").create()
    aws_env.strict.consoles[real.address] = cloud_init_console(other.host_public_key, "x")
    first_contact.pin_from_console(ws2, [host], ssh, ec2, said.append, 10)
    session = session_for(ws2, host, ssh)
    try:
        with pytest.raises(RemoteError, match="CHANGED"):
            session.connect(wait=10)
    finally:
        session.close()

    # A console that contradicts itself: stop, nothing pinned.
    ws3 = Workspace(tmp_path / "home3", "fc").create()
    aws_env.strict.consoles[real.address] = cloud_init_console(
        real.host_public_key, "x", fingerprint_of=other.host_public_key
    )
    with pytest.raises(first_contact.HostKeyMismatch):
        first_contact.pin_from_console(ws3, [host], ssh, ec2, said.append, 10)
    assert not (ws3.path / "known_hosts").exists()


def test_no_keys_in_the_console_yet_means_wait_then_one_line(aws_env: Any, tmp_path: Path) -> None:
    """moto's own console output (a Xen boot log, no keys): waited for, then one line."""
    iid = _instance_at(aws_env, "198.18.250.9")  # no testbed host there
    ws = Workspace(tmp_path / "home", "fc").create()
    host = Host("fc-server-1", "server", "198.18.250.9", instance_id=iid)
    said: list[str] = []
    with pytest.raises(RemoteError, match="no SSH host keys in the console output") as err:
        first_contact.pin_from_console(
            ws, [host], SshOptions(address="private"), _proxy_ec2(aws_env), said.append, 3
        )
    assert "fc-server-1" in err.value.message and "\n" not in err.value.message
    assert any("waiting for the console output of fc-server-1" in m for m in said)
    assert not (ws.path / "known_hosts").exists()


@pytest.mark.testbed
def test_an_instance_never_contacted_is_never_pinned_on_first_use(
    aws_env: Any, testbed_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance whose `up` died before configuring it (no key pinned yet), met by another
    path than configure: a scale-in's teardown, a resize's agent stop, `recover`. Before,
    each pinned whatever key the network presented; now the key comes from the console or
    there is no connection."""
    from nomadctl.hosts import record_ssh
    from nomadctl.providers.aws.first_contact import ConsoleCheckedAgents

    tb = testbed_factory(1)
    (real,) = tb.hosts
    iid = _instance_at(aws_env, real.address)
    ws = Workspace(tmp_path / "home", "fc").create()
    ssh = SshOptions(user="ubuntu", key_path=tb.key_path, address="private")
    record_ssh(ws, ssh)
    host = Host("fc-client-1", "client", real.address, instance_id=iid)

    def pinned() -> str | None:
        path = ws.path / "known_hosts"
        keys = paramiko.HostKeys(str(path)).lookup(real.address) if path.exists() else None
        return keys["ssh-ed25519"].get_base64() if keys else None

    session = session_for(ws, host, ssh)  # SSH straight to it: refused, nothing pinned
    try:
        with pytest.raises(RemoteError, match="never verified"):
            session.connect(wait=5)
    finally:
        session.close()
    assert pinned() is None

    # A scale-in's teardown, the console showing no keys yet: no connection at all.
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.proxy.url)  # EC2 through the strict layer
    aws_env.strict.consoles[real.address] = "Linux version 6.8 (cloud-init not done yet)\n"
    agents = ConsoleCheckedAgents(ssh, aws_env.region)
    said: list[str] = []
    assert agents.teardown(ws, [host], said.append) == []
    assert any("fc-client-1: not reached over SSH" in m for m in said), said
    assert pinned() is None

    # The console shows the host's own key: pinned from there, then the teardown runs.
    del aws_env.strict.consoles[real.address]
    assert agents.teardown(ws, [host], said.append) == []
    assert pinned() == real.host_public_key.split()[1]
    assert any("fc-client-1: Nomad stopped and removed" in m for m in said), said
