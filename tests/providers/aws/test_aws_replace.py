"""Day 2 on AWS: a changed instance type is made on the same instances, one node at a time
(issue 18.3, issue 25 point 3): stop, ModifyInstanceAttribute, start; never terminate.

Real: moto's server over HTTP as AWS (behind the strictness layer, which refuses a type change
on a running instance and a start in a zone that does not offer the type), OpenSSH hosts in
network namespaces at exactly the private IPs moto hands out, TLS, the Nomad API. Stand-in: the
Nomad agent, with drain, autopilot health and raft state in its data dir as Nomad has them.
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


SERVER_ID = "/opt/nomad/data/server/node-id"
CHANGES = ("StopInstances", "ModifyInstanceAttribute", "StartInstances", "TerminateInstances",
           "RunInstances", "CreateTags", "DeleteTags")  # fmt: skip


def test_a_changed_instance_type_keeps_every_instance_and_its_data(
    aws_env, testbed_factory, tmp_path: Path
) -> None:
    tb = testbed_factory(5, subnet=SUBNET)
    lab = Lab(aws_env, tb, make_binary(tmp_path / "nomad", version="1.11.1"))
    proc = lab.up()
    assert proc.returncode == 0, proc.stderr
    first = {h["name"]: h["private_ip"] for h in json.loads(proc.stdout)["hosts"]}
    launches = len(aws_env.proxy.calls("RunInstances"))
    old = lab.instances()
    old_ids = {n: i["InstanceId"] for n, i in old.items()}
    zone = old["rep-server-1"]["Placement"]["AvailabilityZone"]
    server_ids = {n: tb.read_file(tb.host(first[n]), SERVER_ID) for n in first if "server" in n}
    assert all(server_ids.values())

    # A type the nodes' zone does not offer (moto's offerings: m8a.large is not in eu-west-1a)
    # is refused by the plan, naming the zones that offer it; nothing is touched.
    assert zone == "eu-west-1a"
    mark = len(aws_env.proxy.log)
    for extra in (("--dry-run",), ()):
        refused = lab.run(*up_args(tb, lab.binary, *SIZE, "--server-type", "m8a.large", *extra))
        assert refused.returncode == 5, refused.stderr
        line = refused.stderr.strip().splitlines()[-1]
        assert "m8a.large is not offered in eu-west-1a" in line, line
        assert "eu-west-1b, eu-west-1c" in line and "rep-server-1" in line, line
    assert not [s.action for s in aws_env.proxy.log[mark:] if s.action in CHANGES]
    assert {n: i["InstanceType"] for n, i in lab.instances().items()} == {
        n: i["InstanceType"] for n, i in old.items()
    }

    # The plan names what changes, and a dry run changes nothing.
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
    mark = len(aws_env.proxy.log)
    with Watch(_Servers(lab, [first[f"rep-server-{i}"] for i in (1, 2, 3)])) as watch:
        proc = lab.up("--server-type", "t3.medium")
    assert proc.returncode == 0, proc.stderr
    assert min(sum(r) for r in watch.rounds) >= 2, watch.rounds
    order = re.findall(r"(rep-server-\d): replacing the machine", proc.stderr)
    assert sorted(order) == ["rep-server-1", "rep-server-2", "rep-server-3"] and order[2] == leader
    done = [s.action for s in aws_env.proxy.log[mark:] if s.action in CHANGES[:5]]
    assert done == ["StopInstances", "ModifyInstanceAttribute", "StartInstances"] * 3, done
    now = lab.instances()
    assert {now[f"rep-server-{i}"]["InstanceType"] for i in (1, 2, 3)} == {"t3.medium"}
    assert {n: i["InstanceId"] for n, i in now.items()} == old_ids  # the same instances
    assert {n: i["PrivateIpAddress"] for n, i in now.items()} == first
    for name, node_id in server_ids.items():  # the same raft identity and data dir
        assert tb.read_file(tb.host(first[name]), SERVER_ID) == node_id
    assert [tb.unit_pid(h) for h in clients] == client_pids  # no client restarted
    status = lab.run("status", "--json", "--wait", "30")  # the ACL token: raft state kept
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    alive = sorted(m["Addr"] for m in report["members"] if m["Status"] == "alive")
    assert alive == sorted(first[f"rep-server-{i}"] for i in (1, 2, 3))
    from nomadctl.cluster import operations

    health = operations.autopilot_health(lab.api())
    assert health.healthy and sum(1 for s in health.servers if s.get("Voter")) == 3

    # Clients: drained, changed, back under their own node IDs, eligible again.
    # A refused change stops at that node and says so; nothing is terminated; a re-run
    # carries on.
    node_ids = {n["Name"]: n["ID"] for n in lab.api().nodes()}
    server_pids = [tb.unit_pid(tb.host(first[f"rep-server-{i}"])) for i in (1, 2, 3)]
    aws_env.proxy.add("ModifyInstanceAttribute", "error", times=99,
                      code="UnauthorizedOperation", status=403)  # fmt: skip
    proc = lab.up("--server-type", "t3.medium", "--client-type", "t3.medium")
    assert proc.returncode == 5, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "replacement stopped at rep-client-1" in line and "re-run `nomadctl up`" in line
    assert proc.stderr.index("rep-client-1: draining") < proc.stderr.index(
        "rep-client-1: replacing the machine"
    )
    assert "rep-client-2: draining" not in proc.stderr
    assert lab.instances()["rep-client-1"]["InstanceId"] == old_ids["rep-client-1"]
    aws_env.proxy.clear()
    proc = lab.up("--server-type", "t3.medium", "--client-type", "t3.medium")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.index("rep-client-2: draining") < proc.stderr.index(
        "rep-client-2: replacing the machine"
    )
    now = lab.instances()
    assert {now[f"rep-client-{i}"]["InstanceType"] for i in (1, 2)} == {"t3.medium"}
    assert {n: i["InstanceId"] for n, i in now.items()} == old_ids
    assert [tb.unit_pid(tb.host(first[f"rep-server-{i}"])) for i in (1, 2, 3)] == server_pids
    nodes = lab.api().nodes()
    assert {n["Name"]: n["ID"] for n in nodes} == node_ids  # no new node IDs
    assert all(n["Status"] == "ready" and n["SchedulingEligibility"] == "eligible" for n in nodes)
    assert not aws_env.proxy.calls("TerminateInstances")
    assert len(aws_env.proxy.calls("RunInstances")) == launches  # nothing launched since

    # Without the flags, the types are the last up's: nothing is changed back to t3.small.
    pids = [tb.unit_pid(h) for h in tb.hosts[:5]]
    again = lab.up()
    assert again.returncode == 0, again.stderr
    assert (
        next(s for s in json.loads(again.stdout)["steps"] if s["name"] == "replace")["status"]
        == "skipped"
    )
    assert [tb.unit_pid(h) for h in tb.hosts[:5]] == pids
    assert lab.run("down", "--yes").returncode == 0
    checks.assert_gone(aws_env, "rep")
