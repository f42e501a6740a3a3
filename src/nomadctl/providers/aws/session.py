"""The AWS connection: region, credentials, boto3 clients with bounded retries, polling.

boto3 is imported here, inside functions, never at module level of anything `nomadctl --help`
loads. boto3 honours `AWS_ENDPOINT_URL` (tests point it at a local moto server), profiles,
and the standard environment variables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from nomadctl import validate
from nomadctl.errors import CloudError, UsageError
from nomadctl.validate import AWS_REGION_RE as REGION_RE

T = TypeVar("T")

DEFAULT_RETRY_MODE = "standard"  # exponential backoff with jitter, throttling-aware
DEFAULT_MAX_ATTEMPTS = 8  # first try included; bounded so a dead API fails in ~1 minute
USER_AGENT = "nomadctl"

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or run `aws configure`"
)
NO_REGION = (
    "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, "
    "or set a region in your AWS profile"
)


class Aws:
    """One region of one account, as the given profile (or the default chain) sees it."""

    def __init__(self, region: str | None = None, profile: str | None = None) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound

        try:
            self.session = boto3.Session(profile_name=profile or None)
        except ProfileNotFound as exc:
            name = profile or exc.kwargs.get("profile") or os.environ.get("AWS_PROFILE")
            source = "--profile" if profile else "AWS_PROFILE"
            raise CloudError(
                f"AWS profile {name!r} not found (named by {source}) in your AWS config or "
                "credentials file; check the name with `aws configure list-profiles`"
            ) from None
        resolved = region or env_region() or self.session.region_name
        if not resolved:
            raise CloudError(NO_REGION)
        if not validate.fits(REGION_RE, resolved):
            raise UsageError(f"malformed AWS region {resolved!r}: expected e.g. eu-west-1")
        self.region: str = resolved
        self.profile = profile
        # The user's own AWS_RETRY_MODE / AWS_MAX_ATTEMPTS (env or profile) win over ours.
        mode = _user_setting(self.session, "AWS_RETRY_MODE", "retry_mode")
        attempts = _user_setting(self.session, "AWS_MAX_ATTEMPTS", "max_attempts")
        try:
            max_attempts = max(1, int(attempts)) if attempts else DEFAULT_MAX_ATTEMPTS
        except ValueError:
            raise UsageError(
                f"AWS_MAX_ATTEMPTS / max_attempts {attempts!r} is not a number"
            ) from None
        if mode not in (None, "standard", "adaptive", "legacy"):
            raise UsageError(f"AWS_RETRY_MODE / retry_mode {mode!r}: use standard or adaptive")
        retries: dict[str, Any] = {
            "mode": mode or DEFAULT_RETRY_MODE,
            "total_max_attempts": max_attempts,
        }
        self.max_attempts: int = retries["total_max_attempts"]
        self.config = Config(
            region_name=self.region,
            retries=retries,  # type: ignore[arg-type]
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra=USER_AGENT,
        )
        self._clients: dict[str, Any] = {}

    def check_credentials(self) -> None:
        """Fail early, in one line, when no credentials can be found at all."""
        from botocore.exceptions import BotoCoreError

        try:
            creds = self.session.get_credentials()
        except BotoCoreError as exc:
            raise CloudError(f"cannot load AWS credentials: {exc}") from None
        if creds is None:
            raise CloudError(NO_CREDENTIALS)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self.config)
        return self._clients[service]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def iam(self) -> Any:
        return self.client("iam")

    @property
    def ssm(self) -> Any:
        return self.client("ssm")

    def service_of(self, operation: str) -> str:
        """`RunInstances` -> `ec2`: the IAM action prefix of an operation we called."""
        for name, client in self._clients.items():
            if operation in client.meta.service_model.operation_names:
                return name
        return "aws"

    def endpoint(self) -> str:
        return str(self.ec2.meta.endpoint_url)


def env_region() -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION (empty counts as unset).

    botocore itself reads only AWS_DEFAULT_REGION for a session's region (configprovider.py:
    'region': ('region', 'AWS_DEFAULT_REGION', ...)); where it does read both, AWS_REGION
    wins (configprovider.py resolve_auto_mode: os.environ.get('AWS_REGION',
    default_region)), as in the AWS CLI v2 and the other SDKs. Both beat the profile's."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = (os.environ.get(name) or "").strip()
        if value:
            return value
    return None


def _user_setting(session: Any, env_name: str, config_name: str) -> str | None:
    """A setting the user made in the environment or the AWS profile, else None."""
    from botocore.exceptions import BotoCoreError

    value = os.environ.get(env_name)
    if value:
        return value
    try:
        scoped = session._session.get_scoped_config()
    except BotoCoreError:
        return None
    found = scoped.get(config_name)
    return str(found) if found else None


def poll(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    first_delay: float = 0.5,
    factor: float = 1.6,
    max_delay: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
    progress_every: float = 10.0,
) -> T:
    """Call `check` until it returns something other than None, backing off; bounded.

    With `progress`, a line "waiting for <what> (<elapsed>s of <timeout>s)" once the wait has
    lasted a few seconds, then every `progress_every` seconds."""
    started = time.monotonic()
    deadline = started + timeout
    delay = first_delay
    shown_at = started - progress_every + min(3.0, progress_every)  # first line after ~3 s
    while True:
        result = check()
        if result is not None:
            return result
        now = time.monotonic()
        if progress is not None and now - shown_at >= progress_every:
            progress(f"waiting for {what} ({now - started:.0f}s of {timeout:.0f}s so far)")
            shown_at = now
        if time.monotonic() + delay > deadline:
            raise CloudError(
                f"timed out after {timeout:.0f}s waiting for {what}; "
                "re-run the same command to carry on"
            )
        sleep(delay)
        delay = min(delay * factor, max_delay)
