"""Local release and apt mirrors for nomadctl's tests, signed with real gpg.

Real parts: the files are laid out as HashiCorp publishes them, checksummed with SHA-256 and
signed by gpg (a throwaway ed25519 key made per test run in a temp GNUPGHOME, never the
machine's keyring), and served by a real threaded HTTP server. Testbed hosts reach it on the
testbed bridge address (``tb.bridge_address``); local tests on 127.0.0.1.

API::

    from tests.mirror import build_release_mirror, serve_dir, make_key

    mirror = build_release_mirror(root: Path, gpg_home: Path, versions: {"1.9.0": b"...",
                                  "1.9.0+ent": b"..."}, arches=("amd64", "arm64"), key=None)
    mirror.root, mirror.key_armored (bytes), mirror.fingerprint (40 hex, upper)
    mirror.path(version, "zip" | "sums" | "sig", arch="amd64") -> Path
    mirror.tamper(version, part="zip", arch="amd64")   # flip one byte of that file
    mirror.resign(version)                               # re-sign sums after editing them
    with mirror.serve(host="127.0.0.1", port=0) as base_url:   # "http://127.0.0.1:43121"
        ...  # GET {base_url}/nomad/<v>/nomad_<v>_linux_amd64.zip
    mirror.key.close()                                   # stop the gpg-agent of gpg_home

    serve_dir(root, host, port=0)   # the same server for any directory (the apt repository)

    from tests.mirror.apt import build_apt_repo
    repo = build_apt_repo(root, key, {("nomad", "1.11.1-1"): b"..."}, codename="bookworm")
    repo.root, repo.fingerprint, repo.deb(package, version) -> Path; <root>/gpg is the key

Keep ``gpg_home`` short (e.g. ``tempfile.mkdtemp(prefix="g", dir="/tmp")``): gpg-agent's
socket may live in it. Layout: see ``tests/mirror/release.py``; apt: ``tests/mirror/apt.py``.
"""

from tests.mirror.gpgkey import GpgError, TestKey, gpg, make_key
from tests.mirror.release import ReleaseMirror, build_release_mirror, serve_dir

__all__ = [
    "GpgError",
    "ReleaseMirror",
    "TestKey",
    "build_release_mirror",
    "gpg",
    "make_key",
    "serve_dir",
]
