"""`nomadctl doctor` (issue 26 point 8): each check of this machine as ok, warning or problem
with its fix; exit 1 on a problem. Real parts: the CLI as a process, this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.standin import make_binary


def doctor(
    tmp: Path, path: str, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **(extra or {}),
        "PATH": path,
        "HOME": str(tmp),
        "NOMADCTL_HOME": str(tmp / "home"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "doctor", *args],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp,
    )  # fmt: skip


def test_warnings_only_exit_0_and_name_their_fix(tmp_path: Path) -> None:
    old = make_binary(tmp_path / "old" / "nomad", version="1.7.2")
    proc = doctor(tmp_path, f"{old.parent}:/usr/bin:/bin", "--json")
    assert proc.returncode == 0, proc.stderr
    found = {f["check"]: f for f in json.loads(proc.stdout)}
    assert found["python"]["level"] == "ok"
    passed = [f for f in json.loads(proc.stdout) if f["check"] == "nomad binary"]
    assert passed[0]["level"] == "warning"
    assert passed[0]["detail"] == "`nomad` on PATH: Nomad 1.7.2, older than 1.8 (the oldest " \
        "nomadctl supports)"  # fmt: skip
    cache = tmp_path / "home" / "cache" / "nomad" / "1.11.1"
    assert passed[-1]["detail"] == "none at hand yet" and str(cache) in passed[-1]["fix"]
    assert found["aws"] == {  # no AWS set-up here: boto3 is not even imported to say so
        "check": "aws",
        "level": "warning",
        "detail": "no AWS credentials or configuration here (no AWS_* variables, no ~/.aws/config)",
        "fix": "only for clusters on AWS: `aws configure`",
        "applies": "aws",
    }
    assert found["ssh key"]["level"] == "warning" and "--ssh-key" in found["ssh key"]["fix"]
    assert "clock" not in found  # no cluster here to compare with
    table = doctor(tmp_path, f"{old.parent}:/usr/bin:/bin")
    assert table.returncode == 0
    assert any(line.split()[:3] == ["python", "all", "ok"] for line in table.stdout.splitlines())


def test_a_problem_exits_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()  # no gpg: a download could not be verified
    proc = doctor(tmp_path, str(empty), "--json")
    assert proc.returncode == 1
    gpg = next(f for f in json.loads(proc.stdout) if f["check"] == "gpg")
    assert gpg["level"] == "problem" and "install gnupg" in gpg["fix"]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: 1 problem(s): gpg: gpg is missing: a download cannot be verified"
    )


def test_aws_set_up_is_asked_about_through_boto3(tmp_path: Path) -> None:
    """A region (or any AWS_* variable or ~/.aws file) means the AWS check does ask boto3."""
    from nomadctl.providers.aws.session import NO_CREDENTIALS

    proc = doctor(tmp_path, "/usr/bin:/bin", "--json", extra={"AWS_REGION": "eu-west-1"})
    found = {f["check"]: f for f in json.loads(proc.stdout)}
    assert found["aws"]["level"] == "warning" and found["aws"]["detail"] == NO_CREDENTIALS
