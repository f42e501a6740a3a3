"""The roll's unavoidable work, measured without nomadctl: the "bare" floor (issue 29).

On the same testbed and cluster as `benchmarks.rolling`, the harness itself restarts every
agent the way nomadctl's roll does (`sudo -n sh -c 'systemctl restart nomad'` on an SSH
connection opened beforehand, as nomadctl keeps its configure sessions for the roll) and
waits only for the agent's own time to be back, looking every POLL seconds:

- servers one at a time, the leader last: until the restarted server answers on its own
  address naming a leader and the leader's autopilot lists it as a healthy voter (what
  Nomad itself needs before the next server may go; no quorum checks before a restart, no
  "stable for" time);
- clients at most `width` at a time, the next as soon as one is back: until the node is
  `ready` with a ModifyIndex above the one read just before its restart (its Node.Register
  since the restart); no drain, no eligibility changes.

Nothing of nomadctl's waits, checks or pacing is in it; its HTTP client classes
(`cluster.api.Api`, python-nomad underneath) only read the answers. The result is the wall
time from the first restart to the last client back, and its two parts.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

POLL = 0.05  # seconds between two looks (the harness's own pace)
RESTART = "sudo -n sh -c 'systemctl restart nomad'"


def _ssh_run(client: Any, command: str) -> None:
    _in, out, err = client.exec_command(command, timeout=120)
    code = out.channel.recv_exit_status()
    if code != 0:
        raise RuntimeError(f"{command}: exit {code}: {err.read().decode(errors='replace')}")


def _until(what: str, done: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if done():
                return
        except Exception:  # not answering yet: look again (harness only)
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"bare roll: {what} not back after {timeout:.0f}s")
        time.sleep(POLL)  # harness pacing, not a synchronisation


def measure(tb: Any, home: Path, servers: int, width: int) -> dict[str, float]:
    from nomadctl.cluster import operations
    from nomadctl.cluster.api import Api
    from nomadctl.cluster.target import workspace_target
    from nomadctl.workspace import Workspace

    target = workspace_target(Workspace(home, "bench"), timeout=2.0)
    api = Api(target)
    hosts = list(tb.hosts)
    server_hosts, client_hosts = hosts[:servers], hosts[servers:]
    own = {h.address: Api(replace(target, addresses=[f"https://{h.address}:4646"])) for h in hosts}
    ssh = {h.address: tb.ssh_client(h) for h in hosts}  # opened before the clock starts
    try:
        health = operations.autopilot_health(api)
        leader_addr = next(
            str(s.get("Address") or "").rsplit(":", 1)[0]
            for s in health.servers
            if str(s.get("ID")) == health.leader
        )
        order = sorted(server_hosts, key=lambda h: h.address == leader_addr)  # leader last
        start = time.monotonic()
        for h in order:
            _ssh_run(ssh[h.address], RESTART)

            def back(h: Any = h) -> bool:
                if not own[h.address].leader():
                    return False
                health = operations.autopilot_health(Api(target))
                return any(
                    str(s.get("Address") or "").startswith(h.address + ":")
                    and s.get("Voter")
                    and s.get("Healthy")
                    for s in health.servers
                )

            _until(h.address, back)
        servers_done = time.monotonic()
        names = {h.address: f"bench-client-{i + 1}" for i, h in enumerate(client_hosts)}

        steps: dict[str, list[float]] = {"restart": [], "back": []}

        def index(name: str) -> int:
            return next(int(n.get("ModifyIndex") or 0) for n in api.nodes() if n["Name"] == name)

        def client(h: Any) -> None:
            name = names[h.address]
            # read just before the restart: a client whose server restarted registers anew
            before = index(name)
            began = time.monotonic()
            _ssh_run(ssh[h.address], RESTART)
            restarted = time.monotonic()

            def registered() -> bool:
                n = next(n for n in api.nodes() if n.get("Name") == name)
                return int(n.get("ModifyIndex") or 0) > before and n["Status"] == "ready"

            _until(name, registered)
            steps["restart"].append(restarted - began)
            steps["back"].append(time.monotonic() - restarted)

        with ThreadPoolExecutor(max_workers=max(1, width)) as pool:
            list(pool.map(client, client_hosts))
        end = time.monotonic()
    finally:
        for c in ssh.values():
            c.close()
    return {
        "bare_roll_s": round(end - start, 2),
        "bare_servers_s": round(servers_done - start, 2),
        "bare_clients_s": round(end - servers_done, 2),
        # per client, medians: the restart over SSH, then until registered again
        "bare_client_restart_s": round(statistics.median(steps["restart"]), 2),
        "bare_client_back_s": round(statistics.median(steps["back"]), 2),
    }
