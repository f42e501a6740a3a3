"""Errors the user gets from `up`, `down` and `list`: one line, a non-zero exit, no traceback,
and nothing created on AWS."""

from __future__ import annotations

import pytest

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import AwsEnv

ALLOW = ("--allow-cidr", "203.0.113.0/24")
COMMANDS = [
    pytest.param(("up", "--yes", *ALLOW), id="up"),
    pytest.param(("down", "--yes"), id="down"),
    pytest.param(("list",), id="list"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_no_credentials(aws_env: AwsEnv, command: tuple[str, ...]) -> None:
    proc = aws_env.nomadctl(
        "--cluster",
        "alpha",
        *command,
        env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
    )
    assert proc.returncode == 5
    assert "no AWS credentials found" in error_line(proc.stderr)
    checks.assert_gone(aws_env, "alpha")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_region(aws_env: AwsEnv, command: tuple[str, ...]) -> None:
    proc = aws_env.nomadctl("--cluster", "alpha", *command, env={"AWS_DEFAULT_REGION": None})
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "no AWS region" in line and "--region" in line
    checks.assert_gone(aws_env, "alpha")


def test_unknown_profile(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl("list", "--profile", "nope")
    assert proc.returncode == 5 and "profile 'nope' not found" in error_line(proc.stderr)


def test_unreachable_endpoint_fails_bounded(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl(
        "list", endpoint="http://127.0.0.1:9", env={"AWS_MAX_ATTEMPTS": "2"}, timeout=60
    )
    assert proc.returncode == 5
    assert "cannot reach AWS at http://127.0.0.1:9" in error_line(proc.stderr)


def test_invalid_ami(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl("up", "--yes", *ALLOW, "--ami", "ami-0123456789abcdef0")
    assert proc.returncode == 5
    assert "invalid AMI ami-0123456789abcdef0" in error_line(proc.stderr)
    checks.assert_gone(aws_env, "nomad")


def test_default_ami_missing_in_region(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl("up", "--yes", *ALLOW, "--region", "ap-south-1")
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "cannot resolve the default Ubuntu 24.04 AMI in ap-south-1" in line
    assert "--ami" in line


def test_unknown_instance_type_and_zone(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl("up", "--yes", *ALLOW, "--server-type", "t9.gigantic")
    assert proc.returncode == 2 and "t9.gigantic" in error_line(proc.stderr)
    proc = aws_env.nomadctl("up", "--yes", *ALLOW, "--availability-zone", "eu-west-1z")
    assert proc.returncode == 2 and "eu-west-1z" in error_line(proc.stderr)
    assert checks.tagged(aws_env, "nomad")["instances"] == []


def test_down_refuses_without_yes_when_not_on_a_terminal(aws_env: AwsEnv) -> None:
    ok(aws_env.nomadctl("up", "--yes", *ALLOW, "--servers", "1", "--clients", "0"))
    proc = aws_env.nomadctl("down")
    assert proc.returncode == 2 and "--yes" in error_line(proc.stderr)
    assert len(checks.instances(aws_env, "nomad")) == 1
    ok(aws_env.nomadctl("down", "--yes"))
    checks.assert_gone(aws_env, "nomad")
