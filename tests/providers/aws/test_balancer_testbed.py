"""Issue 25 points 1 and 2 end to end: a 3+3 `up` over three zones with the load balancer,
real SSH hosts at the instances' IPs, the stand-in Nomad agent, and the API endpoint carrying
traffic while a server is down.

The three zones' subnets are /26s of one testbed /24 (198.18.44.0/24: moto gives the nodes
.4/.5, .68/.69 and .132/.133, the testbed puts its hosts exactly there). moto records the
load balancer but carries no traffic, so `tests/aws/nlb_relay.py` (a TCP relay, round-robin
over the servers, passing over one that does not answer, as an NLB's health checks do) runs
in a seventh testbed host, and the load balancer's DNS name resolves to that host for the
processes under test only: each runs in its own mount namespace with a private /etc/hosts
(`unshare -m` + a bind mount). Nothing in nomadctl knows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nomadctl.providers.aws.balancer import balancer_name
from tests.aws import checks
from tests.providers.aws.test_lifecycle import exported_env
from tests.standin import make_binary

CLUSTER = "nbt"
TESTBED = "198.18.44.0/24"
SERVERS = ["198.18.44.4", "198.18.44.68", "198.18.44.132"]  # one per zone
CLIENTS = ["198.18.44.5", "198.18.44.69", "198.18.44.133"]
RELAY = "198.18.44.250"
# moto's DNS name for a load balancer: "<name>-1.<region>.elb.amazonaws.com"
DNS = f"{balancer_name(CLUSTER)}-1.eu-west-1.elb.amazonaws.com"
CONFIGURE: dict[str, str | None] = {"NOMADCTL_UP_SKIP_CONFIGURE": None}

PY_NOMAD = """
import json, os, nomad
from urllib.parse import urlsplit
addr = urlsplit(os.environ["NOMAD_ADDR"])
n = nomad.Nomad(host=addr.hostname, port=addr.port, secure=True, timeout=10,
                verify=os.environ["NOMAD_CACERT"],
                cert=(os.environ["NOMAD_CLIENT_CERT"], os.environ["NOMAD_CLIENT_KEY"]))
print(json.dumps({"leader": n.status.leader.get_leader(),
                  "members": len(n.agent.get_members()["Members"])}))
"""


class Lab:
    """nomadctl (and python-nomad) run with the load balancer's name resolving to the relay."""

    def __init__(self, aws: Any, tmp: Path) -> None:
        self.aws = aws
        self.hosts_file = tmp / "hosts"
        self.hosts_file.write_text(Path("/etc/hosts").read_text() + f"\n{RELAY} {DNS}\n")

    def argv(self, *argv: str) -> list[str]:
        mount = 'mount --bind "$0" /etc/hosts && exec "$@"'
        return ["unshare", "-m", "sh", "-c", mount, str(self.hosts_file), *argv]

    def nomadctl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            env=self.aws.child_env(**CONFIGURE),
            cwd=self.aws.tmp,
        )

    def py_nomad(self, env: dict[str, str]) -> dict[str, Any]:
        proc = subprocess.run(
            self.argv(sys.executable, "-c", PY_NOMAD),
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.aws.child_env(), **env},
        )
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))


def start_relay(tb: Any, stats: Path) -> subprocess.Popen[str]:
    relay = tb.host(RELAY)
    targets = [a for s in SERVERS for a in ("--target", f"{s}:4646")]
    proc = subprocess.Popen(
        [
            *("ip", "netns", "exec", relay.netns, sys.executable, "-m", "tests.aws.nlb_relay"),
            *("--listen", f"{RELAY}:4646", "--stats", str(stats), *targets),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def relayed(stats: Path) -> dict[str, int]:
    return dict(json.loads(stats.read_text()))


@pytest.mark.testbed
def test_three_zones_and_an_endpoint_that_survives_a_server(
    aws_env, testbed_factory, tmp_path: Path
) -> None:
    tb = testbed_factory(7, subnet=TESTBED, addresses=[*SERVERS, *CLIENTS, RELAY])
    binary = make_binary(tmp_path / "nomad", version="1.11.1")
    stats = tmp_path / "relay.json"
    relay = start_relay(tb, stats)
    lab = Lab(aws_env, tmp_path)
    try:
        assert lab.nomadctl("certs").returncode == 0
        args = [
            "up",
            "--yes",
            "--json",
            "--vpc-cidr",
            "198.18.0.0/16",
            "--subnet-cidr",
            "198.18.44.0/26",  # zones b and c get .64/26 and .128/26
            "--allow-cidr",
            "198.18.0.0/15",
            "--ssh-key",
            str(tb.key_path),
            "--ssh-address",
            "private",
            "--nomad-binary",
            str(binary),
            "--no-docker",
            "--leader-timeout",
            "60",
            "--ssh-wait",
            "30",
        ]
        proc = lab.nomadctl(*args)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["configured"] and report["leader"] and report["acl"] == "bootstrapped"
        hosts = {h["name"]: h for h in report["hosts"]}
        assert [hosts[f"{CLUSTER}-server-{i}"]["private_ip"] for i in (1, 2, 3)] == SERVERS
        assert len({hosts[f"{CLUSTER}-server-{i}"]["zone"] for i in (1, 2, 3)}) == 3
        checks.assert_complete(aws_env, CLUSTER)
        (lb,), (group,) = checks.balancers(aws_env, CLUSTER)
        assert lb["DNSName"] == DNS
        health = aws_env.client("elbv2").describe_target_health(
            TargetGroupArn=group["TargetGroupArn"]
        )["TargetHealthDescriptions"]
        servers = {h["instance_id"] for h in report["hosts"] if h["role"] == "server"}
        assert {t["Target"]["Id"] for t in health} == servers
        assert sum(relayed(stats).values()) > 0, "up's leader wait went through the endpoint"

        # env points at the load balancer's name; the servers' certificates carry it, so
        # python-nomad verifies the name it connects to (no NOMAD_TLS_SERVER_NAME needed)
        env_out = lab.nomadctl("env")
        assert env_out.returncode == 0, env_out.stderr
        env = exported_env(env_out.stdout)
        assert env["NOMAD_ADDR"] == f"https://{DNS}:4646"
        env.pop("NOMAD_TLS_SERVER_NAME", None)
        assert lab.py_nomad(env)["members"] == 3

        # one server down: status and the API through the endpoint still answer
        tb.kill_unit(tb.host(SERVERS[0]))
        before = relayed(stats)
        status = lab.nomadctl("status", "--json", "--wait", "20")
        assert status.stdout, status.stderr
        members = json.loads(status.stdout)["members"]
        assert len(members) == 3 and "Traceback" not in status.stderr
        assert any(m["Tags"]["Leader"] == "true" for m in members if m["Status"] == "alive")
        answered = lab.py_nomad(env)
        assert answered["members"] == 3 and answered["leader"]
        after = relayed(stats)
        assert sum(after.values()) > sum(before.values())
        assert after[f"{SERVERS[0]}:4646"] == before[f"{SERVERS[0]}:4646"]  # passed over

        down = lab.nomadctl("down", "--yes")
        assert down.returncode == 0, down.stderr
        checks.assert_gone(aws_env, CLUSTER)
    finally:
        relay.kill()
        relay.wait(timeout=30)
