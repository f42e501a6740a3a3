"""nomadctl's label in a snapshot's gzip header (RFC 1952 FCOMMENT) leaves the archive as it
was, whatever optional header fields the gzip stream already has; and `check` reads the
archive the stand-in writes as Nomad's helper/snapshot writes it."""

from __future__ import annotations

import gzip
import io
import struct
import time
import zlib

import pytest

from nomadctl.cluster import snapshot
from tests.standin.agent.snapshot import read_archive, write_archive

META = {"Version": 1, "ID": "2-7-1765000000000", "Index": 7, "Term": 2, "Peers": None,
        "Configuration": {"Servers": [{"Suffrage": 0, "ID": "a", "Address": "10.0.0.1:4647"}]},
        "ConfigurationIndex": 7, "Size": 5}  # fmt: skip


def _gzip_with(flags: int, extra: bytes = b"", name: bytes = b"", comment: bytes = b"") -> bytes:
    """A gzip member of an archive, with the given optional header fields (as other tools
    write them)."""
    raw = gzip.decompress(write_archive(META, b"state", time.time()))
    head = b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 0) + b"\x00\xff"
    if flags & snapshot.FEXTRA:
        head += struct.pack("<H", len(extra)) + extra
    if flags & snapshot.FNAME:
        head += name + b"\0"
    if flags & snapshot.FCOMMENT:
        head += comment + b"\0"
    body = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = body.compress(raw) + body.flush()
    return head + data + struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


@pytest.mark.parametrize(
    "fields",
    [
        {"flags": 0},
        {"flags": snapshot.FNAME, "name": b"state.tar"},
        {"flags": snapshot.FEXTRA | snapshot.FNAME, "extra": b"AB\x02\x00hi", "name": b"x"},
        {"flags": snapshot.FCOMMENT, "comment": b"someone else's"},
    ],
)
def test_label_keeps_the_archive(fields: dict) -> None:
    blob = _gzip_with(**fields)
    label = {"cluster": "prod", "cluster_id": "1", "automatic": False}
    labelled = snapshot.with_label(blob, label)
    assert gzip.decompress(labelled) == gzip.decompress(blob)
    assert snapshot.label_of(labelled) == label
    again = snapshot.with_label(labelled, {**label, "automatic": True})
    assert snapshot.label_of(again)["automatic"] is True
    assert gzip.decompress(again) == gzip.decompress(blob)
    info = snapshot.check(again)
    assert (info.index, info.term, info.servers) == (7, 2, ["10.0.0.1:4647"])
    assert read_archive(again)[1] == b"state"  # Nomad's reader (the stand-in's) takes it


def test_trailing_bytes_after_the_tar_are_refused() -> None:
    raw = gzip.decompress(write_archive(META, b"state", time.time()))
    with pytest.raises(snapshot.SnapshotFileError, match="unread bytes"):
        snapshot.check(gzip.compress(raw + b"extra" * 200))
    with pytest.raises(snapshot.SnapshotFileError, match="missing"):
        buf = io.BytesIO()
        import tarfile

        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("meta.json")
            tar.addfile(info, io.BytesIO(b""))
        snapshot.check(gzip.compress(buf.getvalue()[: tar.offset]))  # ended as Go ends it
