"""Issue 29 point 9: the stand-in is as strict as Nomad where the fault paths lean on it.

- config: `raft_protocol` other than 3 refused at start (command/agent/agent.go), durations
  without a unit refused at load (command/agent/config_parse.go convertDurations);
- API: query flags parsed as strconv.ParseBool (`True` counts, `maybe` is refused),
  `/v1/nodes?resources=true&os=true` filled as structs.Node.Stub fills it, deleting a job
  that does not exist answered as Job.Deregister answers it (an empty reply, no error);
- ACL bootstrap: "already done" before the BootstrapSecret is looked at; the reset file
  read as fmt.Sscanf("%d") reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl.cluster.acl import with_token
from nomadctl.cluster.target import workspace_target
from nomadctl.workspace import Workspace
from tests.standin import make_binary
from tests.standin.agent.common import AgentError
from tests.standin.agent.config import build_config, load_config_files, validate

SERVER = 'data_dir = "/tmp/x"\nserver {\n  enabled = true\n  bootstrap_expect = 1\n%s}\n'


def load(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "a.hcl"
    conf.write_text(text)
    raw, files = load_config_files([str(conf)])
    validate(build_config(raw, files, {}))


@pytest.mark.parametrize("value", ["2", "1", "4"])
def test_raft_protocol_other_than_3_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        AgentError, match=f"raft_protocol must be 3 in Nomad v1.4 and later, got {value}"
    ):
        load(tmp_path, SERVER % f"  raft_protocol = {value}\n")


def test_raft_protocol_3_passes(tmp_path: Path) -> None:
    load(tmp_path, SERVER % "  raft_protocol = 3\n")


@pytest.mark.parametrize(
    ("block", "label", "value"),
    [
        ('  heartbeat_grace = "10"\n', "server.heartbeat_grace", "10"),
        ("  heartbeat_grace = 10\n", "server.heartbeat_grace", "10"),
        ('  server_join {\n    retry_join = ["a"]\n    retry_interval = "15"\n  }\n',
         "server.server_join.retry_interval", "15"),
        ('  min_heartbeat_ttl = "1x"\n', "server.min_heartbeat_ttl", "1x"),
    ],
)  # fmt: skip
def test_durations_without_a_unit_are_refused(tmp_path: Path, block, label, value) -> None:
    with pytest.raises(AgentError, match=f"{label} can't parse time duration {value}$"):
        load(tmp_path, SERVER % block)


def test_go_durations_pass(tmp_path: Path) -> None:
    block = '  heartbeat_grace = "1m30s"\n  min_heartbeat_ttl = "0"\n  retry_interval = ".5s"\n'
    load(tmp_path, SERVER % block)
    load(tmp_path, SERVER % "" + 'autopilot {\n  last_contact_threshold = "200ms"\n}\n')
    with pytest.raises(AgentError, match=r"autopilot\.last_contact_threshold can't parse"):
        load(tmp_path, SERVER % "" + 'autopilot {\n  last_contact_threshold = "200"\n}\n')


def nomadctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", "sa", *args],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    """A requests session and base URL to a local cluster's server, management token set."""
    tmp = tmp_path_factory.mktemp("strictapi")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    up = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--servers", "1")
    try:
        assert up.returncode == 0, up.stderr
        status = nomadctl(home, "status", "--wait", "30")  # the clients registered
        assert status.returncode == 0, status.stderr
        ws = Workspace(home, "sa")
        target = workspace_target(ws)
        from nomadctl.cluster.api import Api

        client = Api(with_token(target, target.token or "")).client(target.addresses[0])
        session, base = client.acl.session, target.addresses[0]
        session.verify, session.cert = target.ca_file, target.client_cert
        yield session, base, {"X-Nomad-Token": target.token}
    finally:
        nomadctl(home, "down", "--yes")


def test_node_list_fields_as_nomad_fills_them(http) -> None:
    session, base, headers = http
    plain = session.get(f"{base}/v1/nodes", headers=headers).json()
    assert plain and all(
        "NodeResources" not in n and "Attributes" not in n for n in plain
    )  # omitempty
    full = session.get(f"{base}/v1/nodes?resources=true&os=True", headers=headers).json()
    for node in full:
        assert node["Attributes"] == {"os.name": "linux"}
        assert node["NodeResources"]["Cpu"]["CpuShares"] > 0
        assert node["NodeResources"]["Memory"]["MemoryMB"] > 0
        assert node["ReservedResources"]["Memory"] == {"MemoryMB": 0}
    bad = session.get(f"{base}/v1/nodes?os=maybe", headers=headers)
    assert bad.status_code == 400
    assert bad.text == (
        'Failed to parse node list fields: Failed to parse value of "os" (maybe) as a bool: '
        'strconv.ParseBool: parsing "maybe": invalid syntax'
    )
    off = session.get(f"{base}/v1/nodes?resources=0&os=F", headers=headers).json()
    assert all("NodeResources" not in n and "Attributes" not in n for n in off)


def test_deleting_a_job_that_does_not_exist(http) -> None:
    session, base, headers = http
    gone = session.delete(f"{base}/v1/job/never-was", headers=headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["EvalID"] == "" and gone.json()["JobModifyIndex"] == 0
    bad = session.delete(f"{base}/v1/job/never-was?purge=maybe", headers=headers)
    assert bad.status_code == 500 and "strconv.ParseBool" in bad.text
    assert session.delete(f"{base}/v1/job/never-was?purge=True", headers=headers).ok


def test_bootstrap_says_already_done_before_judging_the_secret(http) -> None:
    session, base, _headers = http
    again = session.post(f"{base}/v1/acl/bootstrap", json={"BootstrapSecret": "not-a-uuid"})
    assert again.status_code == 400 and again.text.startswith("ACL bootstrap already done")


def test_variable_writes_honour_cas(http) -> None:
    """command/agent/variable_endpoint.go parseCAS, nomad/state/state_store_variables.go
    varSetCASTxn / svDeleteCASTxn: a stale `cas` is a 409 carrying the stored variable,
    `cas=0` means "only if absent", a missing variable with `cas=N` conflicts as a zero value."""
    session, base, headers = http
    url = f"{base}/v1/var/cas/check"
    put = session.put(f"{url}?cas=0", json={"Items": {"a": "1"}}, headers=headers)
    assert put.status_code == 200, put.text
    index = put.json()["ModifyIndex"]
    again = session.put(f"{url}?cas=0", json={"Items": {"a": "2"}}, headers=headers)
    assert again.status_code == 409 and again.json()["Items"] == {"a": "1"}
    assert again.headers["X-Nomad-Index"] == str(index)
    stale = session.delete(f"{url}?cas={index + 1}", headers=headers)
    assert stale.status_code == 409 and stale.json()["ModifyIndex"] == index
    assert session.get(url, headers=headers).json()["Items"] == {"a": "1"}
    bad = session.put(f"{url}?cas=x", json={"Items": {"a": "3"}}, headers=headers)
    assert bad.status_code == 400 and bad.text.startswith("can not parse cas: strconv.ParseUint")
    empty = session.put(url, json={"Items": {}}, headers=headers)
    assert empty.status_code == 400 and empty.text == "variable missing required Items object"
    done = session.delete(f"{url}?cas={index}", headers=headers)
    assert done.status_code == 204 and not done.content
    missing = session.put(f"{url}?cas=7", json={"Items": {"a": "4"}}, headers=headers)
    assert missing.status_code == 409 and missing.json()["Items"] is None
    assert missing.json()["Path"] == "cas/check" and missing.json()["ModifyIndex"] == 0
    assert session.delete(f"{url}?cas=0", headers=headers).status_code == 204


def test_deleting_a_token_that_is_gone_is_a_400(http) -> None:
    """nomad/acl_endpoint.go ACL.DeleteTokens (v1.10.5): "Cannot delete nonexistent tokens",
    coded 400; the HTTP route (aclTokenDelete) does not look the token up first, so no 404."""
    session, base, headers = http
    gone = "3f1c9a52-7e4b-4d0a-9c61-0b2d8e5f7a10"
    resp = session.delete(f"{base}/v1/acl/token/{gone}", headers=headers)
    assert resp.status_code == 400 and resp.text == f"Cannot delete nonexistent tokens: {gone}"
    assert session.get(f"{base}/v1/acl/token/{gone}", headers=headers).status_code == 404
