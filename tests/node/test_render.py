"""What nomadctl writes onto nodes: pure rendering, parsed back with python-hcl2."""

from __future__ import annotations

import io
import tarfile

import hcl2
import pytest

from nomadctl.hosts import Host
from nomadctl.node import render
from nomadctl.node.configure import (
    NodeTls,
    Observed,
    apply_script,
    changed_files,
    check_script,
    node_files,
    parse_check,
    tar_of,
)

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


def test_enterprise_license_path_is_in_the_server_block_on_servers_only() -> None:
    """Nomad refuses `license_path` at the top level (failed on main: it was written there)."""
    ent = facts(edition="enterprise")
    cfg = parse(render.agent_config(ent, SERVERS[0]))
    assert "license_path" not in cfg
    assert cfg["server"][0]["license_path"] == "/etc/nomad.d/license.hclic"
    assert "license_path" not in render.agent_config(ent, CLIENT)
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    server_files = [f.path for f in node_files(ent, SERVERS[0], tls, license_text=b"LIC")]
    assert render.LICENSE_PATH in server_files
    assert render.LICENSE_PATH not in [f.path for f in node_files(ent, CLIENT, tls)]


def test_unit_is_notify_where_nomad_notifies() -> None:
    unit = render.systemd_unit(facts(install_method="binary"))
    assert "ExecStart=/usr/local/bin/nomad agent -config /etc/nomad.d" in unit
    assert "Restart=on-failure" in unit and "LimitNOFILE=65536" in unit
    assert "ExecStart=/usr/bin/nomad " in render.systemd_unit(facts(install_method="apt"))
    assert "\nType=simple\n" in unit  # an uploaded binary's version is unknown
    assert "\nType=notify\n" in render.systemd_unit(facts())  # 1.11.1: READY=1 since 1.8.0
    assert "\nType=notify\n" in render.systemd_unit(facts(nomad_version="1.8.0"))
    assert "\nType=notify\n" in render.systemd_unit(facts(install_method="zip"))
    assert "\nType=simple\n" in render.systemd_unit(facts(nomad_version="1.7.7"))


def test_install_scripts_set_quoted_variables_over_constant_templates() -> None:
    apt = render.install_script(facts(nomad_version="1.9.3"), nomad=True, docker=False)
    assert "version=1.9.3\npackage=nomad\n" in apt and 'apt-mark hold "$package"' in apt
    assert "apt_fingerprint=798AEC654E5C15428C8E42EEAA16FCBCA621E701" in apt
    assert "--force-confold" in apt and "--allow-change-held-packages" in apt
    ent = render.install_script(
        facts(nomad_version="1.9.3", edition="enterprise"), nomad=True, docker=False
    )
    assert "version=1.9.3+ent\npackage=nomad-enterprise\n" in ent
    z = render.install_script(facts(install_method="zip"), nomad=True, docker=True)
    assert "fingerprint=C874011F0AB405110D02105534365D9472D7468F" in z
    assert "BEGIN PGP PUBLIC KEY BLOCK" in z and "VALIDSIG" in z and "docker.io" in z
    assert render.install_script(facts(install_method="binary"), nomad=True, docker=False) == ""
    for name in ("install-zip.sh", "install-apt.sh", "install-docker.sh"):
        body = render._template(name)
        assert "{" not in body.replace("${", "").replace("{ ", "").replace("{\n", ""), name


def test_enterprise_zip_url_is_hashicorps() -> None:
    """releases.hashicorp.com/nomad/<v>+ent/nomad_<v>+ent_linux_<arch>.zip (main used a
    `nomad-enterprise` path HashiCorp does not publish)."""
    z = render.install_script(
        facts(install_method="zip", edition="enterprise", nomad_version="1.9.3"),
        nomad=True,
        docker=False,
    )
    assert "version=1.9.3+ent\n" in z
    assert 'base="$releases/nomad/$version"' in z and 'zip="nomad_${version}_linux_$arch.zip"' in z


def test_node_files_modes_and_secrets() -> None:
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    files = {f.path: f for f in node_files(facts(install_method="binary"), SERVERS[0], tls, b"BIN")}
    # A server's agent runs as nomad: it reads its secrets (group nomad), root owns them.
    assert (
        files["/etc/nomad.d/tls/node-key.pem"].mode,
        files["/etc/nomad.d/tls/node-key.pem"].owner,
    ) == (0o640, "root:nomad")
    assert files["/etc/nomad.d/nomad.hcl"].mode == 0o640  # holds the gossip key
    assert files["/etc/nomad.d/join.hcl"].owner == "root:nomad"
    assert files["/etc/nomad.d/tls/ca.pem"].owner == "root:root"
    assert (
        "\nUser=nomad\nGroup=nomad\n" in files["/etc/systemd/system/nomad.service"].content.decode()
    )
    client = {f.path: f for f in node_files(facts(install_method="binary"), CLIENT, tls, b"BIN")}
    assert (
        client["/etc/nomad.d/tls/node-key.pem"].mode,
        client["/etc/nomad.d/nomad.hcl"].owner,
    ) == (0o600, "root:root")
    assert "User=" not in client["/etc/systemd/system/nomad.service"].content.decode()
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
        + "".join(f"file {f.mode:o} {f.owner} {f.sha256} {f.path}\n" for f in files[1:])
        + "version Nomad v1.11.1\nactive active\ndocker no\n"
    )
    seen = parse_check(out)
    assert isinstance(seen, Observed) and seen.os_id == "debian" and seen.active
    assert [f.path for f in changed_files(files, seen)] == [files[0].path]
    wrong_mode = parse_check(
        out.replace(
            f"file 640 root:nomad {files[3].sha256}", f"file 644 root:nomad {files[3].sha256}"
        )
    )
    assert files[3].path in [f.path for f in changed_files(files, wrong_mode)]
    # HashiCorp's postinst chowns /etc/nomad.d to nomad: owner drift is a change too.
    wrong_owner = parse_check(
        out.replace(
            f"file 640 root:nomad {files[3].sha256}", f"file 640 nomad:nomad {files[3].sha256}"
        )
    )
    assert files[3].path in [f.path for f in changed_files(files, wrong_owner)]
    assert "%U:%G" in script
    dirs = parse_check(
        out + "dir 700 root:root /etc/nomad.d\ndir 755 nomad:nomad /etc/nomad.d/tls\n"
    )
    assert dirs.dirs == {
        "/etc/nomad.d": (0o700, "root:root"),
        "/etc/nomad.d/tls": (0o755, "nomad:nomad"),
    }
    assert not dirs.dirs_ok() and parse_check(out + "dir 700 root:root /etc/nomad.d\n").dirs_ok()
    # A server's: the agent (nomad) reads the config dir and owns the data dir.
    server = "dir 750 root:nomad /etc/nomad.d\ndir 700 nomad:nomad /opt/nomad/data\n"
    assert parse_check(out + server).dirs_ok("server")
    assert not parse_check(out + server).dirs_ok("client")
    assert not parse_check(out + "dir 700 root:root /opt/nomad/data\n").dirs_ok("server")


def test_tar_keeps_modes_and_root_owner() -> None:
    tls = NodeTls(b"CA", b"CERT", b"KEY")
    files = node_files(facts(install_method="binary"), SERVERS[0], tls, b"BIN")
    with tarfile.open(fileobj=io.BytesIO(tar_of(files))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    key = members["etc/nomad.d/tls/node-key.pem"]
    assert key.mode == 0o640 and key.uid == 0 and key.uname == "root"  # group: after


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


def test_server_scripts_make_the_user_and_hand_over_the_data_dir_while_stopped() -> None:
    """A server's apply makes `nomad` only when missing and sets the role's owners after the
    upload; its data dir moves to nomad between stop and start (issue 28 point 7)."""
    from nomadctl.node import privilege
    from nomadctl.node.configure import restart_script

    script = apply_script("", restart=True, upload=True, active=True, server=True)
    assert "if ! id -u nomad" in script and "useradd --system --gid nomad" in script
    assert script.index("groupadd --system nomad") < script.index("useradd")
    assert script.index("tar -x") < script.index("chgrp nomad /etc/nomad.d")
    assert systemctl_lines(script)[-3:] == [
        "systemctl --quiet enable nomad",
        "systemctl stop nomad",
        "systemctl start nomad",
    ]
    assert script.index("systemctl stop") < script.index(privilege.MIGRATE)
    assert script.index(privilege.MIGRATE) < script.index("systemctl start")
    client = apply_script("", restart=True, upload=True, active=True)
    assert "useradd" not in client and "nomad:nomad" not in client
    roll = restart_script(server=True)
    assert roll.index("systemctl stop") < roll.index("chown -h") < roll.index("systemctl start")
    assert "useradd" not in restart_script()
