"""Issue 28 point 5: every validator is exact: ASCII only, the whole string, bounded. Each
is fed Unicode look-alikes (ſ for s, ı for i, the Kelvin sign K for k), a trailing
newline, NUL and a 1 MB string. Failed on the main of 2026-12-07 (b311992): `ſ` passed as a
Nomad region (and crashed `certs` with exit 70), a trailing newline passed DNS names, and
an IPv6 zone could carry any text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nomadctl import validate
from nomadctl.cli.certs import _old_region
from nomadctl.cluster import operations
from nomadctl.errors import UsageError
from nomadctl.node import releases
from nomadctl.pki import issue
from nomadctl.providers.aws.infra import AMI_RE
from nomadctl.workspace import validate_cluster_name

LOOKALIKES = {"s": "ſ", "i": "ı", "k": "\u212a", "K": "\u212a", "S": "ſ", "I": "ı"}
BIG = "a" * (1 << 20)


def ok_pattern(pattern: re.Pattern[str]) -> Callable[[str], object]:
    def check(value: str) -> object:
        if not validate.fits(pattern, value):
            raise ValueError("no")
        return value

    return check


def node_id(value: str) -> object:
    return operations._check(value, operations.NODE_ID_RE, "node ID")


def dns_names(value: str) -> object:
    return issue.parse_dns_names([value])


def ip_addresses(value: str) -> object:
    return issue.parse_ip_addresses([value])


# validator -> a value it accepts (holding a letter a look-alike can stand for where it can)
VALIDATORS: dict[str, tuple[Callable[[str], object], str]] = {
    "nomad_version": (validate.nomad_version, "1.9.3+ks"),
    "ssh_user": (validate.ssh_user, "ubuntu-ks"),
    "host (name)": (validate.host, "jump.example.com"),
    "host (ip)": (validate.host, "fe80::1"),
    "endpoint": (validate.endpoint, "ks@jump.example.com:22"),
    "bastion": (validate.bastion, "ks@jump.example.com:22"),
    "datacenter": (validate.datacenter, "dc-ks"),
    "nomad_region": (validate.nomad_region, "ks"),
    "node_pool": (validate.node_pool, "pool-ks"),
    "ip_address": (validate.ip_address, "198.18.0.1"),
    "ip_address v6": (validate.ip_address, "2001:db8::1"),
    "token": (lambda v: validate.token(v, "token"), "0b7e4a9c-1f2d-4c3b-8a5e-6d7f8091a2b3"),
    "api_address": (validate.api_address, "https://nomad.example.com:4646"),
    "aws region": (ok_pattern(validate.AWS_REGION_RE), "us-east-1"),
    "cluster name": (validate_cluster_name, "lab-ks"),
    "dns names (certs)": (dns_names, "nomad.ks.example"),
    "ip addresses (certs)": (ip_addresses, "198.18.0.1"),
    "--region of certs": (_old_region, "ks"),
    "node id": (node_id, "0b7e4a9c-1f2d-4c3b-8a5e-6d7f8091a2b3"),
    "node name": (lambda v: operations._check(v, operations.NAME_RE, "name"), "client-ks"),
    "unit": (lambda v: operations._check(v, operations.UNIT_RE, "unit"), "nomad-ks.service"),
    "ami": (ok_pattern(AMI_RE), "ami-0123456789abcdef0"),
    "release version": (releases.check_version, "1.11.1"),
}
# Local paths: printable non-ASCII is a user's own (/home/müller); control characters never.
PATHS = {"local_path": validate.local_path, "ssh_config_path": validate.ssh_config_path}


def refused(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except (ValueError, UsageError, releases.ReleaseError, Exception) as exc:
        return not isinstance(exc, AssertionError)
    return False


def variants(good: str) -> list[str]:
    out = [good + "\n", good + "\r\n", good[:1] + "\x00" + good[1:], BIG, good + "\u2028"]
    swapped = "".join(LOOKALIKES.get(c, c) for c in good)
    if swapped != good:
        out.append(swapped)
    out.append(good.replace("1", "\u0661", 1))  # ARABIC-INDIC DIGIT ONE: \d without re.ASCII
    out.append("\uff11" + good)  # FULLWIDTH DIGIT ONE
    return [v for v in out if v != good]


# These two drop surrounding whitespace on purpose (a token or address pasted into a shell
# variable with its CR): what they return, and all that is used, is the bare value.
STRIPPING = {"token", "api_address"}


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_every_validator_is_exact(name: str) -> None:
    check, good = VALIDATORS[name]
    assert not refused(check, good), f"{name} refuses its own good value {good!r}"
    let_through = [
        v[:40]
        for v in variants(good)
        if not refused(check, v) and not (name in STRIPPING and check(v) == good)
    ]
    assert not let_through, f"{name} accepts {let_through!r}"


@pytest.mark.parametrize("name", sorted(PATHS))
def test_paths_refuse_control_characters_and_huge_values(name: str) -> None:
    check = PATHS[name]
    assert check("/home/müller/.ssh/id_ed25519")
    for bad in ("/tmp/a\nb", "/tmp/a\x00b", "/tmp/\u202egpj.exe", "/tmp/a\u2028b", "/" + BIG):
        assert refused(check, bad), repr(bad[:40])


def test_every_check_the_cli_applies_is_covered() -> None:
    covered = {check for check, _ in VALIDATORS.values()}
    for option, check in validate.CHECKS.items():
        assert check in covered or check in PATHS.values(), option


def nomadctl(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(tmp / "home")}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("region", ["ſ", "\u212a", "global\n"])
def test_lookalike_region_is_a_usage_error_for_certs_and_up(tmp_path: Path, region: str) -> None:
    for args in (["certs", "--nomad-region", region], ["certs", "--region", region]):
        proc = nomadctl(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert "--nomad-region" in proc.stderr or "--region" in proc.stderr
    proc = nomadctl(tmp_path, "up", "--local", "--nomad-region", region, "--dry-run")
    assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "home").exists()
