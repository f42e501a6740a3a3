"""A binary is proven before it spreads (issue 29 point 6, issue 26 point 2), on hosts you
already have: `--nomad-binary` that is not Nomad is tried on one host (in a private temporary
file) and refused before any host receives it, on a first `up` and on an upgrade of a running
cluster: no agent restarts, the running binary stays, and the run exits 6 naming the host.
And a re-run keeps how the hosts are reached (issue 26 point 9): no --ssh-key, --ssh-user or
hosts needed again.

Real: OpenSSH hosts in network namespaces (tests/testbed), this machine's `true` as the bad
binary. Stand-in: the good `nomad` (tests/standin) and systemctl (the testbed's shim)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

pytestmark = pytest.mark.testbed
BINARY = "/usr/local/bin/nomad"


def test_a_bad_binary_never_reaches_a_host(testbed_factory, tmp_path: Path) -> None:
    tb = testbed_factory(2)
    home, good = tmp_path / "home", make_binary(tmp_path / "good" / "nomad")
    bad = tmp_path / "bad" / "nomad"
    bad.parent.mkdir()
    shutil.copy(shutil.which("true") or "/bin/true", bad)
    # Runs here, fails on the hosts (as a build for another libc would): the hosts' own
    # host names are ip-198-18-...
    elsewhere = tmp_path / "elsewhere" / "nomad"
    elsewhere.parent.mkdir()
    elsewhere.write_text(
        '#!/bin/sh\ncase "$(hostname)" in ip-198-18-*) echo "exec format error" >&2; exit 126;;'
        '\nesac\necho "Nomad v1.11.0"\n'
    )
    elsewhere.chmod(0o755)

    def up(binary: Path, full: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            "NOMADCTL_HOME": str(home),
        }
        args = ["--cluster", "bp", "up", "--yes", "--json", "--no-docker", "--ssh-user", "root",
                "--ssh-key", str(tb.key_path), "--nomad-binary", str(binary),
                "--leader-timeout", "60", "--server", tb.hosts[0].address,
                "--client", tb.hosts[1].address][: None if full else 6]  # fmt: skip
        if not full:
            args += ["--nomad-binary", str(binary)]
        return subprocess.run([sys.executable, "-m", "nomadctl", *args], capture_output=True,
                              text=True, env=env, timeout=240)  # fmt: skip

    here = up(bad)  # not Nomad on this machine already: refused before anything is written
    assert here.returncode == 2, here.stderr
    assert f"--nomad-binary: {bad}: not Nomad (`version` printed 'nothing')" in here.stderr
    assert not (home / "bp").exists()

    first = up(elsewhere)
    assert first.returncode == 6, first.stderr
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the Nomad binary (--nomad-binary) failed its trial on bp-")
    assert "`version` failed (exit 126): exec format error" in last, last
    assert "no agent was changed" in last
    for host in tb.hosts:
        assert tb.read_file(host, BINARY) is None  # nothing spread
        assert tb.unit_pid(host) is None

    ok = up(good)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["leader"]
    pids = [tb.unit_pid(h) for h in tb.hosts]
    assert None not in pids

    upgrade = up(elsewhere)  # an upgrade to a bad binary: stopped before any restart
    assert upgrade.returncode == 6, upgrade.stderr
    assert "failed its trial on bp-" in upgrade.stderr
    assert [tb.unit_pid(h) for h in tb.hosts] == pids
    for host in tb.hosts:
        assert tb.read_file(host, BINARY) == good.read_bytes()

    rerun = up(good, full=False)  # no --ssh-key, --ssh-user, --server or --client
    assert rerun.returncode == 0, rerun.stderr
    assert [h["status"] for h in json.loads(rerun.stdout)["hosts"]] == ["unchanged"] * 2
    state = json.loads((home / "bp" / "state.json").read_text())
    assert state["ssh"]["user"] == "root" and state["ssh"]["key_path"] == str(tb.key_path)
