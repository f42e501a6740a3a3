"""The stand-in refuses what Nomad refuses: unknown config keys, bad driver configs, bad
auto-join strings, string literals HCL1 reads differently (tests/standin/agent/strict.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.standin import make_binary
from tests.standin.agent import discover, hcl1, strict
from tests.standin.agent.config import load_config_files, normalize
from tests.standin.agent.nomad_keys import NOMAD_KEYS


def unexpected(text: str, version: str = "1.11.1") -> str | None:
    return strict.unexpected_keys(normalize(hcl1.loads(text)), version)


def test_key_data_is_recorded_with_its_nomad_commit() -> None:
    assert set(NOMAD_KEYS) == {"1.8", "1.9", "1.10", "1.11"}
    for minor, data in NOMAD_KEYS.items():
        assert data["tag"].startswith(f"v{minor}.") and len(data["commit"]) == 40
    assert strict.keys_for("1.11.1")["tag"] == "v1.11.3"
    assert strict.keys_for("1.12.0")["tag"] == "v1.11.3"  # newer: the newest we read
    top = NOMAD_KEYS["1.11"]["config"]
    assert "license_path" not in top["keys"]
    assert "license_path" in top["blocks"]["server"]["keys"]  # where Enterprise reads it
    assert "rpc" not in NOMAD_KEYS["1.9"]["config"]["keys"]  # the rpc block came in 1.10
    # string fields that follow an untagged time.Duration field (HeartbeatGrace/...HCL)
    assert "heartbeat_grace" in top["blocks"]["server"]["keys"]
    assert "server_stabilization_time" in top["blocks"]["autopilot"]["keys"]
    assert "token_ttl" in top["blocks"]["acl"]["keys"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('license_path = "/x"', "unexpected keys license_path"),
        ("server {\n  enabled = true\n  nope = 1\n}", "server unexpected keys nope"),
        ("client {\n  servers = []\n  nope = 1\n}", "client unexpected keys nope"),
        ("acl {\n  enabled = true\n  nope = 1\n}", "acl unexpected keys nope"),
        ("tls {\n  http = true\n  verify = true\n}", "tls unexpected keys verify"),
        ('advertise {\n  http = "1.2.3.4"\n  grpc = "x"\n}', "advertise unexpected keys grpc"),
        ('addresses {\n  dns = "x"\n}', "addresses unexpected keys dns"),
        ("ports {\n  dns = 1\n}", "ports unexpected keys dns"),
        ("telemetry {\n  prometheus = true\n}", "telemetry unexpected keys prometheus"),
        ("autopilot {\n  cleanup = true\n}", "autopilot unexpected keys cleanup"),
        (
            'server {\n  server_join {\n    retry_join = ["a"]\n    retries = 3\n  }\n}',
            "server_join.server unexpected keys retries",
        ),
        (
            'client {\n  server_join {\n    retry_join = ["a"]\n    x = 3\n  }\n}',
            "server_join.client unexpected keys x",
        ),
        ('Region = "a"', "unexpected keys Region"),  # HCL1 matches, UnusedKeys reports
    ],
)
def test_unknown_keys_are_fatal_in_every_block(text: str, error: str) -> None:
    assert unexpected(text) == error


def test_what_nomad_lets_through_passes() -> None:
    # extraKeys() drops these JSON leftovers, so Nomad accepts them silently in HCL too.
    assert unexpected('retry_join = ["a"]\nservers = ["b"]') is None
    assert unexpected("server {\n  preemption_config {}\n}") is None
    # Blocks without an unusedKeys field are not checked by Nomad either.
    assert unexpected("limits {\n  whatever = 1\n}\nui {\n  nope = 1\n}") is None
    # plugin blocks are a slice: the loader checks `config`, nothing checks the rest.
    assert unexpected('plugin "docker" {\n  nope = 1\n}') is None
    # rpc appeared in 1.10: refused by 1.9, accepted by 1.10.
    assert unexpected('rpc {\n  dial_timeout = "1s"\n}', "1.9.7") == "unexpected keys rpc"
    assert unexpected('rpc {\n  dial_timeout = "1s"\n}', "1.10.0") is None


def test_driver_configs_are_checked_against_the_drivers_specs() -> None:
    ok = {"docker": {"config": {"allow_privileged": False, "volumes": {"enabled": True}}}}
    assert strict.plugin_errors(ok) is None
    assert strict.plugin_errors({"raw_exec": {"config": {"enabled": True}}}) is None
    bad = strict.plugin_errors({"docker": {"config": {"allow_privilegd": False}}})
    assert bad is not None and 'An argument named "allow_privilegd" is not expected' in bad
    assert 'plugin "docker" (driver): failed to parse config' in bad
    nested = strict.plugin_errors({"docker": {"config": {"gc": {"images": True}}}})
    assert nested is not None and "config.gc: Unsupported argument" in nested
    typed = strict.plugin_errors({"raw_exec": {"config": {"enabled": "yes"}}})
    assert typed is not None and 'attribute "enabled": bool required' in typed
    assert strict.plugin_errors({"my-plugin": {"config": {"x": 1}}}) is None  # external


def test_agent_refuses_an_unknown_key_at_start(tmp_path: Path) -> None:
    """End to end through the stand-in binary: exit 1, Nomad's message, nothing started."""
    binary = make_binary(tmp_path / "nomad")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.hcl").write_text(
        f'data_dir = "{tmp_path}/data"\nlicense_path = "/etc/nomad.d/license.hclic"\n'
        "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
    )
    res = subprocess.run(
        [str(binary), "agent", "-config", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 1
    assert (
        f"==> Error loading configuration from {conf}: Error loading {conf / 'a.hcl'}: "
        "unexpected keys license_path"
    ) in res.stderr
    assert not (tmp_path / "data").exists()


def test_retry_join_conflicts_are_refused(tmp_path: Path) -> None:
    from tests.standin.agent.common import AgentError
    from tests.standin.agent.config import build_config, validate

    conf = tmp_path / "a.hcl"
    conf.write_text(
        'data_dir = "/tmp/x"\nserver {\n  enabled = true\n  bootstrap_expect = 1\n'
        '  retry_join = ["a"]\n  server_join {\n    retry_join = ["b"]\n  }\n}\n'
    )
    raw, files = load_config_files([str(conf)])
    with pytest.raises(AgentError, match="server_join and retry_join cannot both be defined"):
        validate(build_config(raw, files, {}))


def test_auto_join_strings_parse_as_go_discover_does() -> None:
    args, notes = discover.check(
        "provider=aws tag_key=nomadctl-cluster tag_value=c1 region=eu-west-1 addr_type=private_v4"
    )
    assert args == {
        "provider": "aws",
        "tag_key": "nomadctl-cluster",
        "tag_value": "c1",
        "region": "eu-west-1",
        "addr_type": "private_v4",
    }
    assert notes == []
    assert discover.parse('provider=aws tag_value="a b \\"c\\""')["tag_value"] == 'a b "c"'
    _, notes = discover.check("provider=aws tag_key=k tag_value=v addr_type=private")
    assert "Falling back to 'private_v4'" in notes[0] and "Region not provided" in notes[1]
    for bad, msg in [
        ("provider=aws tag_key", "discover: tag_key: missing '='"),
        ("provider=aws tag_key=", "discover: tag_key: missing value"),
        ("provider=aws provider=gce", "discover: provider: duplicate key"),
        ("provider=ec2 tag_key=k", "discover: unknown provider ec2"),
        ("tag_key=k tag_value=v", "discover: no provider"),
        ('provider=aws tag_value="open', "discover: tag_value: unbalanced quotes"),
    ]:
        with pytest.raises(discover.DiscoverError) as exc:
            discover.check(bad)
        assert str(exc.value) == msg
    assert discover.is_auto_join("provider=aws") and not discover.is_auto_join(" provider=aws")


def test_hcl1_strings_keep_interpolation_braces_open_as_nomad_does() -> None:
    """HCL1's scanner does not end a string inside `${`: a value with a stray `${` swallows
    the following lines (hcl/scanner scanString). The stand-in must read it the same way."""
    text = 'datacenter = "x${"\nacl {\n  enabled = true\n}\nname = "}"\n'
    parsed = hcl1.loads(text)
    assert list(parsed) == ["datacenter"] and "acl {" in parsed["datacenter"]
    assert hcl1.loads('a = "x\\u0024{"\nb = 1') == {"a": "x${", "b": 1}
    with pytest.raises(hcl1.HclError, match="literal not terminated"):
        hcl1.loads('a = "x${"')


@pytest.mark.parametrize(("version", "notifies"), [("1.8.0", True), ("1.7.7", False)])
def test_agent_notifies_systemd_when_ready_from_1_8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, notifies: bool
) -> None:
    """command/agent/command.go: READY=1 on NOTIFY_SOCKET once the agent runs (1.8+)."""
    import socket

    from tests.standin.harness import LocalAgents, Spec, next_ip

    sock_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(15 if notifies else 3)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    agents = LocalAgents(make_binary(tmp_path / "nomad", version=version), tmp_path / "a")
    try:
        agent = agents.start(Spec(name="n", ip=next_ip(), bootstrap_expect=1, acl=False))
        if notifies:
            assert sock.recv(100) == b"READY=1"
            agent.api("/v1/agent/health", timeout=2)  # ready means serving
            agents.stop(agent)
            assert sock.recv(100) == b"STOPPING=1"
        else:
            agents.wait_http(agent)
            with pytest.raises(TimeoutError):
                sock.recv(100)
    finally:
        agents.close()
        sock.close()


def test_plugin_configs_are_checked_on_clients_only(tmp_path: Path) -> None:
    """Servers build no plugin loader (agent.go setupClient returns early)."""
    binary = make_binary(tmp_path / "nomad")
    bad = 'plugin "docker" {\n  config {\n    allow_privilegd = true\n  }\n}\n'
    for role, refused in (("server", False), ("client", True)):
        conf = tmp_path / role
        conf.mkdir()
        (conf / "a.hcl").write_text(
            f'data_dir = "{tmp_path}/{role}-data"\nbind_addr = "127.0.0.1"\n'
            "ports {\n  http = 0\n  rpc = 0\n  serf = 0\n}\n"
            f"{role} {{\n  enabled = true\n"
            + ("  bootstrap_expect = 1\n" if role == "server" else '  servers = ["127.0.0.1"]\n')
            + "}\n"
            + bad
        )
        proc = subprocess.Popen(
            [str(binary), "agent", "-config", str(conf)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            code = proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            proc.kill()
            err = proc.communicate()[1]
        if refused:
            assert code == 1 and 'plugin "docker" (driver): failed to parse config' in err
        else:
            assert code is None, err  # still running


def test_every_config_nomadctl_renders_passes_the_strict_reader() -> None:
    """On main the enterprise configs failed here: `license_path` at the top level."""
    import itertools

    from nomadctl.hosts import Host
    from nomadctl.node import render

    servers = [Host(f"s{i}", "server", f"198.18.1.{3 + i}") for i in (1, 2, 3)]
    client = Host("c1", "client", "198.18.1.9")
    aj = render.AutoJoin("nomadctl:auto-join", "lab-0123", "eu-west-1")
    for edition, raw_exec, auto_join, version in itertools.product(
        ("community", "enterprise"), (False, True), (None, aj), ("1.8.4", "1.11.1")
    ):
        facts = render.ClusterFacts(
            servers=servers,
            gossip_key="svziBixBd/u3hm5P/fW2BU/HSUApfq4u1tcpr3yLf8g=",
            edition=edition,
            enable_raw_exec=raw_exec,
            auto_join=auto_join,
            nomad_version=version,
        )
        for host in (servers[0], client):
            data = normalize(hcl1.loads(render.agent_config(facts, host)))
            assert strict.unexpected_keys(data, version) is None, (edition, host.role)
            assert strict.plugin_errors(data.get("plugin") or {}, version) is None
            for entry in (data.get("server") or {}).get("server_join", {}).get("retry_join", []):
                if discover.is_auto_join(entry):
                    assert discover.check(entry)[1] == []  # no fallbacks, region given
