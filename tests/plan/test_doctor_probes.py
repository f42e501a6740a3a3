"""`doctor`'s slow probes run side by side, each bounded (issue 26 point 10): one that hangs
is a warning after the bound, one that breaks is a warning at once; the others still report.
The hanging probe waits on an event this test sets at the end (no sleep)."""

from __future__ import annotations

import threading
from pathlib import Path

from nomadctl.plan import doctor
from nomadctl.workspace import Workspace


def test_a_hung_probe_and_a_broken_one_are_warnings(tmp_path: Path, monkeypatch) -> None:
    release = threading.Event()

    def hangs(ws: Workspace) -> doctor.Finding | None:
        release.wait()
        return None

    def breaks(profile: str | None = None, ws: Workspace | None = None) -> doctor.Finding:
        raise RuntimeError("boom with token 0f8e1b2a-1111-2222-3333-444455556666")

    monkeypatch.setattr(doctor, "clock", hangs)
    monkeypatch.setattr(doctor, "aws", breaks)
    try:
        found = doctor.examine(Workspace(tmp_path / "home", "c"), "1.11.1", bound=0.5)
    finally:
        release.set()
    by_check = {f.check: f for f in found}
    assert by_check["clock"].level == doctor.WARNING
    assert by_check["clock"].detail == "no answer within 0.5s"
    assert by_check["aws"].level == doctor.WARNING
    assert by_check["aws"].detail.startswith("the check failed: RuntimeError: boom with token")
    assert "0f8e1b2a" not in by_check["aws"].detail  # scrubbed like every error line
    assert {"python", "home", "nomad binary", "docker", "loopback", "ssh key"} <= set(by_check)
