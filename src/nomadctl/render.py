"""What goes onto a node: agent config (HCL), systemd unit, install script.

Pure functions of (cluster facts, host) -> file contents, so every byte nomadctl writes to a
node can be unit-tested without a network. See nomad-facts section 4 for the config contract.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from nomadctl.hosts import Host

CONFIG_DIR = "/etc/nomad.d"
TLS_DIR = f"{CONFIG_DIR}/tls"
DATA_DIR = "/opt/nomad/data"
UNIT_PATH = "/etc/systemd/system/nomad.service"
LICENSE_PATH = f"{CONFIG_DIR}/license.hclic"
LOCAL_BINARY = "/usr/local/bin/nomad"  # zip and uploaded binaries
APT_BINARY = "/usr/bin/nomad"  # HashiCorp's package

InstallMethod = Literal["apt", "zip", "binary"]
Edition = Literal["community", "enterprise"]


@dataclass(frozen=True)
class AutoJoin:
    """Cloud auto-join on AWS: servers carry a tag whose value is unique to the cluster."""

    tag_key: str
    tag_value: str
    region: str

    def retry_join_entry(self) -> str:
        return (
            f"provider=aws tag_key={self.tag_key} tag_value={self.tag_value} "
            f"region={self.region} addr_type=private_v4"
        )


@dataclass(frozen=True)
class ClusterFacts:
    """Everything about the cluster that a node's files depend on."""

    nomad_region: str = "global"
    datacenter: str = "dc1"
    gossip_key: str = ""
    servers: Sequence[Host] = ()
    auto_join: AutoJoin | None = None
    node_pool: str = "default"
    enable_raw_exec: bool = False
    docker: bool = True
    edition: Edition = "community"
    install_method: InstallMethod = "apt"
    nomad_version: str = "1.11.1"
    extra_client_meta: dict[str, str] = field(default_factory=dict)

    @property
    def binary_path(self) -> str:
        return APT_BINARY if self.install_method == "apt" else LOCAL_BINARY


def _q(value: str) -> str:
    """An HCL string literal (HCL's escapes are JSON's for everything we write)."""
    return json.dumps(value)


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def agent_config(facts: ClusterFacts, host: Host) -> str:
    """`/etc/nomad.d/nomad.hcl` for one node: TLS with mTLS, ACLs, gossip encryption on."""
    ip = host.private_ip
    lines = [
        "# Written by nomadctl; changes here are replaced on the next `nomadctl up`.",
        f"name       = {_q(host.name)}",
        f"region     = {_q(facts.nomad_region)}",
        f"datacenter = {_q(facts.datacenter)}",
        f"data_dir   = {_q(DATA_DIR)}",
        # All interfaces (the CLI on the node uses 127.0.0.1; the security group limits who
        # reaches 4646); peers and clients use the advertised private address.
        f"bind_addr  = {_q('0.0.0.0')}",  # noqa: S104
        "",
        "advertise {",
        f"  http = {_q(ip)}",
        f"  rpc  = {_q(ip)}",
        f"  serf = {_q(ip)}",
        "}",
        "",
    ]
    if facts.edition == "enterprise":
        lines += [f"license_path = {_q(LICENSE_PATH)}", ""]
    if host.role == "server":
        joins = [s.private_ip for s in facts.servers]
        if facts.auto_join:
            joins.append(facts.auto_join.retry_join_entry())
        lines += [
            "server {",
            "  enabled          = true",
            f"  bootstrap_expect = {len(facts.servers)}",
            f"  encrypt          = {_q(facts.gossip_key)}",
            "",
            "  server_join {",
            f"    retry_join = {_list(joins)}",
            "  }",
            "}",
            "",
        ]
    else:
        lines += [
            "client {",
            "  enabled   = true",
            f"  servers   = {_list([s.private_ip for s in facts.servers])}",
            f"  node_pool = {_q(facts.node_pool)}",
            "}",
            "",
        ]
    lines += [
        "acl {",
        "  enabled = true",
        "}",
        "",
        "tls {",
        "  http                   = true",
        "  rpc                    = true",
        f"  ca_file                = {_q(TLS_DIR + '/ca.pem')}",
        f"  cert_file              = {_q(TLS_DIR + '/node.pem')}",
        f"  key_file               = {_q(TLS_DIR + '/node-key.pem')}",
        "  verify_server_hostname = true",
        "  verify_https_client    = true",
        "}",
    ]
    if host.role == "client":
        lines += [
            "",
            'plugin "docker" {',
            "  config {",
            "    allow_privileged = false",
            "  }",
            "}",
            "",
            'plugin "raw_exec" {',
            "  config {",
            f"    enabled = {'true' if facts.enable_raw_exec else 'false'}",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def systemd_unit(facts: ClusterFacts) -> str:
    """Our own unit (the package's is replaced): restart on failure, generous limits."""
    return f"""\
# Written by nomadctl.
[Unit]
Description=HashiCorp Nomad agent (managed by nomadctl)
Documentation=https://developer.hashicorp.com/nomad/docs
Wants=network-online.target
After=network-online.target
ConditionFileNotEmpty={CONFIG_DIR}/nomad.hcl

[Service]
ExecReload=/bin/kill -HUP $MAINPID
ExecStart={facts.binary_path} agent -config {CONFIG_DIR}
KillMode=process
KillSignal=SIGINT
LimitNOFILE=65536
LimitNPROC=infinity
Restart=on-failure
RestartSec=2
TasksMax=infinity
OOMScoreAdjust=-1000

[Install]
WantedBy=multi-user.target
"""


def install_script(facts: ClusterFacts, *, nomad: bool, docker: bool) -> str:
    """Shell run as root on the node to install the pinned Nomad and/or Docker.

    With `binary` the file itself is uploaded alongside the configs: nothing to install.
    """
    enterprise = facts.edition == "enterprise"
    fmt = {
        "binary": facts.binary_path,
        "version": facts.nomad_version,
        "suffix": "+ent" if enterprise else "",
        "package": "nomad-enterprise" if enterprise else "nomad",
    }
    parts = []
    if nomad and facts.install_method in ("apt", "zip"):
        parts.append(_template(f"install-{facts.install_method}.sh").format(**fmt))
    if docker:
        parts.append(_template("install-docker.sh").format())
    return "".join(parts)


def _template(name: str) -> str:
    return resources.files("nomadctl.templates").joinpath(name).read_text()


def shell_quote(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
