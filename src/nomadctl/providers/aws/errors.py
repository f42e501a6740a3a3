"""AWS failures as one-line `CloudError`s the user can act on.

`translated(aws)` wraps a block of boto3 calls; botocore's exceptions never reach the user.
Messages name the API action (`ec2:RunInstances`) so a missing permission can be granted.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nomadctl.errors import CloudError, NomadctlError
from nomadctl.providers.aws.session import NO_CREDENTIALS, NO_REGION

if TYPE_CHECKING:
    from nomadctl.providers.aws.session import Aws

PERMISSION_CODES = {
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedAccess",
}
AUTH_CODES = {
    "AuthFailure",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "OptInRequired",
}
THROTTLE_CODES = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "ThrottledException",
    "SlowDown",
}
CAPACITY_CODES = {"InsufficientInstanceCapacity", "InsufficientCapacity", "Unsupported"}
QUOTA_CODES = {
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "VpcLimitExceeded",
    "InternetGatewayLimitExceeded",
    "SecurityGroupLimitExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "LimitExceeded",
    "AddressLimitExceeded",
    "MaxSpotInstanceCountExceeded",
}
_ENCODED = re.compile(r"\s*Encoded authorization failure message:.*$", re.S)


def error_code(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    message = str(response.get("Error", {}).get("Message", "") or "")
    return _ENCODED.sub("", message).strip().rstrip(".")


def from_client_error(exc: Any, aws: Aws | None = None) -> CloudError:
    """A botocore ClientError as a one-line CloudError naming the action."""
    code = error_code(exc)
    op = str(getattr(exc, "operation_name", "") or "?")
    action = f"{aws.service_of(op) if aws else 'aws'}:{op}"
    message = error_message(exc)
    if code in PERMISSION_CODES:
        hint = (
            " (launching with an instance profile also needs iam:PassRole)"
            if op in ("RunInstances",)
            else ""
        )
        return CloudError(
            f"missing AWS permission: these credentials may not call {action}{hint}; "
            "grant it or use another --profile"
        )
    if code in AUTH_CODES:
        return CloudError(f"AWS rejected the credentials on {action} ({code}): {message}")
    if code in THROTTLE_CODES:
        attempts = aws.max_attempts if aws else "several"
        return CloudError(
            f"AWS kept throttling {action} ({code}) after {attempts} attempts; "
            "wait a minute and re-run (nomadctl carries on where it stopped)"
        )
    if code in CAPACITY_CODES:
        return CloudError(
            f"AWS has no capacity for this request ({code} on {action}: {message}); "
            "try another instance type, or retry later"
        )
    if code in QUOTA_CODES:
        return CloudError(f"AWS quota reached on {action} ({code}): {message}")
    if code.startswith("InvalidAMIID"):
        return CloudError(f"invalid AMI ({code}): {message}; pass an AMI of this region with --ami")
    return CloudError(f"AWS {action} failed ({code or 'error'}): {message or exc}")


def from_botocore_error(exc: Exception, aws: Aws | None = None) -> CloudError:
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        detail = "" if isinstance(exc, bx.NoCredentialsError) else f" ({exc})"
        return CloudError(NO_CREDENTIALS + detail)
    if isinstance(exc, bx.NoRegionError):
        return CloudError(NO_REGION)
    if isinstance(exc, bx.ProfileNotFound):
        return CloudError(f"AWS profile not found: {exc}")
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        where = getattr(exc, "kwargs", {}).get("endpoint_url") or (aws.endpoint() if aws else "")
        return CloudError(
            f"cannot reach AWS at {where or 'its endpoint'} ({type(exc).__name__}) "
            f"after {aws.max_attempts if aws else 'several'} attempts; check the network "
            "and re-run (nomadctl carries on where it stopped)"
        )
    return CloudError(f"AWS client error: {exc}")


@contextlib.contextmanager
def translated(aws: Aws | None = None) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into CloudError."""
    from botocore import exceptions as bx

    try:
        yield
    except NomadctlError:
        raise
    except bx.ClientError as exc:
        raise from_client_error(exc, aws) from None
    except bx.BotoCoreError as exc:
        raise from_botocore_error(exc, aws) from None
