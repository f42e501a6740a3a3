"""Issue 24, points 1, 2, 6 and 7: `nomadctl snapshot save|list|inspect|restore` on local agents
(the stand-in as `nomad`), end to end: a job, a variable and an ACL policy; save; every
server's data dir destroyed; `up` again (a new, empty cluster on the same workspace); restore;
all of it back, the workspace's tokens working, `status` healthy. Then bad input: a truncated,
a foreign and a tampered file, another cluster's snapshot, no management token, a full disk.
One cluster for the module; the tests run in order."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from nomadctl.cluster.api import _session
from nomadctl.cluster.target import workspace_target
from nomadctl.providers.local import proc
from nomadctl.workspace import Workspace
from tests.standin import make_binary

CLUSTER = "snap"
JOB = {
    "Job": {
        "ID": "web",
        "Name": "web",
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [
            {
                "Name": "web",
                "Count": 1,
                "Tasks": [
                    {"Name": "web", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
                ],
            }
        ],
    }
}
RULES = 'namespace "default" {\n  policy = "read"\n}\n'
POLICY = {"Name": "readers", "Description": "read jobs", "Rules": RULES}


def nomadctl(home: Path, *args: str, timeout: float = 120, env: Any = None, **kw: Any):
    env = {
        **(env or {}),
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL, **kw,
    )  # fmt: skip


class Cluster:
    def __init__(self, home: Path, binary: Path) -> None:
        self.home, self.binary = home, binary
        self.ws = Workspace(home, CLUSTER)

    def call(self, method: str, path: str, body: Any = None, token: str | None = "mgmt") -> Any:
        target = workspace_target(self.ws)
        secret = target.token if token == "mgmt" else token
        session = _session(target.server_name)
        resp = session.request(
            method,
            target.addresses[0] + path,
            json=body,
            cert=target.client_cert,
            verify=target.ca_file,
            headers={"X-Nomad-Token": secret} if secret else {},
            timeout=10,
        )
        return resp.status_code, (resp.json() if resp.content and resp.ok else resp.text)

    def servers(self) -> list[proc.NodeDir]:
        return sorted(p for p in (self.home / CLUSTER / "local").glob("*-server-*"))

    def up(self, *extra: str, env: Any = None):
        args = ["up", "--local", "--nomad-binary", str(self.binary), "--servers", "3"]
        return nomadctl(self.home, *args, "--clients", "1", "--yes", "--json", *extra, env=env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("snapshots")
    c = Cluster(tmp / "home", make_binary(tmp / "bin" / "nomad"))
    try:
        yield c
    finally:
        nomadctl(c.home, "down", "--yes", "--no-snapshot")
        nomadctl(c.home, "down", "--yes")


def test_save_destroy_up_restore(cluster: Cluster, tmp_path: Path) -> None:
    first = cluster.up()
    assert first.returncode == 0, first.stderr
    assert cluster.call("PUT", "/v1/jobs", JOB)[0] == 200
    assert cluster.call("PUT", "/v1/var/app/config", {"Items": {"db": "pg"}})[0] == 200
    assert cluster.call("PUT", "/v1/acl/policy/readers", POLICY)[0] == 200
    user = json.loads((cluster.ws.path / "tokens" / "user.json").read_text())["SecretID"]
    assert cluster.call("GET", "/v1/jobs", token=user)[0] == 200

    saved = nomadctl(cluster.home, "snapshot", "save", "--json")
    assert saved.returncode == 0, saved.stderr
    record = json.loads(saved.stdout)
    path = Path(record["path"])
    assert path.parent == cluster.ws.path / "snapshots" and path.name.startswith(f"{CLUSTER}-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not record["automatic"]
    assert not list(path.parent.glob(".*.tmp"))
    listed = json.loads(nomadctl(cluster.home, "snapshot", "list", "--json").stdout)
    assert [(e["name"], e["automatic"], e["index"]) for e in listed] == [
        (path.name, False, record["index"])
    ]
    inspected = nomadctl(cluster.home, "snapshot", "inspect", str(path), "--json")
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["intact"] and info["index"] == record["index"] and info["term"] >= 1
    # The file is a Nomad snapshot as helper/snapshot writes it: gzip'd tar, three members.
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tar:
        assert tar.getnames() == ["meta.json", "state.bin", "SHA256SUMS"]

    # Every server's data dir is lost: stop the servers, destroy their data, `up` again.
    for node in cluster.servers():
        pid = proc.running_pid(proc.NodeDir(node))
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(node / "data")
    again = cluster.up()
    assert again.returncode == 0, again.stderr
    assert cluster.call("GET", "/v1/job/web")[0] == 404  # a new, empty cluster
    assert cluster.call("GET", "/v1/var/app/config")[0] == 404

    restored = nomadctl(cluster.home, "snapshot", "restore", str(path), "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["index"] == record["index"]
    said = f"(index {record['index']}, term"
    assert "Replace the state of cluster 'snap' (raft index" in restored.stderr
    assert said in restored.stderr
    code, job = cluster.call("GET", "/v1/job/web")
    assert code == 200 and job["ID"] == "web"
    code, var = cluster.call("GET", "/v1/var/app/config")
    assert code == 200 and var["Items"] == {"db": "pg"}
    code, policy = cluster.call("GET", "/v1/acl/policy/readers")
    assert code == 200 and 'policy = "read"' in policy["Rules"]
    assert cluster.call("GET", "/v1/jobs", token=user)[0] == 200  # the user token is back
    status = nomadctl(cluster.home, "status", "--json", "--wait", "30")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["healthy"]


def test_restore_asks_and_refuses_without_a_terminal(cluster: Cluster) -> None:
    (path,) = (cluster.ws.path / "snapshots").glob("*.snap")
    proc_ = nomadctl(cluster.home, "snapshot", "restore", str(path))
    assert proc_.returncode == 2 and "pass --yes" in proc_.stderr
    assert proc_.stderr.count("\n") == 1


def _bad(cluster: Cluster, tmp_path: Path, name: str, data: bytes) -> subprocess.CompletedProcess:
    bad = tmp_path / name
    bad.write_bytes(data)
    before = cluster.call("GET", "/v1/job/web")
    proc_ = nomadctl(cluster.home, "snapshot", "restore", str(bad), "--yes")
    assert proc_.returncode == 2, proc_.stderr
    assert proc_.stderr.count("\n") == 1 and "nothing was restored" in proc_.stderr
    assert cluster.call("GET", "/v1/job/web") == before
    return proc_


def test_bad_files_are_refused_before_anything_changes(cluster: Cluster, tmp_path: Path) -> None:
    (path,) = (cluster.ws.path / "snapshots").glob("*.snap")
    good = path.read_bytes()
    assert "truncated" in _bad(cluster, tmp_path, "cut.snap", good[: len(good) // 2]).stderr
    assert "not gzip" in _bad(cluster, tmp_path, "text.snap", b"hello\n").stderr
    foreign = io.BytesIO()
    with tarfile.open(fileobj=foreign, mode="w") as tar:
        info = tarfile.TarInfo("etc/passwd")
        tar.addfile(info, io.BytesIO(b""))
    out = _bad(cluster, tmp_path, "foreign.snap", gzip.compress(foreign.getvalue()))
    assert "unexpected file 'etc/passwd'" in out.stderr
    raw = bytearray(gzip.decompress(good))
    at = raw.index(b'"Index"')
    raw[at + 1] = ord("J")  # meta.json altered: its checksum no longer matches
    out = _bad(cluster, tmp_path, "tampered.snap", gzip.compress(bytes(raw)))
    assert "checksum mismatch for meta.json" in out.stderr
    inspect = nomadctl(cluster.home, "snapshot", "inspect", str(tmp_path / "tampered.snap"))
    assert inspect.returncode == 2 and "checksum mismatch" in inspect.stderr


def test_another_clusters_snapshot_is_named(cluster: Cluster, tmp_path: Path) -> None:
    from nomadctl.cluster import snapshot

    (path,) = (cluster.ws.path / "snapshots").glob("*.snap")
    label = {**snapshot.label_of(path.read_bytes()), "cluster": "prod", "cluster_id": "x"}
    other = snapshot.with_label(path.read_bytes(), label)
    out = _bad(cluster, tmp_path, "prod.snap", other)
    assert "snapshot of cluster 'prod', not of 'snap'" in out.stderr


def test_no_management_token(cluster: Cluster, tmp_path: Path) -> None:
    tokens = cluster.ws.path / "tokens"
    (path,) = (cluster.ws.path / "snapshots").glob("*.snap")
    user = json.loads((tokens / "user.json").read_text())
    stored = (tokens / "management.json").read_bytes()
    try:
        (tokens / "management.json").write_text(json.dumps(user))  # a token, not management's
        (tokens / "management.json").chmod(0o600)
        out = nomadctl(cluster.home, "snapshot", "save", str(tmp_path / "x.snap"))
        assert out.returncode == 8 and "permission denied" in out.stderr, out.stderr
        assert not list(tmp_path.glob("*x.snap*"))
        (tokens / "management.json").unlink()
        out = nomadctl(cluster.home, "snapshot", "restore", str(path), "--yes")
        assert out.returncode == 8 and "management token" in out.stderr, out.stderr
    finally:
        (tokens / "management.json").write_bytes(stored)
        (tokens / "management.json").chmod(0o600)


def test_a_full_disk_leaves_nothing_half_written(cluster: Cluster, tmp_path: Path) -> None:
    import resource

    def small_files() -> None:  # writes past 256 bytes fail as on a full disk (EFBIG, not ENOSPC)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))

    target = tmp_path / "out.snap"
    out = nomadctl(cluster.home, "snapshot", "save", str(target), preexec_fn=small_files)
    assert out.returncode == 3, out.stderr
    assert "nothing was written" in out.stderr and out.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def autos(cluster: Cluster) -> list[Path]:
    return sorted((cluster.ws.path / "snapshots").glob("*-auto*.snap"))


def test_a_rolling_upgrade_leaves_exactly_one_automatic_snapshot(
    cluster: Cluster, tmp_path: Path
) -> None:
    before = autos(cluster)
    newer = make_binary(tmp_path / "bin" / "nomad", version="1.11.1")
    upgrade = cluster.up("--nomad-binary", str(newer))
    assert upgrade.returncode == 0, upgrade.stderr
    assert "agent restarted" in upgrade.stderr
    made = sorted(set(autos(cluster)) - set(before))
    assert len(made) == 1, upgrade.stderr
    listed = json.loads(nomadctl(cluster.home, "snapshot", "list", "--json").stdout)
    entry = next(e for e in listed if e["name"] == made[0].name)
    assert entry["automatic"] and "restarting servers" in entry["reason"]
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o600
    again = cluster.up("--nomad-binary", str(newer))  # nothing restarts: no snapshot
    assert again.returncode == 0, again.stderr
    assert sorted(set(autos(cluster)) - set(before)) == made
    cluster.binary = newer


def test_a_failed_snapshot_stops_the_change(cluster: Cluster, tmp_path: Path) -> None:
    folder = cluster.ws.path / "snapshots"
    moved = tmp_path / "kept"
    folder.rename(moved)
    folder.write_text("not a directory\n")  # the snapshot cannot be written
    older = make_binary(tmp_path / "bin" / "nomad", version="1.11.0")
    pids = {n.name: proc.running_pid(proc.NodeDir(n)) for n in cluster.servers()}
    try:
        stopped = cluster.up("--nomad-binary", str(older))
        assert stopped.returncode == 3, stopped.stderr
        assert "the snapshot before restarting servers" in stopped.stderr
        assert "--no-snapshot" in stopped.stderr
        assert {n.name: proc.running_pid(proc.NodeDir(n)) for n in cluster.servers()} == pids
        going = cluster.up("--nomad-binary", str(older), "--no-snapshot")
        assert going.returncode == 0, going.stderr
        assert {n.name: proc.running_pid(proc.NodeDir(n)) for n in cluster.servers()} != pids
    finally:
        folder.unlink()
        moved.rename(folder)
    cluster.binary = older


def test_automatic_ones_are_pruned_by_hand_ones_never(cluster: Cluster, tmp_path: Path) -> None:
    by_hand = sorted(set((cluster.ws.path / "snapshots").glob("*.snap")) - set(autos(cluster)))
    (one,) = autos(cluster)
    for n in range(3):  # older automatic ones (copies, named earlier)
        shutil.copy2(one, one.with_name(f"{CLUSTER}-20200101T00000{n}Z-auto.snap"))
    newer = make_binary(tmp_path / "bin" / "nomad", version="1.11.1")
    upgrade = cluster.up("--nomad-binary", str(newer), "--keep-snapshots", "2")
    assert upgrade.returncode == 0, upgrade.stderr
    assert len(autos(cluster)) == 2 and one in autos(cluster)
    assert set(by_hand) <= set((cluster.ws.path / "snapshots").glob("*.snap"))
    cluster.binary = newer


def test_each_ca_rotation_pass_is_preceded_by_a_snapshot(cluster: Cluster) -> None:
    before = autos(cluster)
    rotate = nomadctl(cluster.home, "certs", "--rotate-ca")
    assert rotate.returncode == 0, rotate.stderr
    passes = cluster.up()
    assert passes.returncode == 0, passes.stderr
    made = sorted(set(autos(cluster)) - set(before))
    listed = {
        e["name"]: e
        for e in json.loads(nomadctl(cluster.home, "snapshot", "list", "--json").stdout)
    }
    reasons = sorted(listed[p.name]["reason"] for p in made)
    assert reasons == ["CA rotation pass 1 of 2", "CA rotation pass 2 of 2"], passes.stderr


def test_copies_go_to_s3_encrypted_with_kms(cluster: Cluster, moto_server, tmp_path: Path) -> None:
    """--snapshot-to: moto serves S3 and KMS over HTTP; the objects must be aws:kms."""
    import boto3

    from tests.aws.fixtures import FAKE_AWS

    aws = {**FAKE_AWS, "AWS_ENDPOINT_URL": moto_server.url, "AWS_REGION": "eu-west-1"}
    s3 = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=moto_server.url,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(
        Bucket="nomad-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    bad = nomadctl(cluster.home, "snapshot", "save", "--snapshot-to", "s3://No_Such/x", env=aws)
    assert bad.returncode == 2 and "not an S3 bucket name" in bad.stderr
    assert bad.stderr.count("\n") == 1
    url = "s3://nomad-backups/nightly/snap"
    saved = nomadctl(cluster.home, "snapshot", "save", "--snapshot-to", url, "--json", env=aws)
    assert saved.returncode == 0, saved.stderr
    record = json.loads(saved.stdout)
    key = f"nightly/snap/{Path(record['path']).name}"
    assert record["copied"] == f"s3://nomad-backups/{key}"
    head = s3.head_object(Bucket="nomad-backups", Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    body = s3.get_object(Bucket="nomad-backups", Key=key)["Body"].read()
    assert body == Path(record["path"]).read_bytes()
    # up's automatic snapshot is copied too
    older = make_binary(tmp_path / "bin" / "nomad", version="1.11.0")
    upgrade = cluster.up("--nomad-binary", str(older), "--snapshot-to", url, env=aws)
    assert upgrade.returncode == 0, upgrade.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="nomad-backups")["Contents"]]
    assert len([k for k in keys if k.endswith("-auto.snap")]) == 1, upgrade.stderr
    assert "copied to s3://nomad-backups/nightly/snap/" in upgrade.stderr
    cluster.binary = older
    # A copy that fails is a failed snapshot: the change does not start.
    pids = {n.name: proc.running_pid(proc.NodeDir(n)) for n in cluster.servers()}
    newer = make_binary(tmp_path / "bin2" / "nomad", version="1.11.1")
    missing = cluster.up("--nomad-binary", str(newer), "--snapshot-to", "s3://gone-bucket", env=aws)
    assert missing.returncode == 5 and "NoSuchBucket" in missing.stderr, missing.stderr
    assert {n.name: proc.running_pid(proc.NodeDir(n)) for n in cluster.servers()} == pids


def test_no_leader_is_one_line_and_writes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    import threading
    import time

    _survivor, *others = cluster.servers()
    for node in others:  # two of three gone: the survivor loses its leadership
        pid = proc.running_pid(proc.NodeDir(node))
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    deadline, pause = time.monotonic() + 60, threading.Event()
    while cluster.call("GET", "/v1/status/leader")[1] not in ("", "No cluster leader"):
        assert time.monotonic() < deadline, "the survivor kept its leadership"
        pause.wait(0.2)
    out = nomadctl(cluster.home, "snapshot", "save", str(tmp_path / "x.snap"))
    assert out.returncode == 7 and "no cluster leader" in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []
    back = cluster.up()  # the stopped servers start again with their data
    assert back.returncode == 0, back.stderr


def test_down_saves_a_final_snapshot(cluster: Cluster) -> None:
    before = autos(cluster)
    down = nomadctl(cluster.home, "down", "--yes", "--json")
    assert down.returncode == 0, down.stderr
    steps = {s["name"]: s for s in json.loads(down.stdout)["steps"]}
    assert steps["snapshot"]["status"] == "done"
    (final,) = sorted(set(autos(cluster)) - set(before))
    listed = json.loads(nomadctl(cluster.home, "snapshot", "list", "--json").stdout)
    assert next(e for e in listed if e["name"] == final.name)["reason"] == "down"
