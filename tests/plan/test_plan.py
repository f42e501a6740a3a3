"""`up` as one plan (issue 17 point 2, issue 16 points 1-2), on moto behind the strict layer.

The plan is read once: the prompt and the run see the same plan (AWS is not asked twice
for what the prompt showed), `--dry-run` shows every step (not only AWS), local problems
stop `up` before the first AWS call, and `up` without a terminal refuses to spend.
"""

from __future__ import annotations

import json
import sys

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import AwsEnv
from tests.terminal import run_on_terminal

NET = ("--vpc-cidr", "198.18.0.0/16", "--subnet-cidr", "198.18.1.0/24")
ALLOW = ("--allow-cidr", "203.0.113.0/24")
STEPS = [
    "preflight",
    "certificates",
    "provision",
    "node certificates",
    "configure",
    "leader",
    "acl bootstrap",
    "replace",
    "scale in",
    "summary",
]


def test_dry_run_shows_every_step_cost_and_warnings(aws_env: AwsEnv) -> None:
    proc = ok(
        aws_env.nomadctl(
            "--cluster", "p1", "up", *NET, "--allow-cidr", "0.0.0.0/0", "--clients", "0",
            "--servers", "7", "--dry-run", "--json",
        )
    )  # fmt: skip
    plan = json.loads(proc.stdout)
    assert [s["name"] for s in plan["steps"]] == STEPS
    assert plan["costs"]["usd_per_hour"] > 0 and plan["costs"]["usd_per_month"] > 0
    assert [h["action"] for h in plan["hosts"]] == ["create"] * 7
    text = " ".join(plan["warnings"])
    assert "0.0.0.0/0" in text and "7 servers" in text and "no clients" in text
    table = ok(aws_env.nomadctl("--cluster", "p1", "up", *NET, *ALLOW, "--dry-run")).stdout
    for step in STEPS:
        assert step in table
    assert "Cost while running: about $" in table and "/month" in table
    checks.assert_gone(aws_env, "p1")
    assert not (aws_env.home / "p1").exists()

    unknown = ok(
        aws_env.nomadctl(
            "--cluster", "p1", "up", *NET, *ALLOW, "--server-type", "m5zn.large", "--dry-run",
            "--json",
        )
    )  # fmt: skip
    # a real type the price table does not know is "unknown", not a guess
    assert json.loads(unknown.stdout)["costs"]["usd_per_hour"] is None


def test_without_a_terminal_up_refuses_to_spend(aws_env: AwsEnv) -> None:
    proc = aws_env.nomadctl("--cluster", "p2", "up", *NET, *ALLOW, "--skip-configure")
    assert proc.returncode == 2
    line = error_line(proc.stderr)
    assert "--yes" in line and "/hour" in line and "not a terminal" in line
    checks.assert_gone(aws_env, "p2")
    assert not (aws_env.home / "p2" / "state.json").exists()


def test_local_problems_stop_up_before_any_aws_call(aws_env: AwsEnv, tmp_path) -> None:
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAA test\n")
    binary = tmp_path / "missing-nomad"
    before = len(aws_env.proxy.log)
    proc = aws_env.nomadctl(
        "--cluster", "p3", "up", "--yes", *NET, *ALLOW, "--nomad-binary", str(binary),
    )  # fmt: skip
    assert proc.returncode == 2 and "--nomad-binary" in error_line(proc.stderr)
    dry = aws_env.nomadctl(
        "--cluster", "p3", "up", *NET, *ALLOW, "--nomad-binary", str(binary),
        "--license-file", str(tmp_path / "nope.hclic"), "--dry-run",
    )  # fmt: skip
    assert dry.returncode == 2
    assert "problem: --nomad-binary" in dry.stdout and "problem: --license-file" in dry.stdout
    assert len(aws_env.proxy.log) == before  # not one AWS request
    assert not (aws_env.home / "p3").exists()


def test_the_prompt_and_the_run_see_one_plan(aws_env: AwsEnv) -> None:
    before = {a: len(aws_env.proxy.calls(a)) for a in ("DescribeImages", "GetParameter")}
    run = run_on_terminal(
        [sys.executable, "-m", "nomadctl", "--cluster", "p4", "up", *NET, *ALLOW,
         "--servers", "1", "--clients", "0", "--skip-configure"],
        env=aws_env.child_env(),
        cwd=aws_env.tmp,
        prompt="[y/N]:",
        answer="y",
        timeout=90,
    )  # fmt: skip
    assert run.prompted and run.returncode == 0, run.terminal
    assert "Steps" in run.terminal and "acl bootstrap" in run.terminal
    # the image was resolved once, for the plan the user said yes to
    asked = {a: len(aws_env.proxy.calls(a)) - n for a, n in before.items()}
    assert asked == {"DescribeImages": 1, "GetParameter": 1}, asked
    checks.assert_complete(aws_env, "p4", servers=1, clients=0)

    # down is a plan too, whatever the provider: find (what --dry-run shows), a final snapshot
    # (issue 24), delete, forget
    dry = json.loads(ok(aws_env.nomadctl("--cluster", "p4", "down", "--dry-run", "--json")).stdout)
    assert [s["name"] for s in dry["steps"]] == ["find", "snapshot", "delete", "forget"]
    assert {s["status"] for s in dry["steps"]} == {"planned"} and dry["region"] == "eu-west-1"
    shown = {(r["kind"], r["id"]) for r in dry["resources"]}
    assert ("instance", checks.instances(aws_env, "p4")[0]["InstanceId"]) in shown
    done = json.loads(ok(aws_env.nomadctl("--cluster", "p4", "down", "--yes", "--json")).stdout)
    # --skip-configure: no ACLs, so no snapshot to save
    assert [s["status"] for s in done["steps"]] == ["done", "skipped", "done", "done"]
    assert {(r["kind"], r["id"]) for r in done["resources"]} == shown  # what was shown went
    assert {r["status"] for r in done["resources"]} == {"deleted"}
    checks.assert_gone(aws_env, "p4")


def test_a_failure_after_resources_exist_says_what_and_how_to_remove_it(
    aws_env: AwsEnv,
) -> None:
    aws_env.proxy.add(
        "CreateRole", "error", times=99, code="AccessDenied", message="not allowed to make roles"
    )
    proc = aws_env.nomadctl(
        "--cluster", "p5", "up", "--yes", *NET, *ALLOW, "--servers", "1", "--clients", "0",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "may exist on AWS eu-west-1" in proc.stderr
    vpc = checks.tagged(aws_env, "p5")["vpcs"][0]
    assert f"vpc {vpc}" in proc.stderr  # named, as recorded in state.json
    assert "nomadctl --cluster p5 down" in proc.stderr
    assert checks.tagged(aws_env, "p5")["vpcs"]  # the network exists: the message is true
    aws_env.proxy.clear()
    ok(aws_env.nomadctl("--cluster", "p5", "down", "--yes"))
    checks.assert_gone(aws_env, "p5")
