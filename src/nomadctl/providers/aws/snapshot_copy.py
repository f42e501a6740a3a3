"""An off-machine copy of a snapshot in S3 (`--snapshot-to s3://bucket/prefix`, issue 24).

The object is written with server-side encryption under KMS (`ServerSideEncryption=aws:kms`:
the bucket's KMS key, or the account's `aws/s3` key when it names none); a snapshot holds
every ACL token's secret, so it is never stored unencrypted. The answer's
`ServerSideEncryption` is checked to say `aws:kms`. Credentials and region are the usual ones
(`--profile`, `--region`, the environment, the AWS config).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nomadctl.errors import CloudError, UsageError
from nomadctl.providers.aws.errors import translated
from nomadctl.providers.aws.session import Aws

# S3 bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, '.', '-',
# beginning and ending with a letter or digit.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KEY_PART_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]{0,900}$")  # S3's "safe characters"


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str  # "" or "a/b" (no slash at either end)
    region: str | None = None
    profile: str | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"


def parse(url: str, region: str | None = None, profile: str | None = None) -> S3Target:
    """`s3://bucket[/prefix]`, checked: UsageError naming the flag otherwise."""
    if not url.startswith("s3://"):
        raise UsageError(f"--snapshot-to {url!r}: expected s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    if not BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise UsageError(f"--snapshot-to {url!r}: {bucket!r} is not an S3 bucket name")
    prefix = prefix.strip("/")
    if not KEY_PART_RE.fullmatch(prefix) or "//" in prefix:
        raise UsageError(f"--snapshot-to {url!r}: use letters, digits and !_.*'()/- in the prefix")
    return S3Target(bucket, prefix, region, profile)


def copy(path: Path, target: S3Target) -> str:
    """Upload `path` to the target, encrypted with KMS; its s3:// URL. CloudError otherwise."""
    aws = Aws(target.region, target.profile)
    s3 = aws.client("s3")
    key = target.key(path.name)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise CloudError(f"cannot read {path} to copy it to S3: {exc.strerror}") from None
    with translated(aws):
        answer = s3.put_object(
            Bucket=target.bucket, Key=key, Body=body, ServerSideEncryption="aws:kms"
        )
    if answer.get("ServerSideEncryption") != "aws:kms":
        raise CloudError(
            f"S3 stored {target.url(path.name)} without KMS encryption "
            f"({answer.get('ServerSideEncryption') or 'none'}); check the bucket's policy"
        )
    return target.url(path.name)
