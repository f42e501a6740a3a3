"""The cluster's SSH key: made locally, only its public half goes to AWS.

Default: an ed25519 key at `<workspace>/ssh/id_ed25519` (0600, in a 0700 directory), made once
and kept. `--ssh-key PATH` uses the user's own key instead: PATH is either a private key (its
public half is read from `PATH.pub`, or derived from PATH when that is unencrypted) or a public
key `*.pub` (the private key is then expected next to it without `.pub`, or in ssh-agent).
Either way the public half is imported as the key pair `nomadctl-<cluster>`. The private key is
never sent anywhere, never logged and never put in an error message.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nomadctl.errors import CloudError, UsageError
from nomadctl.providers.aws.common import (
    TAG_CLUSTER,
    Resource,
    Run,
    Teardown,
    cluster_filter,
    key_pair_name,
    tag_dict,
    tag_spec,
    tags,
)
from nomadctl.providers.aws.errors import error_code
from nomadctl.workspace import Workspace

AWS_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")  # the only types EC2 imports


@dataclass(frozen=True)
class SshKey:
    public: str | None  # "ssh-ed25519 AAAA... comment"; None in a dry run before it exists
    private_path: Path | None  # None: the user's key lives in ssh-agent
    generated: bool  # made by nomadctl in the workspace

    @property
    def blob(self) -> str | None:
        return self.public.split()[1] if self.public else None


def workspace_key_path(ws: Workspace) -> Path:
    return ws.path / "ssh" / "id_ed25519"


# ---- the local key ---------------------------------------------------------------------------


def local_key(run: Run, ws: Workspace, ssh_key: Path | None) -> SshKey:
    """The key whose public half the cluster's key pair must hold."""
    if ssh_key is not None:
        key = user_key(ssh_key)
        run.found("ssh-key", str(ssh_key), None, "yours")
        return key
    path = workspace_key_path(ws)
    label = str(path.relative_to(ws.path))  # ssh/id_ed25519, in the cluster's workspace
    pub_path = path.with_name(path.name + ".pub")
    if path.exists():
        data = ws.read_bytes(path)
        if pub_path.exists():
            public = _public_line(ws.read_bytes(pub_path).decode(errors="replace"), pub_path)
        else:
            public = _derive_public(data, path, comment=key_pair_name(ws.cluster))
            if not run.dry_run:
                ws.write_public(pub_path, (public + "\n").encode())
        run.found("ssh-key", label, None, "ed25519, made by nomadctl")
        return SshKey(public, path, generated=True)
    if run.dry_run:
        run.would_create("ssh-key", label, "ed25519, made locally")
        return SshKey(None, path, generated=True)
    public = generate(ws, path)
    run.resources.append(Resource("ssh-key", label, None, "created", "ed25519, private key 0600"))
    return SshKey(public, path, generated=True)


def generate(ws: Workspace, path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {key_pair_name(ws.cluster)}"
    ws.write_secret(path, private)  # 0600 in a 0700 directory
    ws.write_public(path.with_name(path.name + ".pub"), (line + "\n").encode())
    return line


def user_key(path: Path) -> SshKey:
    path = path.expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--ssh-key {path}: cannot read it ({exc.strerror})") from None
    if data.lstrip().startswith((b"ssh-", b"ecdsa-", b"sk-")):
        public = _public_line(data.decode(errors="replace"), path)
        private = path.with_suffix("") if path.suffix == ".pub" else None
        return SshKey(public, private if private and private.exists() else None, False)
    pub_path = path.with_name(path.name + ".pub")
    if pub_path.exists():
        public = _public_line(pub_path.read_text(errors="replace"), pub_path)
    else:
        public = _derive_public(data, path, comment=path.name)
    return SshKey(public, path, generated=False)


def _public_line(text: str, path: Path) -> str:
    fields = text.strip().split()
    if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise UsageError(f"{path} is not an OpenSSH public key")
    if fields[0] not in AWS_KEY_TYPES:
        raise UsageError(f"{path} is a {fields[0]} key; AWS accepts only ed25519 and RSA keys")
    try:
        base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise UsageError(f"{path} is not an OpenSSH public key") from None
    return " ".join(fields[:3])


def _derive_public(private: bytes, path: Path, comment: str) -> str:
    from cryptography.hazmat.primitives import serialization

    try:
        if b"OPENSSH PRIVATE KEY" in private:
            key: Any = serialization.load_ssh_private_key(private, password=None)
        else:
            key = serialization.load_pem_private_key(private, password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    except (ValueError, TypeError, AttributeError):  # never echo the key's bytes
        raise UsageError(
            f"cannot read the public half of {path} (encrypted or not an SSH private key); "
            f"write it with `ssh-keygen -y -f {path} > {path}.pub`"
        ) from None
    return _public_line(f"{public.decode()} {comment}", path)


# ---- the key pair in AWS ---------------------------------------------------------------------


def fingerprints(public: str) -> set[str]:
    """How AWS may show an imported key's fingerprint (SHA-256 base64, or MD5 hex pairs)."""
    blob = base64.b64decode(public.split()[1])
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return {sha, sha.rstrip("="), ":".join(md5[i : i + 2] for i in range(0, 32, 2))}


def _matches(pair: dict[str, Any], key: SshKey) -> bool:
    if not key.public:
        return False
    if pair.get("PublicKey"):
        fields = str(pair["PublicKey"]).split()
        return len(fields) >= 2 and fields[1] == key.blob
    shown = str(pair.get("KeyFingerprint", "")).removeprefix("SHA256:")
    return shown in fingerprints(key.public)


def describe_key_pair(run: Run, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        pairs = run.aws.ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)
    except ClientError as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return None
        raise
    return pairs["KeyPairs"][0] if pairs["KeyPairs"] else None


def ensure_key_pair(run: Run, key: SshKey, instances_exist: bool, key_path: str) -> str:
    ec2 = run.aws.ec2
    name = key_pair_name(run.cluster)
    pair = describe_key_pair(run, name)
    if pair is not None and tag_dict(pair.get("Tags")).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"key pair {name} in {run.aws.region} was not made by nomadctl for cluster "
            f"{run.cluster!r}; choose another --cluster name or delete that key pair"
        )
    if pair is not None:
        run.record({"key_name": name})
        if key.public is None or _matches(pair, key):
            run.found("key-pair", name, pair.get("KeyPairId"), pair.get("KeyType", ""))
            return name
        if instances_exist:
            raise CloudError(
                f"key pair {name} holds another public key than {key_path}, and the cluster's "
                "instances accept only that one: restore the key, pass the right --ssh-key, "
                "or run `nomadctl down` first"
            )
        if not run.dry_run:
            ec2.delete_key_pair(KeyName=name)
            _import(run, name, key)
        run.changed("key-pair", name, pair.get("KeyPairId"), f"now holds {key_path}.pub")
        return name
    if run.dry_run or key.public is None:
        run.would_create("key-pair", name, f"public half of {key_path}")
        return name
    pair_id = _import(run, name, key)
    run.created("key-pair", name, pair_id, f"public half of {key_path}")
    return name


def _import(run: Run, name: str, key: SshKey) -> str:
    """Import the public key. A retry whose first attempt went through but lost its answer
    (botocore retries a reset connection) meets InvalidKeyPair.Duplicate: the pair is ours
    when it carries the cluster's tag and this key's fingerprint, and `up` carries on."""
    from botocore.exceptions import ClientError

    assert key.public is not None
    try:
        result = run.aws.ec2.import_key_pair(
            KeyName=name,
            PublicKeyMaterial=key.public.encode(),
            TagSpecifications=[tag_spec("key-pair", tags(run.cluster, name))],
        )
    except ClientError as exc:
        if error_code(exc) != "InvalidKeyPair.Duplicate":
            raise
        pair = describe_key_pair(run, name)
        if (
            pair is None
            or tag_dict(pair.get("Tags")).get(TAG_CLUSTER) != run.cluster
            or not _matches(pair, key)
        ):
            raise CloudError(
                f"key pair {name} in {run.aws.region} appeared while nomadctl imported it, "
                f"and it is not this cluster's key ({run.cluster!r}); delete it or choose "
                "another --cluster name"
            ) from None
        result = pair
    run.record({"key_name": name})
    return str(result.get("KeyPairId") or name)


def destroy_key_pairs(down: Teardown) -> None:
    ec2 = down.aws.ec2
    pairs = ec2.describe_key_pairs(Filters=cluster_filter(down.cluster))["KeyPairs"]
    for pair in pairs:
        name = pair["KeyName"]
        down.delete(
            "key-pair",
            name,
            pair.get("KeyPairId") or name,
            lambda name=name: ec2.delete_key_pair(KeyName=name),
        )
