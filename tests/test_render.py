"""What nomadctl writes onto nodes: pure rendering, parsed back with python-hcl2."""

from __future__ import annotations

import io
import tarfile

import hcl2
import pytest

from nomadctl import render
from nomadctl.configure import (
    NodeTls,
    Observed,
    apply_script,
    changed_files,
    check_script,
    node_files,
    parse_check,
    tar_of,
)
from nomadctl.hosts import Host

SERVERS = [Host(f"lab-server-{i}", "server", f"198.18.1.{3 + i}") for i in (1, 2, 3)]
CLIENT = Host("lab-client-1", "client", "198.18.1.7", "203.0.113.7")
GOSSIP = "svziBixBd/u3hm5P/fW2BU/HSUApfq4u1tcpr3yLf8g="


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def parse(text: str) -> dict:
    return unquote(hcl2.loads(text))


def facts(**kw) -> render.ClusterFacts:
    base = {"gossip_key": GOSSIP, "servers": SERVERS}
    base.update(kw)
    return render.ClusterFacts(**base)


def test_server_config() -> None:
    aj = render.AutoJoin("nomadctl:join", "lab-0123abcd", "eu-west-1")
    cfg = parse(render.agent_config(facts(auto_join=aj, datacenter="dc7"), SERVERS[0]))
    assert cfg["name"] == "lab-server-1" and cfg["region"] == "global"
    assert cfg["datacenter"] == "dc7" and cfg["data_dir"] == "/opt/nomad/data"
    assert cfg["advertise"][0] == {"http": "198.18.1.4", "rpc": "198.18.1.4", "serf": "198.18.1.4"}
    server = cfg["server"][0]
    assert server["enabled"] is True and server["bootstrap_expect"] == 3
    assert server["encrypt"] == GOSSIP
    joins = server["server_join"][0]["retry_join"]
    assert joins[:3] == ["198.18.1.4", "198.18.1.5", "198.18.1.6"]
    assert joins[3] == (
        "provider=aws tag_key=nomadctl:join tag_value=lab-0123abcd region=eu-west-1 "
        "addr_type=private_v4"
    )
    assert "client" not in cfg
    assert cfg["acl"][0] == {"enabled": True}
    tls = cfg["tls"][0]
    assert tls["http"] is True and tls["rpc"] is True
    assert tls["verify_server_hostname"] is True and tls["verify_https_client"] is True
    assert tls["ca_file"] == "/etc/nomad.d/tls/ca.pem"
    assert "plugin" not in cfg  # servers run no workloads


def test_client_config_defaults_are_safe() -> None:
    cfg = parse(render.agent_config(facts(node_pool="edge"), CLIENT))
    assert "server" not in cfg
    client = cfg["client"][0]
    assert client["servers"] == ["198.18.1.4", "198.18.1.5", "198.18.1.6"]
    assert client["node_pool"] == "edge"
    assert GOSSIP not in render.agent_config(facts(), CLIENT), "clients never get the gossip key"
    plugins = {k: v for p in cfg["plugin"] for k, v in p.items()}
    assert plugins["docker"]["config"][0]["allow_privileged"] is False
    assert plugins["raw_exec"]["config"][0]["enabled"] is False
    raw = parse(render.agent_config(facts(enable_raw_exec=True), CLIENT))
    plugins = {k: v for p in raw["plugin"] for k, v in p.items()}
    assert plugins["raw_exec"]["config"][0]["enabled"] is True


def test_enterprise_license_path() -> None:
    cfg = parse(render.agent_config(facts(edition="enterprise"), SERVERS[0]))
    assert cfg["license_path"] == "/etc/nomad.d/license.hclic"


def test_unit_and_install_scripts() -> None:
    unit = render.systemd_unit(facts(install_method="binary"))
    assert "ExecStart=/usr/local/bin/nomad agent -config /etc/nomad.d" in unit
    assert "Restart=on-failure" in unit and "LimitNOFILE=65536" in unit
    assert "ExecStart=/usr/bin/nomad " in render.systemd_unit(facts(install_method="apt"))

    apt = render.install_script(facts(nomad_version="1.9.3"), nomad=True, docker=False)
    assert "nomad=1.9.3-1" in apt and "signed-by=" in apt and "apt-mark hold nomad" in apt
    ent = render.install_script(
        facts(nomad_version="1.9.3", edition="enterprise"), nomad=True, docker=False
    )
    assert "nomad-enterprise=1.9.3+ent-1" in ent
    z = render.install_script(facts(install_method="zip"), nomad=True, docker=True)
    assert "SHA256SUMS" in z and "sha256sum -c" in z and "docker.io" in z
    assert render.install_script(facts(install_method="binary"), nomad=True, docker=False) == ""


def test_node_files_modes_and_secrets() -> None:
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    files = {f.path: f for f in node_files(facts(install_method="binary"), SERVERS[0], tls, b"BIN")}
    assert files["/etc/nomad.d/tls/node-key.pem"].mode == 0o600
    assert files["/etc/nomad.d/nomad.hcl"].mode == 0o600  # holds the gossip key
    assert files["/usr/local/bin/nomad"].mode == 0o755
    assert files["/etc/systemd/system/nomad.service"].mode == 0o644
    with pytest.raises(ValueError):
        node_files(facts(install_method="binary"), SERVERS[0], tls)


def test_check_parse_and_diff() -> None:
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    files = node_files(facts(install_method="binary"), SERVERS[0], tls, b"BIN")
    script = check_script(facts(install_method="binary"), [f.path for f in files])
    assert "sha256sum" in script and "KEY" not in script
    out = (
        "os debian \nsystemd yes\n"
        + "".join(f"file {f.mode:o} {f.sha256} {f.path}\n" for f in files[1:])
        + "version Nomad v1.11.1\nactive active\ndocker no\n"
    )
    seen = parse_check(out)
    assert isinstance(seen, Observed) and seen.os_id == "debian" and seen.active
    assert [f.path for f in changed_files(files, seen)] == [files[0].path]
    wrong_mode = parse_check(
        out.replace(f"file 600 {files[3].sha256}", f"file 644 {files[3].sha256}")
    )
    assert files[3].path in [f.path for f in changed_files(files, wrong_mode)]


def test_tar_keeps_modes_and_root_owner() -> None:
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    files = node_files(facts(install_method="binary"), SERVERS[0], tls, b"BIN")
    with tarfile.open(fileobj=io.BytesIO(tar_of(files))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    key = members["etc/nomad.d/tls/node-key.pem"]
    assert key.mode == 0o600 and key.uid == 0 and key.uname == "root"


def systemctl_lines(script: str) -> list[str]:
    return [line.split(">")[0].strip() for line in script.splitlines() if "systemctl" in line]


def test_apply_script_restart_rules() -> None:
    first = apply_script("", restart=True, upload=True, unit_changed=True, active=False)
    assert systemctl_lines(first) == [
        "systemctl daemon-reload",
        "systemctl --quiet enable --now nomad",
    ]
    changed = apply_script("", restart=True, upload=True, unit_changed=False, active=True)
    assert systemctl_lines(changed) == ["systemctl --quiet enable nomad", "systemctl restart nomad"]
    stopped = apply_script("", restart=False, upload=False, unit_changed=False, active=False)
    assert systemctl_lines(stopped) == ["systemctl --quiet enable --now nomad"]
    assert "tar -x" not in stopped
    docker_only = apply_script("curl docker", restart=False, upload=False, active=True)
    assert systemctl_lines(docker_only) == ["systemctl daemon-reload"]
    assert "</dev/null" in apply_script("apt-get install x", restart=True, upload=True)
