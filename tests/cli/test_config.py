"""nomadctl.toml and environment: flag > env > file > built-in default, strict keys and types."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509


def nomadctl(cwd: Path, *args: str, env: dict[str, str | None] | None = None):
    full: dict[str, str | None] = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    full["NOMADCTL_HOME"] = str(cwd / "home")
    full["PYTHONPATH"] = os.environ.get("PYTHONPATH")  # the tree under test, not an install
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in full.items() if v is not None},
        timeout=60,
    )


def server_days(cwd: Path, cluster: str = "nomad") -> int:
    pem = cwd / "home" / cluster / "certificates/servers/global-server-nomad.pem"
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) // dt.timedelta(days=1)


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    assert nomadctl(tmp_path, "certs").returncode == 0
    assert server_days(tmp_path) == 365  # built-in default

    (tmp_path / "nomadctl.toml").write_text("[certs]\ndays = 40\n")
    assert nomadctl(tmp_path, "certs", "--force").returncode == 0
    assert server_days(tmp_path) == 40  # file over default

    env = {"NOMADCTL_CERTS_DAYS": "50"}
    assert nomadctl(tmp_path, "certs", "--force", env=env).returncode == 0
    assert server_days(tmp_path) == 50  # env over file

    assert nomadctl(tmp_path, "certs", "--force", "--days", "60", env=env).returncode == 0
    assert server_days(tmp_path) == 60  # flag over env


def test_global_options_from_file_env_and_flag(tmp_path: Path) -> None:
    (tmp_path / "nomadctl.toml").write_text('cluster = "from-file"\n')
    assert nomadctl(tmp_path, "certs").returncode == 0
    assert (tmp_path / "home" / "from-file" / "gossip.key").exists()
    assert nomadctl(tmp_path, "certs", env={"NOMADCTL_CLUSTER": "from-env"}).returncode == 0
    assert (tmp_path / "home" / "from-env" / "gossip.key").exists()
    proc = nomadctl(tmp_path, "--cluster", "flag", "certs", env={"NOMADCTL_CLUSTER": "from-env"})
    assert proc.returncode == 0
    assert (tmp_path / "home" / "flag" / "gossip.key").exists()


def test_explicit_config_and_top_level_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('nomad-region = "eu"\nhome = "' + str(tmp_path / "h2") + '"\n')
    proc = nomadctl(tmp_path, "--config", str(cfg), "certs", "--json", env={"NOMADCTL_HOME": None})
    assert proc.returncode == 0, proc.stderr
    paths = [r["path"] for r in json.loads(proc.stdout)]
    assert any(p.endswith("servers/eu-server-nomad.pem") for p in paths)
    assert all(p.startswith(str(tmp_path / "h2")) for p in paths)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        ("[certs]\nshade = 1\n", "unknown key certs.shade"),
        ('[certs]\ndays = "ten"\n', "certs.days must be an integer"),
        ("[certs]\ndays = true\n", "certs.days must be an integer"),
        ("[certs]\nforce = 1\n", "certs.force must be true or false"),
        ('[certs]\nadditional_dnsname = "x.example"\n', "additional_dnsname must be a list"),
        ("cluster = 7\n", "cluster must be a string"),
        ("[certs\n", "is not valid TOML"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "nomadctl.toml").write_text(text)
    proc = nomadctl(tmp_path, "certs")
    assert proc.returncode == 2
    assert needle in proc.stderr and "nomadctl.toml" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home").exists()


def test_missing_explicit_config(tmp_path: Path) -> None:
    proc = nomadctl(tmp_path, "--config", str(tmp_path / "nope.toml"), "certs")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_hosts_tables_feed_up(tmp_path: Path) -> None:
    import typer.main

    from nomadctl.cli import config
    from nomadctl.cli.app import app

    group = typer.main.get_command(app)
    path = tmp_path / "nomadctl.toml"
    data = {
        "hosts": [
            {"role": "server", "address": "192.0.2.1"},
            {"role": "client", "address": "192.0.2.9"},
            {"role": "server", "address": "192.0.2.2"},
        ]
    }
    cfg = config.build(path, data, group)  # type: ignore[arg-type]
    assert cfg.default_map["up"]["server"] == ["192.0.2.1", "192.0.2.2"]
    assert cfg.default_map["up"]["client"] == ["192.0.2.9"]


@pytest.mark.parametrize(
    ("hosts", "needle"),
    [
        ('[[hosts]]\nrole = "leader"\naddress = "192.0.2.1"\n', "hosts[1].role must be"),
        ('[[hosts]]\nrole = "server"\n', "hosts[1].address must be"),
        (
            '[[hosts]]\nrole = "server"\naddress = "192.0.2.1"\nport = 2\n',
            "unknown key hosts[1].port",
        ),
        ('hosts = "192.0.2.1"\n', "hosts must be [[hosts]] tables"),
    ],
)
def test_bad_hosts_tables(tmp_path: Path, hosts: str, needle: str) -> None:
    (tmp_path / "nomadctl.toml").write_text(hosts)
    proc = nomadctl(tmp_path, "up", "--dry-run")
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr


def test_hosts_tables_plan(tmp_path: Path) -> None:
    (tmp_path / "nomadctl.toml").write_text(
        "".join(f'[[hosts]]\nrole = "server"\naddress = "192.0.2.{i}"\n' for i in (1, 2, 3))
        + '[[hosts]]\nrole = "client"\naddress = "192.0.2.9"\n'
    )
    key = tmp_path / "key"
    key.write_text("not a key")
    proc = nomadctl(tmp_path, "up", "--dry-run", "--ssh-key", str(key))
    assert proc.returncode == 2 and "problem: --ssh-key" in proc.stdout  # preflight lists it
    _ed25519_key(key)
    proc = nomadctl(tmp_path, "up", "--dry-run", "--ssh-key", str(key))
    assert proc.returncode == 0, proc.stderr
    assert "nomad-server-3" in proc.stdout and "192.0.2.9" in proc.stdout


def _ed25519_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


@pytest.mark.parametrize("key", ["json = true", "json_output = true"])
def test_keys_under_the_names_help_shows(tmp_path: Path, key: str) -> None:
    """Issue 26 point 9: `[status] json = true` is `--json` as --help spells it (and the
    older parameter name still works)."""
    (tmp_path / "nomadctl.toml").write_text(f"[version]\n{key}\n[status]\n{key}\n")
    proc = nomadctl(tmp_path, "version")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["nomadctl"]
    status = nomadctl(tmp_path, "status")  # no cluster here: the file itself is fine
    assert "unknown key" not in status.stderr and "no cluster 'nomad'" in status.stderr


@pytest.mark.parametrize("key", ['output = "json"', 'json = "json"', 'output = "table"'])
def test_output_words_from_the_file(tmp_path: Path, key: str) -> None:
    """Issue 26: `output = "json"` is `-o json`, as --help shows it ([json|table|wide])."""
    (tmp_path / "nomadctl.toml").write_text(f"[version]\n{key}\n")
    proc = nomadctl(tmp_path, "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{") == ("json" in key.split("=")[1])


def _long_names(param) -> list[tuple[str, bool]]:
    """(key, negated) for every long flag --help shows: `--no-docker` is ("no_docker", True)."""
    return [(f[2:].replace("-", "_"), False) for f in param.opts if f.startswith("--")] + [
        (f[2:].replace("-", "_"), True) for f in param.secondary_opts if f.startswith("--")
    ]


def test_every_long_name_and_every_choice_is_a_file_key(tmp_path: Path) -> None:
    """Every option of every command, under each long name --help shows, with each value
    --help lists for it (or a bool for a flag), is accepted from nomadctl.toml and lands on
    the option's parameter; `no_X = true` means `X = false`."""
    import click

    from nomadctl.cli import config as configfile
    from nomadctl.cli.app import command

    root = command()
    path = tmp_path / "nomadctl.toml"
    seen = 0
    for name, cmd in root.commands.items():
        if isinstance(cmd, click.Group):
            continue  # snapshot/workspace sub-commands take no file defaults
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden or not param.expose_value:
                continue
            choices = list(getattr(param.type, "choices", None) or [])
            flag = param.is_flag or isinstance(param.type, click.types.BoolParamType)
            if not choices and not flag:
                continue
            for key, negated in _long_names(param):
                for value in choices or [True]:
                    cfg = configfile.build(path, {name: {key: value}}, root)
                    want = (not value) if negated else value
                    assert cfg.default_map[name][param.name] == want, (name, key, value)
                    seen += 1
    assert seen > 60  # every command's -o/--output words, up's choices and --no-* flags
