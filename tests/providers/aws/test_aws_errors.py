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


def _not_set_up(proc, command: tuple[str, ...], reason: str) -> None:
    """`up` fails and names `--local`; `list` and `down` of a cluster with no workspace are
    no error on a machine without AWS set up (issue 26 point 4): they say AWS was not asked."""
    if command[0] == "up":
        assert proc.returncode == 5
        line = error_line(proc.stderr)
        assert reason in line and "`nomadctl up --local`" in line
        return
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr and reason in proc.stderr
    if command[0] == "down":
        assert "Nothing to delete: no cluster 'alpha'" in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_no_credentials(aws_env: AwsEnv, command: tuple[str, ...]) -> None:
    proc = aws_env.nomadctl(
        "--cluster",
        "alpha",
        *command,
        env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
    )
    _not_set_up(proc, command, "no AWS credentials found")
    checks.assert_gone(aws_env, "alpha")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_region(aws_env: AwsEnv, command: tuple[str, ...]) -> None:
    proc = aws_env.nomadctl("--cluster", "alpha", *command, env={"AWS_DEFAULT_REGION": None})
    _not_set_up(proc, command, "no AWS region")
    checks.assert_gone(aws_env, "alpha")


@pytest.mark.parametrize("command", [("down", "--yes"), ("list",)])
def test_an_explicit_region_without_credentials_is_still_an_error(
    aws_env: AwsEnv, command: tuple[str, ...]
) -> None:
    proc = aws_env.nomadctl(
        "--cluster", "alpha", *command, "--region", "eu-west-1",
        env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
    )  # fmt: skip
    assert proc.returncode == 5
    assert "no AWS credentials found" in error_line(proc.stderr)


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
