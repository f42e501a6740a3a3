"""Issue 15, points 1, 5 and 6: values checked at the edge before anything is touched, a
nomadctl.toml found in the current directory cannot widen access unasked, `nomadctl ssh`
passes no options to ssh after the node, and the workspace keeps its hands off what it did
not create. Each test failed on the main of 2026-12-02 (f823a2b)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl import validate
from nomadctl.cluster import acl
from nomadctl.cluster.target import env_lines
from nomadctl.errors import WorkspaceError
from nomadctl.hosts import Host, hosts_of
from nomadctl.node.connect import ssh_command
from nomadctl.pki import store
from nomadctl.workspace import Workspace
from tests.standin.harness import next_ip
from tests.terminal import run_on_terminal

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the tree under test
EVIL = "1.9.0;touch /tmp/nomadctl-pwned"


def nomadctl(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(cwd / "home"), **TREE, **env},
    )


def static_up(cwd: Path, *extra: str) -> list[str]:
    key = cwd / "id_ed25519"
    if not key.exists():  # a real key: preflight reads it before anything else runs
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        key.chmod(0o600)
    return ["up", "--yes", "--server", next_ip(), "--ssh-key", str(key), *extra]


# ---- point 1: the edge --------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    ["1.11.1", "1.10.0-beta.1", "1.9.3+ent", "1.2", "1.7.0-rc1+ent.hsm", "1.0.0~x"],
)
def test_go_version_syntax_is_accepted(version: str) -> None:
    assert validate.nomad_version(version) == version
    assert validate.nomad_version("v" + version) == version  # go-version's optional v


@pytest.mark.parametrize(
    "version", [EVIL, "$(id)", "1.9.0 ", "1.9.0\n", "", "1.9.0'", "-1.0", "1..2", "1.9.0+"]
)
def test_shell_syntax_is_not_a_version(version: str) -> None:
    with pytest.raises(ValueError):
        validate.nomad_version(version)


def test_evil_version_is_exit_2_before_anything_from_flag_env_or_file(tmp_path: Path) -> None:
    """Flag, NOMADCTL_UP_NOMAD_VERSION and a nomadctl.toml: usage error, no workspace made
    (so no state, no key, no SSH: `up` makes the workspace before it connects anywhere)."""
    home = tmp_path / "home"
    proc = nomadctl(tmp_path, *static_up(tmp_path, "--nomad-version", EVIL))
    assert proc.returncode == 2 and "--nomad-version" in proc.stderr, proc.stderr
    proc = nomadctl(tmp_path, *static_up(tmp_path), NOMADCTL_UP_NOMAD_VERSION=EVIL)
    assert proc.returncode == 2 and "nomad-version" in proc.stderr, proc.stderr
    (tmp_path / "nomadctl.toml").write_text(f'nomad_version = "{EVIL}"\n')
    proc = nomadctl(tmp_path, *static_up(tmp_path))
    assert proc.returncode == 2 and "nomadctl.toml: nomad_version" in proc.stderr, proc.stderr
    assert "not a Nomad version" in proc.stderr
    assert not home.exists() and not Path("/tmp/nomadctl-pwned").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--ssh-user", "-oProxyCommand=touch /tmp/x"),
        ("--ssh-user", "root;id"),
        ("--bastion", "ubuntu@-oProxyCommand=x"),
        ("--bastion", "ubuntu@jump;id"),
        ("--bastion", "ubuntu@jump:99999"),
        ("--datacenter", 'dc1"\n  x = "y'),
        ("--datacenter", "dc*"),
        ("--nomad-region", "eu.west"),
        ("--nomad-region", "../../etc"),
        ("--node-pool", "all"),
        ("--node-pool", "a b"),
        ("--nomad-binary", "/tmp/a\nb"),
    ],
)
def test_values_reaching_nodes_are_checked(tmp_path: Path, flag: str, value: str) -> None:
    proc = nomadctl(tmp_path, *static_up(tmp_path, flag, value))
    assert proc.returncode == 2 and flag in proc.stderr, proc.stderr
    assert not (tmp_path / "home").exists()


def test_good_values_pass_the_checks() -> None:
    assert validate.endpoint("ubuntu@jump.example.com:2222") == validate.Address(
        "ubuntu", "jump.example.com", 2222
    )
    assert validate.endpoint("[2001:db8::1]:22").host == "2001:db8::1"
    assert validate.datacenter("eu-west-1a") and validate.node_pool("gpu_pool-2")
    assert validate.ssh_user("ec2-user") and validate.nomad_region("global")


def test_home_with_a_newline_is_a_usage_error(tmp_path: Path) -> None:
    proc = nomadctl(tmp_path, "--home", str(tmp_path / "a\nb"), "certs")
    assert proc.returncode == 2 and "--home" in proc.stderr
    assert not (tmp_path / "a\nb").exists()


def test_risky_settings_from_a_found_file_need_an_explicit_yes(tmp_path: Path) -> None:
    """allow_cidr 0.0.0.0/0 from ./nomadctl.toml: named, refused without a terminal even
    with --yes; the same value on the command line, or a file named with --config, is the
    user's own choice."""
    (tmp_path / "nomadctl.toml").write_text('[up]\nallow_cidr = ["0.0.0.0/0"]\n')
    proc = nomadctl(tmp_path, *static_up(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "allow_cidr = ['0.0.0.0/0'] (who may reach SSH and the Nomad API)" in proc.stderr
    assert "error: " in proc.stderr and "--config" in proc.stderr
    assert not (tmp_path / "home").exists()
    for extra in (["--allow-cidr", "0.0.0.0/0"], []):
        args = static_up(tmp_path, "--dry-run", *extra)
        if not extra:
            args = ["--config", str(tmp_path / "nomadctl.toml"), *args]
        proc = nomadctl(tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
        assert "Plan for cluster" in proc.stdout


# ---- point 5: nomadctl ssh ----------------------------------------------------------------


def ssh_workspace(tmp: Path, user: str = "ubuntu") -> Workspace:
    ws = Workspace(tmp / "home", "lab").create()
    key = ws.path / "ssh" / "id_ed25519"
    ws.write_secret(key, b"unused")
    ws.update_state(
        hosts=[Host("lab-server-1", "server", next_ip()).to_dict()],  # nothing listens there
        ssh={"user": user, "address": "private", "key_path": str(key)},
    )
    return ws


def test_ssh_arguments_after_the_node_are_never_ssh_options(tmp_path: Path) -> None:
    """OpenSSH reads options after the destination (`ssh host -oProxyCommand=...`); with
    `--` before the destination they are the remote command. Run the real client."""
    ws = ssh_workspace(tmp_path)
    marker = tmp_path / "proxy-ran"
    argv = ssh_command(ws, "server-1", [f"-oProxyCommand=touch {marker}", "x"])
    dest = argv.index("ubuntu@" + hosts_of(ws.load_state())[0].private_ip)
    assert argv[dest - 1] == "--"
    subprocess.run([*argv[:1], "-o", "BatchMode=yes", *argv[1:]], capture_output=True, timeout=30)
    assert not marker.exists()


def test_ssh_refuses_a_bad_user_from_state(tmp_path: Path) -> None:
    ws = ssh_workspace(tmp_path, user="-oProxyCommand=x")
    with pytest.raises(WorkspaceError, match="unusable SSH settings"):
        ssh_command(ws, "server-1", [])


def test_ssh_paths_are_quoted_for_ssh(tmp_path: Path) -> None:
    ws = ssh_workspace(tmp_path / "with space")
    argv = ssh_command(ws, "server-1", [])
    assert f'UserKnownHostsFile="{ws.path / "known_hosts"}"' in argv
    bad = ssh_workspace(tmp_path / "100%")
    with pytest.raises(WorkspaceError):
        ssh_command(bad, "server-1", [])


# ---- point 6: the workspace ---------------------------------------------------------------


def test_an_existing_home_is_never_chmoded(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    proc = nomadctl(tmp_path, "--home", str(home), "certs")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # the user's directory, as it was
    assert stat.S_IMODE((home / "nomad").stat().st_mode) == 0o700  # ours
    fresh = tmp_path / "new" / "home"
    assert nomadctl(tmp_path, "--home", str(fresh), "certs").returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700  # made by nomadctl: private


def test_a_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home", "lab").create()
    store.ensure(ws, store.CertOptions())
    ws.update_state(hosts=[Host("lab-server-1", "server", "198.18.0.9").to_dict()])
    path = acl.save_token(ws, "management", {"SecretID": "0b3a5c1e-8d4f-4e2a-9c71-5f6e7d8a9b0c"})
    acl.save_token(ws, "user", {"SecretID": "1b3a5c1e-8d4f-4e2a-9c71-5f6e7d8a9b0c"})
    path.chmod(0o644)
    proc = nomadctl(tmp_path, "--cluster", "lab", "env", "--management")
    assert proc.returncode == 3 and "mode 0644" in proc.stderr and str(path) in proc.stderr
    assert "0b3a5c1e" not in proc.stdout + proc.stderr
    path.chmod(0o600)
    gossip = ws.gossip_key_path
    gossip.chmod(0o640)
    proc = nomadctl(tmp_path, "--cluster", "lab", "certs", "--show-gossip-key")
    assert proc.returncode == 3 and "mode 0640" in proc.stderr
    gossip.chmod(0o600)
    ca_key = store.ca_paths(ws).key
    ca_key.chmod(0o604)
    proc = nomadctl(tmp_path, "--cluster", "lab", "certs")
    assert proc.returncode == 3 and "mode 0604" in proc.stderr


def test_on_a_terminal_risky_file_settings_are_asked_even_with_yes(tmp_path: Path) -> None:
    (tmp_path / "nomadctl.toml").write_text('[up]\nnomad_version = "1.9.3+ent"\n')
    env = {"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(tmp_path / "home"), **TREE}
    argv = [sys.executable, "-m", "nomadctl", *static_up(tmp_path, "--ssh-wait", "0")]
    question = "Use these settings from the file? (--yes does not answer this) [y/N]:"
    run = run_on_terminal(argv, env=env, cwd=tmp_path, prompt=question, answer="n")
    assert run.prompted and run.returncode == 1, run.terminal
    assert "nomad_version = '1.9.3+ent' (the Nomad installed on every node)" in run.terminal
    assert "cancelled; nothing was changed" in run.terminal
    assert not (tmp_path / "home").exists()
    run = run_on_terminal(argv, env=env, cwd=tmp_path, prompt=question, answer="y")
    assert run.prompted and (tmp_path / "home" / "nomad" / "state.json").exists(), run.terminal
    # A dry run names them in its plan and asks nothing.
    proc = nomadctl(tmp_path, *static_up(tmp_path, "--dry-run"))
    assert proc.returncode == 0 and "nomad_version = '1.9.3+ent'" in proc.stderr


def test_an_ssh_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    from nomadctl.node import ssh as remote

    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key.chmod(0o644)
    with pytest.raises(WorkspaceError, match="mode 0644"):
        remote._load_private_key(key)
    key.chmod(0o600)
    assert remote._load_private_key(key).get_name() == "ssh-ed25519"


def test_fish_lines_quote_as_fish_reads_them(tmp_path: Path) -> None:
    """fish's single quotes treat \\\\ and \\' as escapes (fish docs, "Quotes"); POSIX
    quoting of a path ending in a backslash would leave the quote open there."""
    ws = Workspace(tmp_path / "it's \\", "lab").create()
    store.ensure(ws, store.CertOptions())
    ws.update_state(hosts=[Host("lab-server-1", "server", "198.18.0.9").to_dict()])
    line = next(x for x in env_lines(ws, "fish") if "NOMAD_CACERT" in x)
    expected = str(store.ca_paths(ws).cert).replace("\\", "\\\\").replace("'", "\\'")
    assert line == f"set -gx NOMAD_CACERT '{expected}'"
