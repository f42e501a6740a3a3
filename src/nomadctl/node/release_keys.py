"""HashiCorp's signing keys, pinned by fingerprint.

Release downloads (zip + ``SHA256SUMS``) are trusted only when ``SHA256SUMS.sig`` is a valid
signature by the pinned release key (or one of its subkeys); the apt repository only when
its ``InRelease`` is signed by the pinned apt key. A mirror may name its own key instead
(``--releases-key FILE`` plus that key's fingerprint): the fingerprint is then the one read from
that file and shown in the plan.

Fingerprints as HashiCorp publishes them (https://www.hashicorp.com/trust/security and
https://apt.releases.hashicorp.com/gpg).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

RELEASE_KEY_FINGERPRINT = "C874011F0AB405110D02105534365D9472D7468F"
APT_KEY_FINGERPRINT = "798AEC654E5C15428C8E42EEAA16FCBCA621E701"


@dataclass(frozen=True)
class SigningKey:
    """An armored OpenPGP public key and the primary fingerprint it must carry."""

    armored: bytes
    fingerprint: str


def hashicorp_release_key() -> SigningKey:
    """HashiCorp's release key as shipped with nomadctl (templates/hashicorp.asc)."""
    data = resources.files("nomadctl.node.templates").joinpath("hashicorp.asc").read_bytes()
    return SigningKey(armored=data, fingerprint=RELEASE_KEY_FINGERPRINT)


def key_from_file(path: Path, fingerprint: str) -> SigningKey:
    """A mirror's own key: the file's armored key, pinned to the fingerprint the user named."""
    normalized = fingerprint.replace(" ", "").upper()
    if len(normalized) != 40 or any(c not in "0123456789ABCDEF" for c in normalized):
        raise ValueError(f"not an OpenPGP v4 fingerprint (40 hex digits): {fingerprint!r}")
    return SigningKey(armored=Path(path).read_bytes(), fingerprint=normalized)
