"""A local copy of releases.hashicorp.com's layout, signed with a throwaway key.

Layout (as HashiCorp publishes it; enterprise builds are versions ending in ``+ent``)::

    <root>/nomad/<v>/nomad_<v>_linux_<arch>.zip     # holds one file, ``nomad`` (0755)
    <root>/nomad/<v>/nomad_<v>_SHA256SUMS           # "<sha256>  <file name>" per zip
    <root>/nomad/<v>/nomad_<v>_SHA256SUMS.sig       # detached binary signature of the sums
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.mirror.gpgkey import TestKey, make_key

Part = Literal["zip", "sums", "sig"]


@dataclass
class ReleaseMirror:
    root: Path
    key: TestKey
    versions: tuple[str, ...]
    arches: tuple[str, ...]

    @property
    def key_armored(self) -> bytes:
        return self.key.armored

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def path(self, version: str, part: Part = "zip", arch: str = "amd64") -> Path:
        d = self.root / "nomad" / version
        return {
            "zip": d / f"nomad_{version}_linux_{arch}.zip",
            "sums": d / f"nomad_{version}_SHA256SUMS",
            "sig": d / f"nomad_{version}_SHA256SUMS.sig",
        }[part]

    def tamper(self, version: str, part: Part = "zip", arch: str = "amd64") -> None:
        """Flip a byte of one published file (the others stay as signed)."""
        p = self.path(version, part, arch)
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))

    def resign(self, version: str) -> None:
        """Sign the (possibly edited) sums file again, e.g. to make a valid sig over bad sums."""
        self.key.sign_detached(self.path(version, "sums"), self.path(version, "sig"))

    def serve(self, host: str = "127.0.0.1", port: int = 0):
        return serve_dir(self.root, host, port)


def build_release_mirror(
    root: Path,
    gpg_home: Path,
    versions: Mapping[str, bytes],
    arches: Sequence[str] = ("amd64", "arm64"),
    key: TestKey | None = None,
) -> ReleaseMirror:
    """Publish `versions` (version -> bytes of the `nomad` executable) under `root`, signed
    with a fresh key in `gpg_home` (or `key`)."""
    key = key or make_key(gpg_home)
    for version, binary in versions.items():
        d = root / "nomad" / version
        d.mkdir(parents=True, exist_ok=True)
        sums = []
        for arch in arches:
            name = f"nomad_{version}_linux_{arch}.zip"
            with zipfile.ZipFile(d / name, "w", zipfile.ZIP_DEFLATED) as z:
                info = zipfile.ZipInfo("nomad", date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = (0o100755 << 16) | 0
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, binary)
            sums.append(f"{hashlib.sha256((d / name).read_bytes()).hexdigest()}  {name}\n")
        (d / f"nomad_{version}_SHA256SUMS").write_text("".join(sums))
        key.sign_detached(d / f"nomad_{version}_SHA256SUMS", d / f"nomad_{version}_SHA256SUMS.sig")
    return ReleaseMirror(root, key, tuple(versions), tuple(arches))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_dir(root: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `root` over plain HTTP on host:port (0: any free port); yields the base URL
    (``http://host:port``, no trailing slash). The server stops when the block ends."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="mirror-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
