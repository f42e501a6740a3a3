"""Faults on the wire and interrupted runs: `up` retries or fails in one line, a following
`up` converges, and `down` leaves nothing.

boto3 talks to moto through `tests.aws.faultproxy`, which throttles, refuses, drops or holds
chosen API actions. Holding a request lets a test kill `up` at an exact step.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.faultproxy import FaultProxy
from tests.aws.fixtures import AwsEnv

ALLOW = ("--allow-cidr", "203.0.113.0/24")

SMALL = ("--servers", "1", "--clients", "1")


def up(aws: AwsEnv, proxy: FaultProxy, *args: str, **kw: Any):  # type: ignore[no-untyped-def]
    return aws.nomadctl(
        "--cluster", "alpha", "up", "--yes", *ALLOW, *args, endpoint=proxy.url, **kw
    )


def down_leaves_nothing(aws: AwsEnv, proxy: FaultProxy) -> None:
    ok(aws.nomadctl("--cluster", "alpha", "down", "--yes", endpoint=proxy.url))
    checks.assert_gone(aws, "alpha")


def tokens(proxy: FaultProxy, since: int = 0) -> list[str]:
    runs = [s for s in proxy.log[since:] if s.action == "RunInstances"]
    return [s.params["ClientToken"][0] for s in runs]


def test_throttling_and_transient_errors_are_retried(
    aws_env: AwsEnv, fault_proxy: FaultProxy
) -> None:
    fault_proxy.add("CreateVpc", "throttle", times=2)
    fault_proxy.add("AuthorizeSecurityGroupIngress", "throttle503", times=1)
    fault_proxy.add("CreateRole", "throttle", times=1)  # IAM's query-API error body
    fault_proxy.add("GetParameter", "throttle", times=1)  # SSM's JSON error body
    # A just-made instance profile is "invalid" to EC2 for a while: up waits for it.
    fault_proxy.add(
        "RunInstances",
        "error",
        times=2,
        code="InvalidParameterValue",
        message="Value (nomadctl-alpha-node) for parameter iamInstanceProfile.name is invalid. "
        "Invalid IAM Instance Profile name",
    )
    fault_proxy.add("RunInstances", "capacity", times=1, skip=1)  # HTTP 500: retried
    proc = ok(up(aws_env, fault_proxy, *SMALL))
    assert "IAM instance profile to be visible to EC2" in proc.stderr
    strict = sum(1 for action, _, _ in aws_env.strict.refused if action == "RunInstances")
    assert len(fault_proxy.calls("RunInstances")) - strict == 2 + 1 + 1 + 1  # 2 profile, 1 capacity
    assert len(fault_proxy.calls("CreateVpc")) == 3
    assert len(fault_proxy.calls("CreateRole")) == 2
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    assert "Traceback" not in proc.stderr

    # nothing secret ever went over the wire
    key = (aws_env.home / "alpha" / "ssh" / "id_ed25519").read_text().splitlines()[1]
    assert not any(key.encode() in s.body or b"PRIVATE KEY" in s.body for s in fault_proxy.log)
    fault_proxy.add("TerminateInstances", "throttle", times=1)
    fault_proxy.add("DeleteVpc", "throttle", times=1)
    down_leaves_nothing(aws_env, fault_proxy)


def test_dropped_connections_are_retried_without_duplicates(
    aws_env: AwsEnv, fault_proxy: FaultProxy
) -> None:
    fault_proxy.add("CreateSubnet", "drop", times=2)
    fault_proxy.add("ImportKeyPair", "drop", times=1)
    # The answer is lost after AWS acted: botocore retries with the same ClientToken, and EC2
    # (the strict layer) answers with the original reservation: no second machine.
    fault_proxy.add("RunInstances", "drop_after", times=1)
    # A VPC has no idempotency token: a lost answer leaves a second, empty VPC.
    fault_proxy.add("CreateVpc", "drop_after", times=1)
    proc = ok(up(aws_env, fault_proxy, *SMALL))
    assert "duplicate" not in proc.stdout
    run_tokens = tokens(fault_proxy)
    assert len(run_tokens) >= 3 and len(set(run_tokens)) == 2  # one token per node
    insts = checks.instances(aws_env, "alpha")
    assert checks.names(insts) == ["alpha-client-1", "alpha-server-1"]
    assert len(checks.tagged(aws_env, "alpha")["vpcs"]) == 2
    proc = ok(up(aws_env, fault_proxy, *SMALL))
    assert "warning: 2 VPCs" in proc.stderr
    assert checks.names(checks.instances(aws_env, "alpha")) == ["alpha-client-1", "alpha-server-1"]
    down_leaves_nothing(aws_env, fault_proxy)


def test_failures_at_successive_steps_are_one_line_and_up_converges(
    aws_env: AwsEnv, fault_proxy: FaultProxy
) -> None:
    """Each failing run gets one step further; the last run completes the cluster."""
    fault_proxy.add(
        "CreateVpc",
        "error",
        code="UnauthorizedOperation",
        status=403,
        message="You are not authorized to perform this operation. "
        "Encoded authorization failure message: AbCdEf0123456789",
    )
    proc = up(aws_env, fault_proxy, *SMALL)
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "missing AWS permission" in line and "ec2:CreateVpc" in line
    assert "Encoded" not in line

    fault_proxy.clear()
    fault_proxy.add("CreateSecurityGroup", "throttle", times=100)
    proc = up(aws_env, fault_proxy, *SMALL, env={"AWS_MAX_ATTEMPTS": "3"})
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "throttling ec2:CreateSecurityGroup" in line and "3 attempts" in line
    assert len(fault_proxy.calls("CreateSecurityGroup")) == 3  # bounded

    fault_proxy.clear()
    fault_proxy.add("CreateRole", "error", code="AccessDenied", status=403, message="denied")
    proc = up(aws_env, fault_proxy, *SMALL)
    assert proc.returncode == 5 and "iam:CreateRole" in error_line(proc.stderr)

    fault_proxy.clear()
    fault_proxy.add("RunInstances", "capacity", times=100)
    proc = up(aws_env, fault_proxy, *SMALL, env={"AWS_MAX_ATTEMPTS": "2"})
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "no capacity for t3.small in eu-west-1a" in line
    assert "--server-type" in line and "--availability-zone" in line
    assert len(fault_proxy.calls("RunInstances")) == 2  # bounded by AWS_MAX_ATTEMPTS

    fault_proxy.clear()
    ok(up(aws_env, fault_proxy, *SMALL))
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    down_leaves_nothing(aws_env, fault_proxy)


def test_down_reports_what_it_cannot_delete(aws_env: AwsEnv, fault_proxy: FaultProxy) -> None:
    ok(up(aws_env, fault_proxy, *SMALL))
    fault_proxy.add(
        "DeleteInternetGateway", "error", code="UnauthorizedOperation", status=403, times=100
    )
    proc = aws_env.nomadctl("--cluster", "alpha", "down", "--yes", endpoint=fault_proxy.url)
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "could not delete" in line and "internet-gateway" in line
    assert "ec2:DeleteInternetGateway" in line
    assert "failed" in proc.stdout and "deleted" in proc.stdout  # the rest went
    assert checks.tagged(aws_env, "alpha")["instances"] == []
    fault_proxy.clear()
    down_leaves_nothing(aws_env, fault_proxy)


# ---- interruptions -------------------------------------------------------------------------

POINTS = [
    # (held action, matching requests let through first, fault, signal)
    pytest.param("CreateSubnet", 0, "block", signal.SIGKILL, id="after-vpc-kill"),
    pytest.param("CreateRole", 0, "block", signal.SIGKILL, id="after-key-pair-kill"),
    pytest.param("RunInstances", 1, "block", signal.SIGINT, id="after-servers-int"),
    pytest.param("RunInstances", 0, "block_after", signal.SIGKILL, id="launch-answer-lost-kill"),
]


@pytest.mark.parametrize(("action", "skip", "fault", "sig"), POINTS)
def test_interrupted_up_resumes_without_duplicates(
    aws_env: AwsEnv,
    fault_proxy: FaultProxy,
    action: str,
    skip: int,
    fault: str,
    sig: signal.Signals,
) -> None:
    # This test is about the interruption: IAM propagates at once here (test_aws_strict has it),
    # so the held launch is the one that goes through.
    aws_env.strict.windows.iam_profile = aws_env.strict.windows.iam_role = 0.0
    rule = fault_proxy.add(action, fault, skip=skip, forward=False)
    proc = aws_env.popen(
        "--cluster", "alpha", "up", "--yes", *ALLOW, *SMALL, endpoint=fault_proxy.url
    )
    try:
        assert rule.blocked.wait(60), "up never reached the held request"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rule.release.set()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL

    # whatever was made before the interruption is recorded in state.json
    st = checks.state(aws_env, "alpha")["aws"]
    found = checks.tagged(aws_env, "alpha")
    assert found["vpcs"] == [st["vpc_id"]]
    if action != "CreateSubnet":
        assert found["security_groups"] and set(found["security_groups"]) == {
            st["sg_id"],
            st["clients_sg_id"],
        }
    held_tokens = tokens(fault_proxy)
    mark = len(fault_proxy.log)
    fault_proxy.clear()

    ok(aws_env.nomadctl("--cluster", "alpha", "up", "--yes", *ALLOW, *SMALL,
                        endpoint=fault_proxy.url))  # fmt: skip
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    rerun_tokens = tokens(fault_proxy, since=mark)
    if action == "RunInstances" and fault == "block":
        # the launch that never reached AWS is retried with the very same ClientToken
        assert held_tokens[-1] == rerun_tokens[0]
    if fault == "block_after":
        # the launch that went through is found by its tags, not launched again
        assert len(rerun_tokens) == 1 and held_tokens[0] not in rerun_tokens
    down_leaves_nothing(aws_env, fault_proxy)
