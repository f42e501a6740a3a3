"""The apt install path really runs: testbed hosts run apt-get and dpkg against a local,
signed apt repository served over HTTP on the testbed bridge, whose `nomad` packages carry
HashiCorp's maintainer scripts (useradd nomad; chown -R nomad:nomad /etc/nomad.d; conffile
/etc/nomad.d/nomad.hcl; tests/mirror/apt.py).

Safety: the hosts get private copy-on-write overlays of /etc, /usr and /var (testbed
`overlays=`), so dpkg's database, apt's lists, /usr/bin/nomad and the `nomad` user exist on
the host only; the last test checks that the machine itself has none of them.
Real: sshd, sudo, sh, wget, gpg, apt-get, dpkg, HTTP. Stand-in: the `nomad` in the packages.
"""

from __future__ import annotations

import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nomadctl.hosts import Host, SshOptions
from nomadctl.node import fleet, render
from nomadctl.node.configure import HostResult
from nomadctl.node.release_keys import APT_KEY_FINGERPRINT
from nomadctl.pki import store
from nomadctl.workspace import Workspace
from tests.mirror import make_key, serve_dir
from tests.mirror.apt import AptRepo, build_apt_repo
from tests.standin import make_binary

pytestmark = pytest.mark.testbed

OLD, NEW = "1.11.0", "1.11.1"


def codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    return "bookworm"


@dataclass
class Env:
    tb: object
    ws: Workspace
    repo: AptRepo
    url: str
    binaries: dict[str, bytes]

    def up(self, host, version: str, **kw) -> HostResult:
        facts = render.ClusterFacts(
            **{
                "install_method": "apt",
                "nomad_version": version,
                "apt_url": f"{self.url}/good",
                "apt_key_fingerprint": self.repo.fingerprint,
                "gossip_key": store.read_gossip_key(self.ws),
                "servers": [Host(host.name, "server", host.address)],
                "docker": False,
                **kw,
            }
        )
        ssh = SshOptions(user="ubuntu", key_path=self.tb.key_path, address="private", wait=30)
        return fleet.configure_all(
            self.ws, facts.servers, fleet.NodeOptions(facts), ssh, lambda _m: None
        )[0]

    def sh(self, host, cmd: str) -> str:
        return self.tb.exec(host, cmd).stdout.strip()


@pytest.fixture(scope="module")
def env(testbed_factory_module, tmp_path_factory) -> Iterator[Env]:
    tb = testbed_factory_module(3, overlays=("/etc", "/usr", "/var"))
    tmp = tmp_path_factory.mktemp("apt")
    home = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
    key = make_key(home / "k")
    binaries = {v: make_binary(tmp / f"nomad-{v}", version=v).read_bytes() for v in (OLD, NEW)}
    packages = {("nomad", f"{v}-1"): b for v, b in binaries.items()}
    repo = build_apt_repo(tmp / "www" / "good", key, packages, codename())
    bad = tmp / "www" / "bad"
    shutil.copytree(repo.root, bad)
    packages_file = bad / "dists" / repo.codename / "main" / f"binary-{repo.arch}" / "Packages"
    packages_file.write_text(
        packages_file.read_text().replace("Priority: optional", "Priority: extra")
    )
    (packages_file.parent / "Packages.gz").unlink()
    ws = Workspace(tmp / "home", "apt")
    store.ensure(ws, store.CertOptions())
    try:
        with serve_dir(tmp / "www", tb.bridge_address) as url:
            yield Env(tb, ws, repo, url, binaries)
    finally:
        key.close()
        shutil.rmtree(home, ignore_errors=True)


def test_apt_install_with_pinned_key_and_root_owned_config(env: Env) -> None:
    tb, host = env.tb, env.tb.hosts[0]
    result = env.up(host, OLD)
    assert result.status == "configured", result.error
    assert tb.read_file(host, "/usr/bin/nomad") == env.binaries[OLD]
    assert env.sh(host, "dpkg-query -W -f '${Version}' nomad") == f"{OLD}-1"
    assert env.sh(host, "apt-mark showhold") == "nomad"
    assert env.sh(host, "id -u nomad").isdigit()  # the package's preinst ran
    # postinst chowned /etc/nomad.d to nomad; nomadctl made it root's again, readable by the
    # group nomad (a server's agent runs as nomad and owns only its data dir)
    uid, gid = int(env.sh(host, "id -u nomad")), int(env.sh(host, "id -g nomad"))
    for path, mode in (
        ("/etc/nomad.d", 0o750),
        ("/etc/nomad.d/nomad.hcl", 0o640),
        ("/etc/nomad.d/tls/node-key.pem", 0o640),
    ):
        assert (tb.file_mode(host, path), tb.file_owner(host, path)) == (mode, (0, gid)), path
    assert env.sh(host, "stat -c %U /etc/nomad.d/nomad.env") == "root"
    assert tb.file_owner(host, "/opt/nomad/data") == (uid, gid)
    assert env.sh(host, "ps -o user= -p $(systemctl show -p MainPID --value nomad)") == "nomad"
    ours = tb.read_file(host, "/etc/nomad.d/nomad.hcl").decode()
    assert ours.startswith("# Written by nomadctl")
    key = tb.read_file(host, "/usr/share/keyrings/hashicorp-archive-keyring.gpg")
    listed = subprocess.run(
        ["gpg", "--show-keys", "--with-colons"], input=key, capture_output=True, check=True
    ).stdout.decode()
    fprs = [line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:")]
    assert fprs[0] == env.repo.fingerprint
    assert tb.exec(host, "systemctl is-active nomad").stdout.strip() == "active"
    assert env.up(host, OLD).status == "unchanged"


def test_upgrade_of_the_held_package_keeps_our_config(env: Env) -> None:
    """The packaged nomad.hcl changed between versions (a conffile): dpkg would ask, but
    nomadctl keeps its own without a prompt, and the package stays held."""
    tb, host = env.tb, env.tb.hosts[0]
    before = tb.read_file(host, "/etc/nomad.d/nomad.hcl")
    result = env.up(host, NEW)
    assert result.status == "configured" and result.restarted, result.error
    assert env.sh(host, "dpkg-query -W -f '${Version}' nomad") == f"{NEW}-1"
    assert tb.read_file(host, "/usr/bin/nomad") == env.binaries[NEW]
    assert env.sh(host, "apt-mark showhold") == "nomad"
    assert tb.read_file(host, "/etc/nomad.d/nomad.hcl") == before
    packaged = tb.read_file(host, "/etc/nomad.d/nomad.hcl.dpkg-dist")
    assert packaged is not None and f"(package {NEW}-1)" in packaged.decode()
    gid = int(env.sh(host, "id -g nomad"))
    assert tb.file_owner(host, "/etc/nomad.d/nomad.hcl") == (0, gid)
    assert tb.file_owner(host, "/etc/nomad.d") == (0, gid)
    assert f"Nomad v{NEW}" in env.sh(host, "nomad version")
    assert tb.exec(host, "systemctl is-active nomad").stdout.strip() == "active"


def test_a_repository_key_that_is_not_the_pinned_one_is_refused(env: Env) -> None:
    tb, host = env.tb, env.tb.hosts[1]
    result = env.up(host, NEW, apt_key_fingerprint=APT_KEY_FINGERPRINT)
    assert result.status == "failed"
    assert f"is not the pinned apt key {APT_KEY_FINGERPRINT}" in (result.error or "")
    assert tb.read_file(host, "/usr/bin/nomad") is None
    assert tb.read_file(host, "/etc/apt/sources.list.d/hashicorp.list") is None


def test_the_packages_are_as_strict_as_hashicorps(env: Env) -> None:
    """What main's apt script did fails here, as on a real node: apt refuses to change a held
    package without --allow-change-held-packages, and dpkg stops at the conffile prompt for
    the changed nomad.hcl without --force-confold (stdin is not a terminal)."""
    tb, host = env.tb, env.tb.hosts[1]
    url = f"{env.url}/good"
    setup = (
        f"wget -qO- {url}/gpg | gpg --dearmor > /usr/share/keyrings/t.gpg && "
        f"echo 'deb [signed-by=/usr/share/keyrings/t.gpg] {url} {env.repo.codename} main' "
        "> /etc/apt/sources.list.d/t.list && apt-get update -qq "
        "-o Dir::Etc::sourcelist=sources.list.d/t.list -o Dir::Etc::sourceparts=- && "
        f"apt-get install -y -qq nomad={OLD}-1 >/dev/null && apt-mark hold nomad && "
        "echo '# edited' > /etc/nomad.d/nomad.hcl"
    )
    tb.exec(host, f"export DEBIAN_FRONTEND=noninteractive; {setup}")
    install = (
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades nomad={NEW}-1"
    )
    held = tb.exec(host, f"{install} </dev/null", check=False)
    assert held.returncode != 0 and "Held packages were changed" in held.stderr
    prompt = tb.exec(host, f"{install} --allow-change-held-packages </dev/null", check=False)
    assert prompt.returncode != 0
    assert "end of file on stdin at conffile prompt" in prompt.stdout + prompt.stderr


def test_a_tampered_repository_stops_that_host(env: Env) -> None:
    """Packages no longer matches the signed Release: apt refuses it, nothing installed."""
    tb, host = env.tb, env.tb.hosts[2]
    result = env.up(host, NEW, apt_url=f"{env.url}/bad")
    assert result.status == "failed", result.error
    assert "Some index files failed to download" in (result.error or ""), result.error
    assert tb.read_file(host, "/usr/bin/nomad") is None
    assert tb.exec(host, "dpkg-query -W nomad", check=False).returncode != 0


def test_the_machine_itself_is_untouched(env: Env) -> None:
    assert not Path("/usr/bin/nomad").exists()
    assert not Path("/etc/apt/sources.list.d/hashicorp.list").exists()
    assert not Path("/usr/share/keyrings/hashicorp-archive-keyring.gpg").exists()
    with pytest.raises(KeyError):
        pwd.getpwnam("nomad")
    assert subprocess.run(["dpkg-query", "-W", "nomad"], capture_output=True).returncode != 0
