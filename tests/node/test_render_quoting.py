"""render.py quotes every value itself: hostile values render inert (issue 15, point 1).

HCL is read back with the stand-in's HCL1 reader, which scans strings as Nomad's HCL1 scanner
does; shell scripts are really run by `sh`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nomadctl.hosts import Host
from nomadctl.node import render
from tests.mirror import serve_dir
from tests.standin.agent import discover, hcl1, strict
from tests.standin.agent.config import normalize

HOSTILE = [
    'dc"1',
    "dc${",
    'x${"\nacl {\n  enabled = false\n}\n',
    "a\\nb\\\\",
    "%{ if true }x%{ endif }",
    "tab\there\r\n",
    "ünï ☃ \u2028",
    "{{ GetPrivateIP }}",
]
SERVER = Host("s-1", "server", "198.18.9.4")
CLIENT = Host("c-1", "client", "198.18.9.5")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_hcl_values_read_back_verbatim(value: str) -> None:
    facts = render.ClusterFacts(
        datacenter=value,
        nomad_region=value,
        node_pool=value,
        gossip_key=value,
        servers=[SERVER],
        auto_join=render.AutoJoin(value, value, "eu-west-1"),
    )
    for host in (SERVER, CLIENT):
        parsed = normalize(hcl1.loads(render.agent_config(facts, host)))
        assert parsed["datacenter"] == value and parsed["region"] == value
        assert parsed["acl"] == {"enabled": True}, "no value may end a string early"
        assert parsed["tls"]["verify_https_client"] is True
        assert strict.unexpected_keys(parsed) is None
        if host.role == "client":
            assert parsed["client"]["node_pool"] == value
        else:
            assert parsed["server"]["encrypt"] == value
            entry = parsed["server"]["server_join"]["retry_join"][-1]
            args, _ = discover.check(entry)
            assert args["tag_key"] == value and args["tag_value"] == value


def test_advertised_addresses_must_be_ips() -> None:
    facts = render.ClusterFacts(servers=[SERVER])
    with pytest.raises(ValueError):
        render.agent_config(facts, Host("x", "server", "{{ GetPrivateIP }}"))


@pytest.mark.parametrize(
    "version",
    [
        "1.9.0; touch {marker}",
        "$(touch {marker})",
        "`touch {marker}`",
        "1.9.0' && touch {marker} && echo '",
        '1.9.0" && touch {marker} && echo "',
    ],
)
def test_hostile_version_is_inert_in_the_install_scripts(tmp_path: Path, version: str) -> None:
    """The script runs, finds no such release and stops; the payload never runs."""
    marker = tmp_path / "pwned"
    version = version.format(marker=marker)
    empty = tmp_path / "mirror"
    empty.mkdir()
    with serve_dir(empty) as url:
        facts = render.ClusterFacts(
            install_method="zip", nomad_version=version, releases_url=url, apt_url=url
        )
        script = render.install_script(facts, nomad=True, docker=False)
        script = script.replace("binary=/usr/local/bin/nomad", f"binary={tmp_path}/nomad")
        res = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert res.returncode == 4, res.stderr
        assert f"download failed: {url}/nomad/{version}/" in res.stderr
        assert not marker.exists()
        # apt: the same variables, stopped before anything is installed (no such key file)
        apt = render.install_script(
            render.ClusterFacts(nomad_version=version, apt_url=url), nomad=True, docker=False
        )
        apt = apt.replace("binary=/usr/bin/nomad", f"binary={tmp_path}/nomad")
        res = subprocess.run(["sh", "-c", apt], capture_output=True, text=True, timeout=60)
        assert res.returncode == 4 and f"download failed: {url}/gpg" in res.stderr
        assert not marker.exists()
