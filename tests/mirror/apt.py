"""A local copy of apt.releases.hashicorp.com: signed repository, `nomad` packages that behave
like HashiCorp's.

Layout (as apt reads it; HashiCorp's repository has the same shape)::

    <root>/gpg                                         # the repository key, armored
    <root>/pool/main/n/<pkg>/<pkg>_<version>_<arch>.deb
    <root>/dists/<codename>/main/binary-<arch>/Packages(.gz)
    <root>/dists/<codename>/Release, InRelease (clear-signed), Release.gpg

Each package is built with dpkg-deb from HashiCorp's packaging (hashicorp/nomad
.release/linux at v1.11.3): preinst adds the `nomad` system user, postinst creates
/opt/nomad/data and runs `chown -R nomad:nomad /etc/nomad.d`, conffiles
/etc/nomad.d/nomad.hcl and nomad.env, the unit in /usr/lib/systemd/system. The `nomad`
executable inside is whatever the test passes (the stand-in). Only install these packages on
hosts of a testbed created with overlays=("/etc", "/usr", "/var").
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from tests.mirror.gpgkey import TestKey

PREINST = """\
#!/bin/bash

set -eu

USER="nomad"

if ! id -u $USER >/dev/null 2>&1; then
	useradd \\
		--system \\
		--user-group \\
		--shell /bin/false \\
		$USER
fi
"""
POSTINST = """\
#!/bin/bash

mkdir -p /opt/nomad/data
chown nomad:nomad /opt/nomad/data
chown -R nomad:nomad /etc/nomad.d

if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
"""
POSTRM = """\
#!/bin/bash

if [ "$1" = "purge" ]; then
  userdel nomad
fi

if [ "$1" == "upgrade" ] && [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
  systemctl restart nomad >/dev/null || true
fi

exit 0
"""
NOMAD_HCL = """\
# Full configuration options can be found at https://developer.hashicorp.com/nomad/docs/configuration
# (package {version})

data_dir  = "/opt/nomad/data"
bind_addr = "0.0.0.0"

server {{
  # license_path is required for Nomad Enterprise as of Nomad v1.1.1+
  #license_path = "/etc/nomad.d/license.hclic"
  enabled          = true
  bootstrap_expect = 1
}}

client {{
  enabled = true
  servers = ["127.0.0.1"]
}}
"""
UNIT = """\
[Unit]
Description=Nomad
Wants=network-online.target
After=network-online.target

[Service]
User=root
Group=root
Type=notify
EnvironmentFile=-/etc/nomad.d/nomad.env
ExecReload=/bin/kill -HUP $MAINPID
ExecStart=/usr/bin/nomad agent -config /etc/nomad.d
KillMode=process
KillSignal=SIGINT
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class AptRepo:
    root: Path
    key: TestKey
    codename: str
    arch: str

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def deb(self, package: str, version: str) -> Path:
        return (
            self.root / "pool/main" / package[0] / package / f"{package}_{version}_{self.arch}.deb"
        )


def machine_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def make_deb(out: Path, package: str, version: str, arch: str, binary: bytes) -> Path:
    """A .deb like HashiCorp's nomad package (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        return _build(Path(tmp), out, package, version, arch, binary)


def _build(tree: Path, out: Path, package: str, version: str, arch: str, binary: bytes) -> Path:
    for d in ("DEBIAN", "usr/bin", "etc/nomad.d", "usr/lib/systemd/system"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    (tree / "usr/bin/nomad").write_bytes(binary)
    (tree / "usr/bin/nomad").chmod(0o755)
    (tree / "etc/nomad.d/nomad.hcl").write_text(NOMAD_HCL.format(version=version))
    (tree / "etc/nomad.d/nomad.env").write_text("# Nomad environment variables\n")
    (tree / "usr/lib/systemd/system/nomad.service").write_text(UNIT)
    control = f"""\
        Package: {package}
        Version: {version}
        Architecture: {arch}
        Maintainer: HashiCorp <support@hashicorp.com>
        Section: default
        Priority: optional
        Homepage: https://www.nomadproject.io/
        Description: Nomad (test package built by nomadctl's tests: the stand-in agent)
        """
    (tree / "DEBIAN/control").write_text(textwrap.dedent(control))
    (tree / "DEBIAN/conffiles").write_text("/etc/nomad.d/nomad.env\n/etc/nomad.d/nomad.hcl\n")
    for name, text in (("preinst", PREINST), ("postinst", POSTINST), ("postrm", POSTRM)):
        (tree / "DEBIAN" / name).write_text(text)
        (tree / "DEBIAN" / name).chmod(0o755)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
        capture_output=True,
        check=True,
    )
    return out


def build_apt_repo(
    root: Path,
    key: TestKey,
    packages: dict[tuple[str, str], bytes],
    codename: str = "bookworm",
) -> AptRepo:
    """Publish `packages` ((name, deb version) -> the `nomad` executable's bytes) under
    `root`, signed with `key`: Packages by dpkg-scanpackages, Release signed with gpg."""
    arch = machine_arch()
    repo = AptRepo(root, key, codename, arch)
    for (name, version), binary in packages.items():
        make_deb(repo.deb(name, version), name, version, arch, binary)
    (root / "gpg").write_bytes(key.armored)
    scan = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    dist = root / "dists" / codename
    bindir = dist / "main" / f"binary-{arch}"
    bindir.mkdir(parents=True, exist_ok=True)
    (bindir / "Packages").write_bytes(scan)
    (bindir / "Packages.gz").write_bytes(gzip.compress(scan, mtime=0))
    sums = []
    for f in (bindir / "Packages", bindir / "Packages.gz"):
        data = f.read_bytes()
        rel = f.relative_to(dist).as_posix()
        sums.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {rel}")
    release = (
        f"Origin: nomadctl-tests\nLabel: nomadctl-tests\nSuite: {codename}\n"
        f"Codename: {codename}\nDate: {formatdate(usegmt=True)}\nArchitectures: {arch}\n"
        "Components: main\nDescription: local copy of apt.releases.hashicorp.com for tests\n"
        "SHA256:\n" + "\n".join(sums) + "\n"
    )
    (dist / "Release").write_text(release)
    key.clearsign(dist / "Release", dist / "InRelease")
    key.sign_detached(dist / "Release", dist / "Release.gpg", armor=True)
    return repo
