"""Issue 25 point 1: Enterprise servers get their Availability Zone as `redundancy_zone`, and
autopilot's redundancy zones are on; community servers and clients get neither. The stand-in
reads the file as Nomad does and refuses unknown keys (tests/standin/agent/strict.py, keys
from Nomad's command/agent/config.go: ServerConfig.RedundancyZone, AutopilotConfig.
EnableRedundancyZones)."""

from __future__ import annotations

from pathlib import Path

from nomadctl.hosts import Host
from nomadctl.node import render
from tests.node.test_render import GOSSIP, parse
from tests.standin.agent.config import load_config_files

ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
SERVERS = [Host(f"z-server-{i}", "server", f"198.18.{i}.4", zone=ZONES[i - 1]) for i in (1, 2, 3)]
CLIENT = Host("z-client-1", "client", "198.18.1.5", zone=ZONES[0])


def facts(edition: str) -> render.ClusterFacts:
    return render.ClusterFacts(gossip_key=GOSSIP, servers=SERVERS, edition=edition)  # type: ignore[arg-type]


def test_enterprise_servers_have_their_zone_as_redundancy_zone(tmp_path: Path) -> None:
    for host in SERVERS:
        text = render.agent_config(facts("enterprise"), host)
        cfg = parse(text)
        assert cfg["server"][0]["redundancy_zone"] == host.zone
        assert cfg["autopilot"][0] == {"enable_redundancy_zones": True}
        path = tmp_path / f"{host.name}.hcl"
        path.write_text(text)
        load_config_files([str(path)])  # the stand-in (Nomad's keys) takes it
    for cfg in (
        parse(render.agent_config(facts("community"), SERVERS[1])),
        parse(render.agent_config(facts("enterprise"), CLIENT)),
    ):
        assert "autopilot" not in cfg
        assert "redundancy_zone" not in (cfg.get("server") or [{}])[0]


def test_a_host_keeps_its_zone_in_state() -> None:
    assert Host.from_dict(SERVERS[2].to_dict()).zone == "eu-west-1c"
    assert Host.from_dict({"name": "n", "role": "client", "private_ip": "198.18.1.9"}).zone is None
