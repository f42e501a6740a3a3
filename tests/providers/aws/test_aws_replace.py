"""Day 2 on AWS: a changed instance type replaces the nodes one at a time (issue 18.3).

Real: moto's server over HTTP as AWS (behind the strictness layer), OpenSSH hosts in network
namespaces at exactly the private IPs moto hands out (the spare ones become the replacement
instances: moto gives each new instance the next address), TLS, the Nomad API. Stand-in: the
Nomad agent, with drain, autopilot health, raft peer removal and force-leave as Nomad has them.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.aws import checks
from tests.plan.test_day2_roll import Watch
from tests.providers.aws.test_lifecycle import CONFIGURE, SUBNET, up_args
from tests.standin import make_binary

pytestmark = pytest.mark.testbed

SIZE = ("--servers", "3", "--clients", "2")


class Lab:
    def __init__(self, aws_env, tb, binary: Path) -> None:
        self.aws, self.tb, self.binary = aws_env, tb, binary

    def run(self, *args: str, timeout: float = 400):  # type: ignore[no-untyped-def]
        return self.aws.nomadctl("--cluster", "rep", *args, timeout=timeout, env=CONFIGURE)

    def up(self, *extra: str):  # type: ignore[no-untyped-def]
        return self.run(*up_args(self.tb, self.binary, *SIZE, *extra))

    def instances(self) -> dict[str, dict]:
        return {checks.tags_of(i)["Name"]: i for i in checks.instances(self.aws, "rep")}

    def api(self, address: str | None = None, timeout: float = 5.0):  # type: ignore[no-untyped-def]
        from nomadctl.cluster.api import Api
        from nomadctl.cluster.target import workspace_target
        from nomadctl.workspace import Workspace

        target = workspace_target(Workspace(self.aws.home, "rep"), timeout=timeout)
        if address is not None:
            target = replace(target, addresses=[f"https://{address}:4646"])
        return Api(target)


class _Servers:
    """What tests.plan.test_day2_roll.Watch needs: the API of each address to poll."""

    def __init__(self, lab: Lab, addresses: list[str]) -> None:
        self.servers = [type("H", (), {"address": a})() for a in addresses]
        self.api = lab.api


def test_a_changed_instance_type_replaces_nodes_one_at_a_time(
    aws_env, testbed_factory, tmp_path: Path
) -> None:
    tb = testbed_factory(10, subnet=SUBNET)  # 5 nodes, then 3 new servers and 2 new clients
    lab = Lab(aws_env, tb, make_binary(tmp_path / "nomad", version="1.11.1"))
    proc = lab.up()
    assert proc.returncode == 0, proc.stderr
    first = {h["name"]: h["private_ip"] for h in json.loads(proc.stdout)["hosts"]}
    assert sorted(first.values()) == sorted(h.address for h in tb.hosts[:5])
    old_ids = {n: i["InstanceId"] for n, i in lab.instances().items()}

    # The plan names what is replaced, and a dry run changes nothing.
    dry = lab.run(*up_args(tb, lab.binary, *SIZE, "--server-type", "t3.medium", "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    actions = {h["name"]: h["action"] for h in plan["hosts"]}
    assert actions == {**{f"rep-server-{i}": "replace" for i in (1, 2, 3)},
                       **{f"rep-client-{i}": "keep" for i in (1, 2)}}  # fmt: skip
    step = next(s for s in plan["steps"] if s["name"] == "replace")
    assert step["status"] == "planned" and "rep-server-1" in step["detail"]
    assert {n: i["InstanceId"] for n, i in lab.instances().items()} == old_ids

    # Servers: one at a time, the leader last; at least 2 servers answer at every moment.
    leader_ip = lab.api().leader().rsplit(":", 1)[0]
    leader = next(n for n, ip in first.items() if ip == leader_ip)
    clients = [tb.host(first[f"rep-client-{i}"]) for i in (1, 2)]
    client_pids = [tb.unit_pid(h) for h in clients]
    spare = [h.address for h in tb.hosts[5:8]]
    with Watch(_Servers(lab, [first[f"rep-server-{i}"] for i in (1, 2, 3)] + spare)) as watch:
        proc = lab.up("--server-type", "t3.medium")
    assert proc.returncode == 0, proc.stderr
    assert min(sum(r) for r in watch.rounds) >= 2, watch.rounds
    order = re.findall(r"(rep-server-\d): replacing the machine", proc.stderr)
    assert sorted(order) == ["rep-server-1", "rep-server-2", "rep-server-3"] and order[2] == leader
    now = lab.instances()
    assert {now[f"rep-server-{i}"]["InstanceType"] for i in (1, 2, 3)} == {"t3.medium"}
    assert {now[f"rep-server-{i}"]["PrivateIpAddress"] for i in (1, 2, 3)} == set(spare)
    for name in ("rep-server-1", "rep-server-2", "rep-server-3"):
        assert now[name]["InstanceId"] != old_ids[name]
    assert [tb.unit_pid(h) for h in clients] == client_pids  # no client restarted
    for host in clients:  # their next start finds the new servers
        assert all(ip.encode() in tb.read_file(host, "/etc/nomad.d/join.hcl") for ip in spare)
    status = lab.run("status", "--json", "--wait", "30")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    alive = sorted(m["Addr"] for m in report["members"] if m["Status"] == "alive")
    assert alive == sorted(spare)
    from nomadctl.cluster import operations

    health = operations.autopilot_health(lab.api())
    assert health.healthy and sum(1 for s in health.servers if s.get("Voter")) == 3

    # Clients: drained first, then replaced; the servers stay as they are.
    # A launch refused midway stops the replacement at that node and says so; a re-run
    # carries on (the node whose instance is gone is created, the next one replaced).
    server_pids = [tb.unit_pid(tb.host(a)) for a in spare]
    aws_env.proxy.add("RunInstances", "error", times=99, code="UnauthorizedOperation",
                      status=403)  # fmt: skip
    proc = lab.up("--server-type", "t3.medium", "--client-type", "t3.medium")
    assert proc.returncode == 5, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "replacement stopped at rep-client-1" in line and "re-run `nomadctl up`" in line
    assert proc.stderr.index("rep-client-1: draining") < proc.stderr.index(
        "rep-client-1: replacing the machine"
    )
    assert "rep-client-2: draining" not in proc.stderr
    assert "rep-client-1" not in lab.instances()  # terminated, not yet launched anew
    aws_env.proxy.clear()
    proc = lab.up("--server-type", "t3.medium", "--client-type", "t3.medium")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.index("rep-client-2: draining") < proc.stderr.index(
        "rep-client-2: replacing the machine"
    )
    assert "rep-client-1: replacing" not in proc.stderr  # created by provision this time
    now = lab.instances()
    assert {now[f"rep-client-{i}"]["InstanceType"] for i in (1, 2)} == {"t3.medium"}
    assert [tb.unit_pid(tb.host(a)) for a in spare] == server_pids
    nodes = lab.api().nodes()  # the old nodes stay listed, drained, until Nomad marks them down
    usable = [
        n for n in nodes if n["Status"] == "ready" and n["SchedulingEligibility"] == "eligible"
    ]
    assert sorted(n["Name"] for n in usable) == ["rep-client-1", "rep-client-2"]
    assert {n["Address"] for n in usable} == {h.address for h in tb.hosts[8:10]}
    old_nodes = [n for n in nodes if n not in usable]
    assert len(old_nodes) == 2 and {n["SchedulingEligibility"] for n in old_nodes} == {"ineligible"}

    # Every old instance is terminated; a re-run replaces nothing and restarts nothing.
    old = aws_env.client("ec2").describe_instances(InstanceIds=sorted(old_ids.values()))
    assert {i["State"]["Name"] for r in old["Reservations"] for i in r["Instances"]} == {
        "terminated"
    }
    # Without the flags, the types are the last up's: nothing is replaced back to t3.small.
    pids = [tb.unit_pid(h) for h in tb.hosts[5:10]]
    again = lab.up()
    assert again.returncode == 0, again.stderr
    assert (
        next(s for s in json.loads(again.stdout)["steps"] if s["name"] == "replace")["status"]
        == "skipped"
    )
    assert [tb.unit_pid(h) for h in tb.hosts[5:10]] == pids
    assert lab.run("down", "--yes").returncode == 0
    checks.assert_gone(aws_env, "rep")
