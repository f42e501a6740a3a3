"""Every create survives a lost answer (issue 25 point 7).

The fault proxy's `lost` fault lets the request through to "AWS" (moto behind the strict
layer: it is applied) and then resets the connection, so the answer never arrives and
botocore retries the same request (standard retry mode retries a reset connection). The retry
meets its own first attempt: "already exists" for the named creates (key pair, IAM role and
instance profile, security group), the recorded answer for a ClientToken (RunInstances,
CreateRouteTable), or a second resource for the creates without either (VPC, subnet, internet
gateway), which `up` names and `down` deletes with the rest. `up` carries on in every case.
"""

from __future__ import annotations

import pytest

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.faultproxy import FaultProxy
from tests.aws.fixtures import AwsEnv
from tests.providers.aws.test_aws_faults import SMALL, down_leaves_nothing, up

CREATES = [
    "ImportKeyPair",
    "CreateRole",
    "PutRolePolicy",
    "CreateInstanceProfile",
    "AddRoleToInstanceProfile",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "CreateSubnet",  # its CIDR is unique in the VPC: InvalidSubnet.Conflict, then ours by tag
    "CreateRouteTable",
    "RunInstances",
]
# No name and no ClientToken in botocore's model: a retry makes a second one, tagged.
SECOND = ["CreateVpc", "CreateInternetGateway"]


@pytest.mark.parametrize("action", CREATES)
def test_a_lost_answer_is_retried_and_up_carries_on(
    aws_env: AwsEnv, fault_proxy: FaultProxy, action: str
) -> None:
    rule = fault_proxy.add(action, "lost", times=1)
    proc = ok(up(aws_env, fault_proxy, *SMALL))
    assert rule.fired == 1 and len(fault_proxy.calls(action)) >= 2, action  # retried
    assert "Traceback" not in proc.stderr
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    again = ok(up(aws_env, fault_proxy, *SMALL))  # converged: a re-run launches nothing
    assert checks.names(checks.instances(aws_env, "alpha")) == ["alpha-client-1", "alpha-server-1"]
    assert "created" not in again.stdout.replace("nothing created", "")
    down_leaves_nothing(aws_env, fault_proxy)


@pytest.mark.parametrize("action", SECOND)
def test_a_lost_answer_without_a_token_leaves_a_second_that_down_deletes(
    aws_env: AwsEnv, fault_proxy: FaultProxy, action: str
) -> None:
    fault_proxy.add(action, "lost", times=1)
    ok(up(aws_env, fault_proxy, *SMALL))
    assert len(fault_proxy.calls(action)) >= 2
    assert checks.names(checks.instances(aws_env, "alpha")) == ["alpha-client-1", "alpha-server-1"]
    ok(up(aws_env, fault_proxy, *SMALL))
    assert checks.names(checks.instances(aws_env, "alpha")) == ["alpha-client-1", "alpha-server-1"]
    down_leaves_nothing(aws_env, fault_proxy)


def test_a_key_pair_that_appears_and_is_not_ours_is_a_clear_error(
    aws_env: AwsEnv, fault_proxy: FaultProxy
) -> None:
    """Between the look and the import another key of the same name appears (not tagged for
    this cluster): the import's "already exists" is not taken as ours."""
    ec2 = aws_env.client("ec2")
    holder = fault_proxy.add("ImportKeyPair", "block", times=1)
    proc = aws_env.popen("--cluster", "alpha", "up", "--yes", "--allow-cidr", "203.0.113.0/24",
                         *SMALL, endpoint=fault_proxy.url)  # fmt: skip
    assert holder.blocked.wait(60)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    other = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    ec2.import_key_pair(KeyName="nomadctl-alpha", PublicKeyMaterial=other)
    holder.release.set()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 5, err
    line = error_line(err)
    assert "key pair nomadctl-alpha" in line and "not this cluster's key" in line, line
    ec2.delete_key_pair(KeyName="nomadctl-alpha")
    fault_proxy.clear()
    down_leaves_nothing(aws_env, fault_proxy)


def test_an_iam_role_that_appears_and_is_not_ours_is_a_clear_error(
    aws_env: AwsEnv, fault_proxy: FaultProxy
) -> None:
    iam = aws_env.client("iam")
    holder = fault_proxy.add("CreateRole", "block", times=1)
    proc = aws_env.popen("--cluster", "alpha", "up", "--yes", "--allow-cidr", "203.0.113.0/24",
                         *SMALL, endpoint=fault_proxy.url)  # fmt: skip
    assert holder.blocked.wait(60)
    iam.create_role(RoleName="nomadctl-alpha-node", AssumeRolePolicyDocument="{}")
    holder.release.set()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 5, err
    line = error_line(err)
    assert "IAM role nomadctl-alpha-node" in line and "not made by nomadctl" in line, line
    iam.delete_role(RoleName="nomadctl-alpha-node")
    fault_proxy.clear()
    down_leaves_nothing(aws_env, fault_proxy)
