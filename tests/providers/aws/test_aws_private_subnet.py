"""Private subnets (issue 25 point 5): a subnet whose route table has no internet gateway
route gets no public IPv4 by default (billed, unusable, and refused by organisations that
forbid them), and then the plan wants a way in: `--bastion`, or `--ssh-address private` from
inside the VPC. `--public-ip/--no-public-ip` decide explicitly.
"""

from __future__ import annotations

import json
import urllib.parse

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import AwsEnv
from tests.providers.aws.test_aws_strict import SMALL, down_leaves_nothing, own_subnet, up


def public_flags(aws: AwsEnv) -> list[str]:
    """What each RunInstances asked of its interface's public IPv4 ("" when unsaid)."""
    out = []
    for call in aws.proxy.calls("RunInstances"):
        params = urllib.parse.parse_qs(call.body.decode())
        out.append((params.get("NetworkInterface.1.AssociatePublicIpAddress") or [""])[0])
    return out


def test_a_private_subnet_needs_a_way_in_before_anything_is_made(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    vpc_id, subnet_id = own_subnet(aws_env)  # no internet gateway in this VPC
    proc = up(aws_env, "--vpc-id", vpc_id, "--subnet-id", subnet_id, *SMALL)
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc.stderr)
    assert f"subnet {subnet_id} has no route to an internet gateway" in line
    assert "--bastion" in line and "--ssh-address private" in line
    assert not [s for s in aws_env.proxy.log if s.action.startswith(("Create", "Import", "Run"))]

    asked = up(aws_env, "--vpc-id", vpc_id, "--subnet-id", subnet_id, *SMALL, "--public-ip",
               "--ssh-address", "private")  # fmt: skip
    assert asked.returncode == 2 and "billed and unreachable" in error_line(asked.stderr)


def test_a_private_subnet_gets_no_public_ips_and_the_cost_says_so(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    vpc_id, subnet_id = own_subnet(aws_env)
    args = ("--vpc-id", vpc_id, "--subnet-id", subnet_id, *SMALL, "--ssh-address", "private")
    dry = ok(up(aws_env, *args, "--dry-run", "--json"))
    assert json.loads(dry.stdout)["costs"]["public_ipv4"] == 0
    proc = ok(up(aws_env, *args, "--json"))
    assert all(not h["public_ip"] for h in json.loads(proc.stdout)["hosts"])
    assert public_flags(aws_env) and set(public_flags(aws_env)) == {"false"}
    assert not [i.get("PublicIpAddress") for i in checks.instances(aws_env, "alpha")
                if i.get("PublicIpAddress")]  # fmt: skip
    down_leaves_nothing(aws_env)


def test_no_public_ip_on_nomadctls_own_network_goes_through_the_bastion(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    refused = up(aws_env, *SMALL, "--no-public-ip")
    assert refused.returncode == 2 and "--no-public-ip" in error_line(refused.stderr)
    proc = ok(up(aws_env, *SMALL, "--no-public-ip", "--bastion", "ops@198.18.0.9", "--json"))
    assert all(not h["public_ip"] for h in json.loads(proc.stdout)["hosts"])
    assert set(public_flags(aws_env)) == {"false"}
    down_leaves_nothing(aws_env)
