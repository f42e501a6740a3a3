"""A user's first hour, automated: certs, up on "AWS", status, the nomad env, sample jobs,
a no-change re-run, down.

Real: moto's server over HTTP as AWS, six OpenSSH hosts in network namespaces at exactly the
private IPs moto hands out in 198.18.1.0/24 (nomadctl reaches them with `--ssh-address
private`), TLS with the cluster's certificates, python-nomad. Stand-in: the Nomad agent
(tests/standin) uploaded with `--nomad-binary`, and systemctl on the hosts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.aws import checks
from tests.standin import make_binary

ROOT = Path(__file__).resolve().parents[3]
SUBNET = "198.18.1.0/24"
# The AWS fixture stops `up` before SSH (its instances are not reachable); these tests have
# real hosts at the instances' private IPs, so they configure them.
CONFIGURE: dict[str, str | None] = {"NOMADCTL_UP_SKIP_CONFIGURE": None}


def up_args(tb: Any, binary: Path, *extra: str) -> list[str]:
    return [
        "up",
        "--yes",
        "--json",
        "--vpc-cidr",
        "198.18.0.0/16",
        "--subnet-cidr",
        SUBNET,
        "--zones",  # one subnet: the testbed's hosts are at its IPs (three zones: test_zones.py)
        "1",
        "--api-endpoint",  # the servers' own addresses (the load balancer: test_balancer.py)
        "none",
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
        *extra,
    ]


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def job_json(path: Path) -> dict[str, Any]:
    """The test's own HCL -> Nomad API JSON for the fields the API needs to store a job."""
    parsed = _unquote(hcl2.loads(path.read_text()))
    ((name, body),) = parsed["job"][0].items()
    groups = []
    for group in body.get("group", []):
        ((gname, g),) = group.items()
        tasks = []
        for task in g.get("task", []):
            ((tname, t),) = task.items()
            tasks.append({"Name": tname, "Driver": t["driver"], "Config": t.get("config", [{}])[0]})
        groups.append({"Name": gname, "Count": g.get("count", 1), "Tasks": tasks})
    return {
        "ID": name,
        "Name": name,
        "Type": body.get("type", "service"),
        "Datacenters": body.get("datacenters", ["*"]),
        "NodePool": body.get("node_pool", "default"),
        "TaskGroups": groups,
    }


def exported_env(text: str) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", text + "\nenv -0"], capture_output=True, text=True, check=True
    ).stdout
    env = dict(kv.split("=", 1) for kv in out.split("\0") if "=" in kv)
    return {k: v for k, v in env.items() if k.startswith("NOMAD_")}


PY_NOMAD = """
import json, os, sys, nomad
n = nomad.Nomad(verify=os.environ["NOMAD_CACERT"], timeout=10)
members = n.agent.get_members()["Members"]
registered = []
for job in json.load(sys.stdin):
    n.jobs.register_job({"Job": job})
    registered.append(job["ID"])
listed = sorted(j["ID"] for j in n.jobs.get_jobs())
print(json.dumps({"members": len(members), "registered": sorted(registered), "listed": listed}))
"""


@pytest.mark.testbed
def test_first_hour(aws_env, testbed_factory, tmp_path: Path) -> None:
    tb = testbed_factory(6, subnet=SUBNET)
    binary = make_binary(tmp_path / "nomad", version="1.11.1")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return aws_env.nomadctl(*args, timeout=timeout, env=CONFIGURE)

    # 1. certs, then up on AWS with the hosts reached by their private address.
    assert run("--cluster", "life", "certs").returncode == 0
    proc = run("--cluster", "life", *up_args(tb, binary), timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["configured"] and report["acl"] == "bootstrapped" and report["leader"]
    private = sorted(h["private_ip"] for h in report["hosts"])
    assert private == sorted(h.address for h in tb.hosts), "moto's IPs are the testbed's"
    assert [h["status"] for h in report["hosts"]] == ["configured"] * 6
    checks.assert_complete(aws_env, "life")
    server_cfg = tb.read_file(tb.host(report["hosts"][0]["private_ip"]), "/etc/nomad.d/join.hcl")
    assert b"provider=aws tag_key=nomadctl:auto-join" in server_cfg  # join settings: own file

    # 2. status --json: three alive servers, one leader, three ready nodes.
    proc = run("--cluster", "life", "status", "--json", "--wait", "30")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert [m["Status"] for m in status["members"]] == ["alive"] * 3
    assert sorted(m["Tags"]["Leader"] for m in status["members"]) == ["false", "false", "true"]
    assert sorted(n["Status"] for n in status["nodes"]) == ["ready"] * 3

    # 3. eval "$(nomadctl env)": python-nomad with only those variables.
    proc = run("--cluster", "life", "env")
    assert proc.returncode == 0, proc.stderr
    env = exported_env(proc.stdout)
    jobs = [job_json(p) for p in sorted((ROOT / "examples" / "jobs").glob("*.nomad.hcl"))]
    result = py_nomad(env, jobs, timeout=120)
    assert result["members"] == 3
    assert result["registered"] == result["listed"] == sorted(j["ID"] for j in jobs)

    # 4. up again: nothing created, uploaded or restarted.
    pids = [tb.unit_pid(h) for h in tb.hosts]
    proc = run("--cluster", "life", *up_args(tb, binary), timeout=300)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["aws"]["changed"] is False
    assert [h["status"] for h in again["hosts"]] == ["unchanged"] * 6
    assert all(h["ssh"]["bytes_sent"] == 0 for h in again["hosts"])
    assert again["acl"] == "already"
    assert [tb.unit_pid(h) for h in tb.hosts] == pids

    # 5. down: nothing of the cluster is left in moto; a second down is a no-op.
    proc = run("--cluster", "life", "down", "--yes", timeout=300)
    assert proc.returncode == 0, proc.stderr
    checks.assert_gone(aws_env, "life")
    ec2 = aws_env.client("ec2")
    assert not ec2.describe_volumes(Filters=[{"Name": "tag:nomadctl:cluster", "Values": ["life"]}])[
        "Volumes"
    ]
    proc = run("--cluster", "life", "down", "--yes")
    assert proc.returncode == 0 and "Nothing to delete" in proc.stdout, proc.stderr


@pytest.mark.testbed
def test_interrupted_up_converges(aws_env, testbed_factory, tmp_path: Path) -> None:
    """SIGINT while the nodes are being configured, then `up` again: same cluster, healthy."""
    tb = testbed_factory(6, subnet=SUBNET, delay_ms=150)  # slow SSH: time to interrupt
    binary = make_binary(tmp_path / "nomad", version="1.11.1")
    args = ["--cluster", "intr", *up_args(tb, binary)]
    proc = aws_env.popen(*args, env=CONFIGURE)
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        seen.append(line)
        if "connecting to" in line:
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(seen)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err
    assert "interrupted" in err and "Traceback" not in err
    before = {i["InstanceId"] for i in checks.instances(aws_env, "intr")}
    assert len(before) == 6

    done = aws_env.nomadctl(*args, timeout=300, env=CONFIGURE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["configured"]
    assert {i["InstanceId"] for i in checks.instances(aws_env, "intr")} == before
    status = aws_env.nomadctl(
        "--cluster", "intr", "status", "--json", "--wait", "30", env=CONFIGURE
    )
    assert status.returncode == 0, status.stderr
    assert len(json.loads(status.stdout)["nodes"]) == 3
    assert aws_env.nomadctl("--cluster", "intr", "down", "--yes", timeout=300).returncode == 0
    checks.assert_gone(aws_env, "intr")


def py_nomad(env: dict[str, str], jobs: list[dict], timeout: float) -> dict:
    """Run PY_NOMAD (python-nomad against the cluster `env` points at) with `jobs`."""
    py = subprocess.run(
        [sys.executable, "-c", PY_NOMAD],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=timeout,
    )
    assert py.returncode == 0, py.stderr
    return json.loads(py.stdout)
