"""Docker's install is checked in `up`'s preflight (issue 26 point 9): hosts that cannot reach
a package mirror (air-gapped, with `--nomad-binary`) fail at once with one line that suggests
`--no-docker`, before any certificate, state or upload: nothing is written here, and neither
the client nor the server (which needs no Docker) receives anything. With Docker already on
the client, the same `up` goes through.

Real: OpenSSH hosts in network namespaces with private overlays of /etc, /usr and /var (apt's
lists are the host's own), apt-get against the machine's Debian sources (unreachable from the
test network, so it fails as on an air-gapped host). Stand-in: `nomad` and systemctl."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

pytestmark = pytest.mark.testbed


def test_air_gapped_clients_are_told_about_no_docker(testbed_factory, tmp_path: Path) -> None:
    tb = testbed_factory(2, overlays=("/etc", "/usr", "/var"))
    binary = make_binary(tmp_path / "nomad")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NOMADCTL_HOME": str(tmp_path / "home"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    args = ["--cluster", "dm", "up", "--yes", "--ssh-user", "ubuntu", "--ssh-key",
            str(tb.key_path), "--nomad-binary", str(binary), "--leader-timeout", "60",
            "--server", tb.hosts[0].address, "--client", tb.hosts[1].address]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "nomadctl", *args], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 6, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    first = "error: Docker is not installed and no package mirror answers"
    assert error.startswith(f"{first}: pass --no-docker for hosts without one"), error
    assert "(apt-get update: " in error and "(dm-client-1)" in error
    assert error.endswith("nothing was written here or uploaded to any host"), error
    assert "certificates" not in proc.stderr  # the preflight came first
    ws = tmp_path / "home" / "dm"
    assert not (ws / "state.json").exists() and not (ws / "certificates").exists()
    assert tb.read_file(tb.hosts[1], "/usr/local/bin/nomad") is None  # the client: untouched
    assert tb.read_file(tb.hosts[1], "/etc/nomad.d/nomad.hcl") is None
    assert tb.read_file(tb.hosts[0], "/usr/local/bin/nomad") is None  # the server too

    # With Docker already on the client (a stub on its PATH) the same `up` passes the
    # preflight and converges; the host keys met there are the workspace's first pins.
    tb.write_file(tb.hosts[1], "/usr/local/bin/docker", "#!/bin/sh\nexit 0\n", 0o755)
    again = subprocess.run([sys.executable, "-m", "nomadctl", *args], capture_output=True,
                           text=True, env=env, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Docker is not installed" not in again.stderr
    pinned = (ws / "known_hosts").read_text()
    assert all(h.address in pinned for h in tb.hosts[:2])
    assert tb.read_file(tb.hosts[0], "/usr/local/bin/nomad") == binary.read_bytes()
