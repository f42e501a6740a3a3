"""The zip install path really runs: testbed hosts download from a local release mirror over
HTTP on the testbed bridge, check SHA256SUMS.sig with gpg against the pinned key, install the
zip's `nomad` and start it under the shim (Type=notify). Real: sshd, sudo, sh, wget, gpg,
sha256sum, unzip, HTTP. Stand-in: the `nomad` inside the zips (tests/standin)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from nomadctl.hosts import Host, SshOptions
from nomadctl.node import fleet, render
from nomadctl.node.configure import HostResult
from nomadctl.node.release_keys import SigningKey
from nomadctl.pki import store
from nomadctl.workspace import Workspace
from tests.mirror import ReleaseMirror, build_release_mirror, make_key
from tests.standin import make_binary

pytestmark = pytest.mark.testbed

GOOD, BAD_ZIP, BAD_SUMS, OTHER_KEY, ENT = "1.11.1", "1.10.9", "1.10.8", "1.10.7", "1.11.1+ent"


@dataclass
class Env:
    tb: object
    ws: Workspace
    mirror: ReleaseMirror
    url: str
    binaries: dict[str, bytes]

    def facts(self, host, version: str = GOOD, **kw) -> render.ClusterFacts:
        key = SigningKey(self.mirror.key_armored, self.mirror.fingerprint)
        base = dict(
            install_method="zip",
            nomad_version=version,
            releases_url=self.url,
            release_key=key,
            gossip_key=store.read_gossip_key(self.ws),
            servers=[Host(host.name, "server", host.address)],
            docker=False,
        )
        return render.ClusterFacts(**{**base, **kw})

    def up(self, host, facts: render.ClusterFacts, license_file: Path | None = None) -> HostResult:
        ssh = SshOptions(user="ubuntu", key_path=self.tb.key_path, address="private", wait=30)
        node = fleet.NodeOptions(facts, license_file=license_file)
        return fleet.configure_all(self.ws, facts.servers, node, ssh, lambda _m: None)[0]


@pytest.fixture(scope="module")
def env(testbed_factory_module, tmp_path_factory) -> Iterator[Env]:
    tb = testbed_factory_module(6)
    tmp = tmp_path_factory.mktemp("zip")
    home = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
    versions = [GOOD, BAD_ZIP, BAD_SUMS, OTHER_KEY, ENT]
    binaries = {v: make_binary(tmp / f"nomad-{v}", version=v).read_bytes() for v in versions}
    mirror = build_release_mirror(tmp / "mirror", home / "k", binaries)
    mirror.tamper(BAD_ZIP, "zip")
    mirror.tamper(BAD_SUMS, "sums")
    stranger = make_key(home / "s", uid="someone else <x@example.invalid>")
    stranger.sign_detached(mirror.path(OTHER_KEY, "sums"), mirror.path(OTHER_KEY, "sig"))
    ws = Workspace(tmp / "home", "zip")
    store.ensure(ws, store.CertOptions())
    try:
        with mirror.serve(tb.bridge_address) as url:
            yield Env(tb, ws, mirror, url, binaries)
    finally:
        mirror.key.close()
        stranger.close()
        shutil.rmtree(home, ignore_errors=True)


def test_verified_zip_is_installed_and_runs(env: Env) -> None:
    tb, host = env.tb, env.tb.hosts[0]
    result = env.up(host, env.facts(host))
    assert result.status == "configured", result.error
    assert tb.read_file(host, "/usr/local/bin/nomad") == env.binaries[GOOD]
    assert tb.file_mode(host, "/usr/local/bin/nomad") == 0o755
    assert tb.exec(host, "systemctl is-active nomad").stdout.strip() == "active"
    assert "ready (READY=1 received)" in tb.unit_log(host)  # Type=notify honoured
    assert "Type=notify" in tb.read_file(host, render.UNIT_PATH).decode()
    # A server: its agent runs as nomad and reads what root owns (group nomad).
    gid = int(tb.exec(host, "id -g nomad").stdout)
    for path, mode in (("/etc/nomad.d", 0o750), ("/etc/nomad.d/tls/node-key.pem", 0o640)):
        assert (tb.file_mode(host, path), tb.file_owner(host, path)) == (mode, (0, gid))
    again = env.up(host, env.facts(host))
    assert again.status == "unchanged", again.error


def test_owner_and_mode_drift_is_repaired(env: Env) -> None:
    tb, host = env.tb, env.tb.hosts[0]
    tb.exec(host, "chown 998:998 /etc/nomad.d/tls/node-key.pem && chmod 0755 /etc/nomad.d")
    result = env.up(host, env.facts(host))
    assert result.status == "configured", result.error
    assert "/etc/nomad.d/tls/node-key.pem" in result.changed
    gid = int(tb.exec(host, "id -g nomad").stdout)
    assert tb.file_owner(host, "/etc/nomad.d/tls/node-key.pem") == (0, gid)
    assert tb.file_mode(host, "/etc/nomad.d") == 0o750


@pytest.mark.parametrize(
    ("index", "version", "message"),
    [
        (1, BAD_ZIP, "checksum mismatch for nomad_1.10.9_linux_amd64.zip"),
        (2, BAD_SUMS, "nomad_1.10.8_SHA256SUMS is not signed by the release key"),
        (3, OTHER_KEY, "nomad_1.10.7_SHA256SUMS is not signed by the release key"),
    ],
)
def test_tampered_or_foreign_downloads_stop_that_host(
    env: Env, index: int, version: str, message: str
) -> None:
    tb, host = env.tb, env.tb.hosts[index]
    result = env.up(host, env.facts(host, version))
    assert result.status == "failed" and message in (result.error or ""), result.error
    assert tb.read_file(host, "/usr/local/bin/nomad") is None
    assert tb.unit_pid(host) is None


def test_hashicorps_key_refuses_a_mirror_signed_by_another(env: Env) -> None:
    """The default key is HashiCorp's real one: the mirror's signature is not good enough."""
    tb, host = env.tb, env.tb.hosts[4]
    result = env.up(host, replace(env.facts(host), release_key=None))
    assert result.status == "failed"
    assert "is not signed by the release key C874011F0AB405110D02105534365D9472D7468F" in (
        result.error or ""
    )
    assert tb.read_file(host, "/usr/local/bin/nomad") is None


def test_enterprise_zip_from_hashicorps_url_with_licence_on_the_server(
    env: Env, tmp_path: Path
) -> None:
    tb, host = env.tb, env.tb.hosts[5]
    # A `nomad` group left without its user (an earlier package, by hand): reused, not refused.
    tb.exec(host, "groupadd --system nomad")
    lic = tmp_path / "license.hclic"
    lic.write_bytes(b"02MV4UU43BK5HGYYTOJZWFQMTMNNEWU33JLJUVCM2NPJFGWMBQNZ2ZM\n")
    result = env.up(host, env.facts(host, GOOD, edition="enterprise"), license_file=lic)
    assert result.status == "configured", result.error
    assert tb.read_file(host, "/usr/local/bin/nomad") == env.binaries[ENT]
    assert tb.read_file(host, render.LICENSE_PATH) == lic.read_bytes()
    gid = int(tb.exec(host, "id -g nomad").stdout)  # a server reads it: root:nomad 0640
    assert (tb.file_mode(host, render.LICENSE_PATH), tb.file_owner(host, render.LICENSE_PATH)) == (
        0o640,
        (0, gid),
    )
    assert tb.exec(host, "systemctl is-active nomad").stdout.strip() == "active"
