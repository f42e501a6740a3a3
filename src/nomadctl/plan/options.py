"""The options of `up`, validated once, in one place, before the first step.

`UpOptions` holds what the command line (or nomadctl.toml / the environment) said;
`validate` turns it into the provider, the node options and the local inputs to check, or
raises UsageError naming the flag. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nomadctl import providers
from nomadctl import validate as edge
from nomadctl.errors import UsageError
from nomadctl.hosts import SshOptions, hosts_of
from nomadctl.node import release_keys, releases, render
from nomadctl.plan import preflight
from nomadctl.workspace import Workspace

INSTALL_METHODS = ("apt", "zip")
EDITIONS = ("community", "enterprise")
SSH_ADDRESSES = ("public", "private")
CLIENT_RESTARTS = ("drain", "ineligible")


def choice(value: str, flag: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r}: use one of {', '.join(allowed)}")
    return value


# What the cluster is, as opposed to how this run goes: a re-run of `up` without the flag keeps
# the value the last `up` was given (kept in state.json "spec"), so `up --clients 2` followed
# by `up --nomad-version X` upgrades two clients, not three, and a changed instance type is
# not replaced back by the next `up`. Names are `up`'s parameters; AWS ones live in `aws`.
SPEC = (
    "servers",
    "clients",
    "server_type",
    "client_type",
    "root_volume_size",
    "nomad_version",
    "install_method",
    "edition",
    "datacenter",
    "node_pool",
    "enable_raw_exec",
    "docker",
)
_AWS_SPEC = ("server_type", "client_type", "root_volume_size")


@dataclass(frozen=True)
class UpOptions:
    # where: AWS (default), hosts you already have, or this machine
    local: bool = False
    server_hosts: tuple[str, ...] = ()
    client_hosts: tuple[str, ...] = ()
    aws: dict[str, Any] = field(default_factory=dict)  # AwsOptions fields
    servers: int = 3
    clients: int = 3
    # Nomad
    nomad_version: str = render.ClusterFacts.nomad_version
    install_method: str = "apt"
    nomad_binary: Path | None = None
    releases_url: str = render.RELEASES_URL
    release_key: Path | None = None  # a mirror's own signing key (armored), with ...
    release_key_fingerprint: str = ""  # ... its fingerprint, pinned
    edition: str = "community"
    license_file: Path | None = None
    nomad_region: str = "global"
    datacenter: str = "dc1"
    node_pool: str = "default"
    enable_raw_exec: bool = False
    docker: bool = True
    leader_timeout: float = 300.0
    acl_bootstrap: bool = True
    # SSH
    ssh_key: Path | None = None
    ssh_user: str = "ubuntu"
    ssh_address: str = ""
    bastion: str | None = None
    parallel: int = 32
    ssh_wait: float = 300.0
    # day 2
    max_unavailable: int = 1
    drain_deadline: float = 300.0
    client_restart: str = "drain"
    snapshot: bool = True  # automatic snapshots before risk (plan/snapshots.py)
    keep_snapshots: int = 10
    snapshot_to: str = ""  # s3://bucket/prefix: each automatic snapshot copied there too
    # the run
    yes: bool = False
    dry_run: bool = False
    skip_configure: bool = False
    # SPEC settings the user set (flag, NOMADCTL_* variable or nomadctl.toml); the others
    # are taken from the cluster's last `up` (state.json "spec") when it has one
    given: frozenset[str] = frozenset(SPEC)
    kept: tuple[tuple[str, Any], ...] = ()  # what was taken from the last `up`, for the plan

    def spec(self) -> dict[str, Any]:
        """The SPEC values this run asks for (what `up` records for the next re-run)."""
        return {k: self.aws.get(k) if k in _AWS_SPEC else getattr(self, k) for k in SPEC}

    @property
    def kind(self) -> str:
        if self.local:
            return "local"
        return "static" if (self.server_hosts or self.client_hosts) else "aws"


@dataclass(frozen=True)
class Validated:
    """What `up` works with: checked options, turned into the objects the steps use."""

    options: UpOptions
    provider: Any  # a providers.base.Provider
    facts: render.ClusterFacts
    inputs: preflight.LocalInputs
    release_key: Any = None  # release_keys.SigningKey for a mirror's key


def _paths(opts: UpOptions) -> UpOptions:
    def exp(p: Path | None) -> Path | None:
        return p.expanduser() if p else None

    return replace(
        opts,
        ssh_key=exp(opts.ssh_key),
        nomad_binary=exp(opts.nomad_binary),
        license_file=exp(opts.license_file),
        release_key=exp(opts.release_key),
    )


def _facts(opts: UpOptions) -> render.ClusterFacts:
    edition = choice(opts.edition, "--edition", EDITIONS)
    if edition == "enterprise" and opts.license_file is None:
        raise UsageError("--edition enterprise needs --license-file")
    method = (
        "binary"
        if opts.nomad_binary
        else choice(opts.install_method, "--install-method", INSTALL_METHODS)
    )
    try:
        edge.nomad_version(opts.nomad_version)
    except (ValueError, AttributeError) as exc:
        raise UsageError(f"--nomad-version {opts.nomad_version!r}: {exc}") from None
    try:
        releases.check_releases_url(opts.releases_url)
    except releases.ReleaseError as exc:
        raise UsageError(exc.message) from None
    return render.ClusterFacts(
        nomad_region=opts.nomad_region,
        datacenter=opts.datacenter,
        node_pool=opts.node_pool,
        enable_raw_exec=opts.enable_raw_exec,
        docker=opts.docker,
        edition=edition,  # type: ignore[arg-type]
        install_method=method,  # type: ignore[arg-type]
        nomad_version=opts.nomad_version,
        releases_url=opts.releases_url.rstrip("/"),
    )


def _ssh(opts: UpOptions, default_address: str) -> SshOptions:
    address = choice(opts.ssh_address, "--ssh-address", SSH_ADDRESSES) if opts.ssh_address else ""
    if opts.bastion:
        try:
            edge.endpoint(opts.bastion)
        except ValueError as exc:
            raise UsageError(f"--bastion {opts.bastion!r}: {exc}") from None
    return SshOptions(
        user=opts.ssh_user,
        key_path=opts.ssh_key,
        address=(address or default_address),  # type: ignore[arg-type]
        bastion=opts.bastion,
        parallel=opts.parallel,
        wait=opts.ssh_wait,
    )


def _provider(ws: Workspace, opts: UpOptions) -> Any:
    kind = opts.kind
    if kind == "local":
        from nomadctl.providers.local import provider as local

        return local.provider_from_options(opts)
    if kind == "static":
        from nomadctl.providers.hosts.provider import StaticProvider

        return StaticProvider(
            _ssh(opts, "private"), opts.server_hosts, opts.client_hosts, docker=opts.docker
        )
    # Through aws.provider (which loads AWS's libraries anyway): a local or hosts `up` never
    # imports the AWS modules (~45 ms of its start).
    from nomadctl.providers.aws.provider import AwsOptions, AwsProvider

    aws = AwsOptions(**opts.aws, ssh_key=opts.ssh_key, servers=opts.servers, clients=opts.clients)
    return AwsProvider(aws, _ssh(opts, "public"))


def validate(ws: Workspace, opts: UpOptions) -> Validated:
    """Every check that needs neither AWS nor a host; UsageError on the first problem."""
    from nomadctl.pki import store

    opts = _recorded_spec(ws, _recorded_kind(ws, _paths(opts)))
    facts = _facts(opts)
    choice(opts.client_restart, "--client-restart", CLIENT_RESTARTS)
    if opts.max_unavailable < 1:
        raise UsageError(f"--max-unavailable {opts.max_unavailable}: use 1 or more")
    if opts.local and (opts.server_hosts or opts.client_hosts):
        raise UsageError("--local runs the agents on this machine: not with --server/--client")
    provider = _provider(ws, opts)
    if hasattr(provider, "validate"):
        provider.validate(ws.cluster)
    release_key = None
    if opts.release_key is not None:
        try:
            if not opts.release_key_fingerprint:
                raise ValueError("needs --release-key-fingerprint (the key's 40 hex digits)")
            release_key = release_keys.key_from_file(opts.release_key, opts.release_key_fingerprint)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--release-key {opts.release_key}: {exc}") from None
        facts = replace(facts, release_key=release_key)
    ca = store.ca_paths(ws)
    inputs = preflight.LocalInputs(
        ca_cert=ca.cert,
        ca_key=ca.key,
        ssh_key=opts.ssh_key if (opts.ssh_key and not opts.local and _is_private(opts)) else None,
        nomad_binary=opts.nomad_binary,
        license_file=opts.license_file,
        binary_for_hosts=not opts.local,
    )
    return Validated(opts, provider, facts, inputs, release_key)


def _recorded_kind(ws: Workspace, opts: UpOptions) -> UpOptions:
    """A re-run without --local or --server/--client keeps the kind the cluster was made as."""

    kind = providers.recorded(ws)
    if kind == "local" and opts.kind in ("aws", "local"):
        from nomadctl.providers.local.provider import recorded_binary

        binary = recorded_binary(ws)  # the one the agents run now
        if opts.nomad_binary is None and binary is not None:
            opts = replace(opts, nomad_binary=binary)
        return replace(opts, local=True)
    if opts.kind != "aws":
        return opts
    if kind == "static":
        state = ws.load_state()
        hosts = hosts_of(state)
        if hosts:
            return _recorded_ssh(
                replace(
                    opts,
                    server_hosts=tuple(h.private_ip for h in hosts if h.role == "server"),
                    client_hosts=tuple(h.private_ip for h in hosts if h.role == "client"),
                ),
                state.get("ssh") or {},
            )
    return opts


def _recorded_ssh(opts: UpOptions, saved: dict[str, Any]) -> UpOptions:
    """Hosts you already have: a re-run keeps how they are reached (key, user, bastion) as
    `ssh`, `logs` and `down` do, unless a flag says otherwise."""
    key = saved.get("key_path")
    user = opts.ssh_user
    if user == UpOptions.ssh_user and saved.get("user"):  # the default: not a flag's value
        user = saved["user"]
    return replace(
        opts,
        ssh_key=opts.ssh_key or (Path(key) if key and Path(key).is_file() else None),
        ssh_user=user,
        bastion=opts.bastion or saved.get("bastion") or None,
    )


def _recorded_spec(ws: Workspace, opts: UpOptions) -> UpOptions:
    """Settings not given this time keep the value the cluster's last `up` recorded."""
    recorded = (ws.load_state().get("spec") or {}) if ws.state_path.exists() else {}
    kept = {
        k: recorded[k]
        for k in SPEC
        if k not in opts.given and k in recorded and recorded[k] != opts.spec()[k]
    }
    if not kept:
        return opts
    aws = {**opts.aws, **{k: v for k, v in kept.items() if k in _AWS_SPEC}}
    top = {k: v for k, v in kept.items() if k not in _AWS_SPEC}
    return replace(opts, aws=aws, kept=tuple(kept.items()), **top)


def record_spec(ws: Workspace, opts: UpOptions) -> None:
    """After the yes, before anything is made: what the next `up` keeps without flags."""
    ws.update_state(spec=opts.spec())


def _is_private(opts: UpOptions) -> bool:
    """--ssh-key may name a public key on AWS (the private one in ssh-agent)."""
    return opts.ssh_key is not None and opts.ssh_key.suffix != ".pub"
