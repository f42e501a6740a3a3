"""What goes onto a node: agent config (HCL), systemd unit, install script.

Pure functions of (cluster facts, host) -> file contents, so every byte nomadctl writes to a
node can be unit-tested without a network. See nomad-facts section 4 for the config contract.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from nomadctl.hosts import Host
from nomadctl.node.release_keys import APT_KEY_FINGERPRINT, SigningKey, hashicorp_release_key

CONFIG_DIR = "/etc/nomad.d"
TLS_DIR = f"{CONFIG_DIR}/tls"
DATA_DIR = "/opt/nomad/data"
UNIT_PATH = "/etc/systemd/system/nomad.service"
LICENSE_PATH = f"{CONFIG_DIR}/license.hclic"
LOCAL_BINARY = "/usr/local/bin/nomad"  # zip and uploaded binaries
APT_BINARY = "/usr/bin/nomad"  # HashiCorp's package
RELEASES_URL = "https://releases.hashicorp.com"
APT_URL = "https://apt.releases.hashicorp.com"
NOMAD_USER = "nomad"  # a server agent's user (node/privilege.py)
NOTIFY_SINCE = (1, 8)  # Nomad sends sd_notify READY=1 from 1.8.0 (command/agent/sdnotify.go)

InstallMethod = Literal["apt", "zip", "binary"]
Edition = Literal["community", "enterprise"]


@dataclass(frozen=True)
class AutoJoin:
    """Cloud auto-join on AWS: servers carry a tag whose value is unique to the cluster."""

    tag_key: str
    tag_value: str
    region: str

    def retry_join_entry(self) -> str:
        """go-discover's `key=val ...` string; values quoted as its Config.String does."""
        pairs = [
            ("provider", "aws"),
            ("tag_key", self.tag_key),
            ("tag_value", self.tag_value),
            ("region", self.region),
            ("addr_type", "private_v4"),
        ]
        return " ".join(f"{k}={_discover_quote(v)}" for k, v in pairs)


def _discover_quote(value: str) -> str:
    """go-discover (config.go) splits on spaces and `=`; such values go in Go-quoted form."""
    if value and not any(c in value for c in ' "\\=') and value.isprintable():
        return value
    return json.dumps(value)


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
    # Where the zip and apt installs download from, and the keys they must be signed with
    # (defaults: HashiCorp's, pinned in node/release_keys.py; a mirror may name its own).
    releases_url: str = RELEASES_URL
    release_key: SigningKey | None = None  # None: HashiCorp's release key
    apt_url: str = APT_URL
    apt_key_fingerprint: str = APT_KEY_FINGERPRINT

    @property
    def binary_path(self) -> str:
        return APT_BINARY if self.install_method == "apt" else LOCAL_BINARY


def _q(value: str) -> str:
    """An HCL1 string literal that reads back as exactly `value`, whatever it holds.

    JSON's escapes are HCL1's, except that HCL1's scanner keeps a literal open inside `${`
    (hcl/scanner scanString): a raw `${` in a value would swallow the lines after it. So
    every `$` is written as its `\\u0024` escape, which HCL1 decodes back to `$`."""
    return json.dumps(str(value), ensure_ascii=False).replace("$", "\\u0024")


def _ip(value: str) -> str:
    """Advertised addresses go through go-sockaddr templating in Nomad: only plain IPs."""
    return str(ipaddress.ip_address(value))


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


@dataclass(frozen=True)
class Ports:
    http: int = 4646
    rpc: int = 4647
    serf: int = 4648

    def __post_init__(self) -> None:
        for port in (self.http, self.rpc, self.serf):
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"not a TCP port: {port!r}")


@dataclass(frozen=True)
class LocalLayout:
    """Where one agent of a cluster on this machine keeps its files and listens.

    `peers` maps every server's name to its ports (the agent's own included): with all
    agents on 127.0.0.1 each has its own ports, so joins and `client.servers` carry them."""

    data_dir: str
    tls_dir: str
    ports: Ports = Ports()
    peers: dict[str, Ports] = field(default_factory=dict)


def agent_config(
    facts: ClusterFacts, host: Host, local: LocalLayout | None = None, *, join: bool = True
) -> str:
    """`/etc/nomad.d/nomad.hcl` for one node: TLS with mTLS, ACLs, gossip encryption on.

    With `local` (an agent on this machine) the data and TLS paths are the layout's, the
    agent binds its own address only and listens on the layout's ports.

    `join=False` leaves out what only matters when an agent starts (bootstrap_expect, the
    servers' retry_join, the clients' servers): those go in `join_config`'s own file."""
    ip = _ip(host.private_ip)
    tls_dir = local.tls_dir if local else TLS_DIR
    lines = [
        "# Written by nomadctl; changes here are replaced on the next `nomadctl up`.",
        f"name       = {_q(host.name)}",
        f"region     = {_q(facts.nomad_region)}",
        f"datacenter = {_q(facts.datacenter)}",
        f"data_dir   = {_q(local.data_dir if local else DATA_DIR)}",
        # On a node: all interfaces (the CLI on the node uses 127.0.0.1; the security group
        # limits who reaches 4646); peers and clients use the advertised private address.
        # Locally: only the agent's own loopback address, so agents and clusters do not meet.
        f"bind_addr  = {_q(ip if local else '0.0.0.0')}",  # noqa: S104
        # A server leaves raft and serf when nomadctl sends it SIGTERM (scale-in, replacement:
        # nomad/server.go Leave, so 3 servers can go to 1 without losing quorum); a restart
        # or a shutdown sends SIGINT (the unit's KillSignal), which leaves nothing.
        *(["leave_on_terminate = true"] if host.role == "server" else []),
        "",
        "advertise {",
        f"  http = {_q(ip)}",
        f"  rpc  = {_q(ip)}",
        f"  serf = {_q(ip)}",
        "}",
        "",
    ]
    if local:
        lines += _ports_block(local.ports)
    if host.role == "server":
        lines += [
            "server {",
            "  enabled          = true",
            f"  encrypt          = {_q(facts.gossip_key)}",
        ]
        if facts.edition == "enterprise":
            # Nomad Enterprise reads the licence in the server block (ServerConfig.LicensePath);
            # at the top level Nomad refuses the key, and clients need no licence.
            lines.append(f"  license_path     = {_q(LICENSE_PATH)}")
            if host.zone:  # servers one per zone: autopilot keeps a voter in each
                lines.append(f"  redundancy_zone  = {_q(host.zone)}")
        lines += [*(_server_join_lines(facts, local=local) if join else []), "}", ""]
        if facts.edition == "enterprise" and host.zone:  # Autopilot's redundancy zones
            lines += ["autopilot {", "  enable_redundancy_zones = true", "}", ""]
    else:
        lines += [
            "client {",
            "  enabled   = true",
            *(_client_join_lines(facts, local) if join else []),
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
        f"  ca_file                = {_q(tls_dir + '/ca.pem')}",
        f"  cert_file              = {_q(tls_dir + '/node.pem')}",
        f"  key_file               = {_q(tls_dir + '/node-key.pem')}",
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
            *(_SHARED_DOCKER if local else []),
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


# Local clients share this machine's one Docker daemon. Each docker driver removes running
# containers that carry Nomad's labels but that it does not track itself, after
# creation_grace (drivers/docker/reconcile_dangling.go: untrackedContainers, isNomadContainer;
# on by default, drivers/docker/config.go `gc { dangling_containers { enabled = true } }`):
# the clients would reap each other's tasks. Off for local clients; a node has its own daemon.
_SHARED_DOCKER = [
    "    gc {",
    "      dangling_containers {",
    "        enabled = false",
    "      }",
    "    }",
]


def _ports_block(ports: Ports) -> list[str]:
    return [
        "ports {",
        f"  http = {ports.http}",
        f"  rpc  = {ports.rpc}",
        f"  serf = {ports.serf}",
        "}",
        "",
    ]


def _peer(server: Host, local: LocalLayout | None, proto: Literal["rpc", "serf"]) -> str:
    """A server as `retry_join` (serf) or `client.servers` (rpc) names it: the IP, and
    locally always with its port. A bare IP means 4647 to a client (client/rpc.go
    resolveServer) but, to `retry_join` (nomad/server.go Join -> serf/memberlist), the
    joining agent's own serf port, which locally is not the peer's."""
    ip = _ip(server.private_ip)
    if local is None:
        return ip
    return f"{ip}:{getattr(local.peers.get(server.name, Ports()), proto)}"


JOIN_PATH = f"{CONFIG_DIR}/join.hcl"


def _server_join_lines(
    facts: ClusterFacts, bootstrap_expect: int | None = None, local: LocalLayout | None = None
) -> list[str]:
    joins = [_peer(s, local, "serf") for s in facts.servers]
    if facts.auto_join:
        joins.append(facts.auto_join.retry_join_entry())
    expect = len(facts.servers) if bootstrap_expect is None else int(bootstrap_expect)
    return [
        f"  bootstrap_expect = {expect}",
        "",
        "  server_join {",
        f"    retry_join = {_list(joins)}",
        "  }",
    ]


def _client_join_lines(facts: ClusterFacts, local: LocalLayout | None = None) -> list[str]:
    return [f"  servers   = {_list([_peer(s, local, 'rpc') for s in facts.servers])}"]


def join_config(
    facts: ClusterFacts,
    host: Host,
    bootstrap_expect: int | None = None,
    local: LocalLayout | None = None,
) -> str:
    """`/etc/nomad.d/join.hcl`: how an agent finds the cluster when it starts.

    Nomad reads every file of the config dir and merges them (command/agent/config.go
    Merge, hashicorp/nomad aa026cc9: ServerConfig takes b.BootstrapExpect when > 0 and merges
    ServerJoin; ClientConfig appends b.Servers), so these keys may live in a file of their own,
    and nomad.hcl (written with `join=False`) has none of them. They are read only when an
    agent starts (bootstrap_expect only before the first raft configuration exists), so a
    change to this file alone is written without restarting a running agent (scale out)."""
    if host.role == "server":
        body = ["server {", *_server_join_lines(facts, bootstrap_expect, local), "}"]
    else:
        body = ["client {", *_client_join_lines(facts, local), "}"]
    return "\n".join(["# Written by nomadctl; read when the agent starts.", *body]) + "\n"


def supports_notify(version: str) -> bool:
    """Nomad 1.8+ tells systemd when it is ready (sd_notify READY=1)."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return m is None or (int(m.group(1)), int(m.group(2))) >= NOTIFY_SINCE


def systemd_unit(facts: ClusterFacts, user: str | None = None) -> str:
    """Our own unit (the package's is replaced): restart on failure, generous limits.

    `Type=notify` as HashiCorp's own unit has it, for versions that notify: systemd (and
    `systemctl start`) then wait until the agent is really up. An uploaded binary's version
    is not known (a pre-1.8 one would never notify and be killed at the start timeout), so
    it gets `Type=simple`. `ExecReload` sends SIGHUP as HashiCorp's unit does
    (.release/linux/package/usr/lib/systemd/system/nomad.service): `systemctl reload nomad`
    makes the agent re-read its TLS files without a restart (see configure.RELOAD).

    `user`: the agent runs as this user and its group (servers: `nomad`, node/privilege.py);
    None: as root, which clients need for their drivers."""
    account = f"User={user}\nGroup={user}\n" if user else ""
    known = facts.install_method != "binary"
    kind = "notify" if known and supports_notify(facts.nomad_version) else "simple"
    return f"""\
# Written by nomadctl.
[Unit]
Description=HashiCorp Nomad agent (managed by nomadctl)
Documentation=https://developer.hashicorp.com/nomad/docs
Wants=network-online.target
After=network-online.target
ConditionFileNotEmpty={CONFIG_DIR}/nomad.hcl

[Service]
{account}Type={kind}
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

    The templates are constant; every value they use is set at the top of the script as a
    shell-quoted variable, so no value (version, URL, key) can change what the shell runs.
    With `binary` the file itself is uploaded alongside the configs: nothing to install."""
    parts = []
    if nomad and facts.install_method in ("apt", "zip"):
        parts.append(_shell_vars(_install_vars(facts)))
        parts.append(_template(f"install-{facts.install_method}.sh"))
    if docker:
        parts.append(_template("install-docker.sh"))
    return "".join(parts)


def package_version(facts: ClusterFacts) -> str:
    """`1.9.3` or `1.9.3+ent`: HashiCorp's release name (zip URLs and `nomad version`)."""
    return facts.nomad_version + ("+ent" if facts.edition == "enterprise" else "")


def _install_vars(facts: ClusterFacts) -> dict[str, str]:
    version = package_version(facts)
    if facts.install_method == "zip":
        key = facts.release_key or hashicorp_release_key()
        return {
            "binary": facts.binary_path,
            "version": version,
            "releases": facts.releases_url.rstrip("/"),
            "fingerprint": key.fingerprint,
            "release_key": key.armored.decode("ascii").strip(),
        }
    return {
        "binary": facts.binary_path,
        "version": version,
        "package": "nomad-enterprise" if facts.edition == "enterprise" else "nomad",
        "apt_url": facts.apt_url.rstrip("/"),
        "apt_fingerprint": facts.apt_key_fingerprint,
    }


def _shell_vars(values: dict[str, str]) -> str:
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


def _template(name: str) -> str:
    return resources.files("nomadctl.node.templates").joinpath(name).read_text()


def shell_quote(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
