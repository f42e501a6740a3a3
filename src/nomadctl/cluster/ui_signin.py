"""Signing the browser in for `nomadctl ui`: one-time tokens, and what happens when they fail.

Nomad's one-time token (nomad/acl_endpoint.go UpsertOneTimeToken, v1.10.5) lasts a fixed
10 minutes (`time.Now().Add(10 * time.Minute)`, no setting) and is exchanged once; the
exchange of one used, expired or unknown answers 403 "Permission denied", and the UI then
shows its error page (ui/app/routes/application.js). The browser keeps the ACL token it got
(localStorage) until the cluster stops accepting it: deleted ("ACL token not found", 403)
or past its ExpirationTime ("ACL token expired").

The proxy sees both in passing and recovers where it safely can, through `notify`:
- the exchange of the sign-in secret it handed out last is refused (opened after 10
  minutes, or a second time): a new one-time token is asked for with the stored token and
  its address handed to `notify` (the terminal shows it; never to the browser, or anyone
  who reaches the loopback port could sign in with the user's token);
- a token that signed in through this proxy is refused by the cluster: the same, with the
  token nomadctl holds now, once per held token; if the cluster refuses that too, `notify`
  gets the reason, and after `nomadctl acl-bootstrap` saves a new one the next refused
  request brings a new address.
Secrets are kept only as long as needed, tokens only as SHA-256 digests.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from nomadctl.cluster.api import PermissionDenied
from nomadctl.errors import ClusterApiError, NomadctlError, scrub

SIGN_IN_PATH = "/ui/settings/tokens"  # the UI's token page: it shows who is signed in
EXCHANGE_PATH = "/v1/acl/token/onetime/exchange"
TOKEN_GONE = ("ACL token not found", "ACL token expired")  # nomad/structs/errors.go
BODY_LIMIT = 64 * 1024  # the exchange's answer and refusals are small


@dataclass(frozen=True)
class OneTimeToken:
    secret: str = field(repr=False)
    accessor: str
    expires_at: str


@dataclass(frozen=True)
class SignInEvent:
    """A sign-in that failed, and what was done: `reason` is "expired", "used" or "refused"
    (the sign-in address) or "token-gone" (`detail` holds Nomad's words); `url` a new
    sign-in address, or None with `error` saying why the cluster gave none."""

    reason: str
    detail: str = ""
    url: str | None = field(default=None, repr=False)
    error: str | None = None


class _Connects(Protocol):
    def connect(self) -> http.client.HTTPConnection: ...


def one_time_token(upstream: _Connects, token: str) -> OneTimeToken:
    """A one-time token for `token` (Nomad's api/acl.go UpsertOneTimeToken: PUT, empty body)."""
    conn = upstream.connect()
    try:
        conn.request("PUT", "/v1/acl/token/onetime", body=b"", headers={"X-Nomad-Token": token})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ClusterApiError(
            scrub(f"asking the cluster for a one-time token failed: {exc}", token)
        ) from None
    finally:
        conn.close()
    text = " ".join(body.decode(errors="replace").split())[:200]
    if resp.status == 403:
        raise PermissionDenied(
            f"the cluster refused the token for a one-time token ({text or '403'}); "
            "the stored token may have been deleted: see `nomadctl acl-bootstrap`"
        )
    if resp.status != 200:
        raise ClusterApiError(
            scrub(f"the cluster answered {resp.status} to a one-time token request: {text}", token)
        )
    try:
        ott = json.loads(body)["OneTimeToken"]
        return OneTimeToken(ott["OneTimeSecretID"], ott["AccessorID"], str(ott["ExpiresAt"]))
    except (ValueError, KeyError, TypeError):
        raise ClusterApiError("the cluster's one-time token answer is not Nomad's") from None


def sign_in_url(base: str, ott: OneTimeToken | None) -> str:
    """The address the browser opens: the UI's token page, with the one-time secret."""
    query = f"?{urlencode({'ott': ott.secret})}" if ott else ""
    return f"{base}{SIGN_IN_PATH}{query}"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _expired(ott: OneTimeToken) -> bool:
    try:
        when = datetime.datetime.fromisoformat(ott.expires_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when < datetime.datetime.now(datetime.UTC)


class SignIn:
    """The proxy's sign-in state. `stored` reads the token nomadctl holds for the cluster
    now (None: none), so a token made meanwhile (`nomadctl acl-bootstrap` in another
    terminal) is used for the next sign-in; `mint` asks the cluster for a one-time token
    with it; `notify` is told of each recovery, or why there is none."""

    def __init__(
        self,
        base_url: str,
        stored: Callable[[], str | None] = lambda: None,
        mint: Callable[[str], OneTimeToken] = lambda _t: OneTimeToken("", "", ""),
        notify: Callable[[SignInEvent], None] = lambda _e: None,
    ) -> None:
        self.base_url, self._stored, self._mint, self._notify = base_url, stored, mint, notify
        self._last: OneTimeToken | None = None  # the secret handed out last
        self._last_spent = False
        # digest of a token signed in here -> digest of the stored token a renewal was
        # tried with after the cluster refused it (None: not refused yet)
        self._signed_in: dict[bytes, bytes | None] = {}
        self._lock = threading.Lock()

    def first(self) -> str:
        """The first sign-in address (with a one-time secret when a token is stored)."""
        token = self._stored()
        ott = self._mint(token) if token else None
        with self._lock:
            self._last, self._last_spent = ott, False
        return sign_in_url(self.base_url, ott)

    def exchanged(self, request: bytes, status: int, answer: bytes) -> None:
        """An exchange went through the proxy: note who signed in, or recover a refused one."""
        try:
            secret = json.loads(request).get("OneTimeSecretID")
        except (ValueError, AttributeError):
            return
        with self._lock:
            last = self._last
            ours = (
                last is not None
                and isinstance(secret, str)
                and hmac.compare_digest(secret.encode(), last.secret.encode())
            )
            if status == 200:
                try:
                    token = json.loads(answer)["Token"]["SecretID"]
                except (ValueError, KeyError, TypeError):
                    return
                self._signed_in[_digest(str(token))] = None
                if ours:
                    self._last_spent = True
                return
            if status != 403 or not ours or last is None:
                return
            reason = "expired" if _expired(last) else "used" if self._last_spent else "refused"
            self._last = None  # recovered once: a new one is handed out below
        self._renew(reason, "", *self._held())

    def answered(self, token: str, status: int, answer: bytes) -> None:
        """A refusal of a request that carried `token`: a token that signed in here and is
        gone from the cluster means signing in again, once per stored token."""
        text = " ".join(answer.decode(errors="replace").split())
        gone = next((g for g in TOKEN_GONE if text.endswith(g)), None)
        if status < 400 or gone is None or not token:
            return
        stored, unreadable = self._held()
        with self._lock:
            key, tried = _digest(token), _digest(stored or unreadable or "")
            if key not in self._signed_in or self._signed_in[key] == tried:
                return  # not signed in here, or tried with this stored token already
            self._signed_in[key] = tried
        self._renew("token-gone", gone, stored, unreadable)

    def _held(self) -> tuple[str | None, str | None]:
        """The stored token, or why it cannot be read."""
        try:
            return self._stored(), None
        except NomadctlError as exc:
            return None, exc.message

    def _renew(self, reason: str, detail: str, token: str | None, unreadable: str | None) -> None:
        if not token:
            error = unreadable or "nomadctl holds no token for this cluster"
            self._notify(SignInEvent(reason, detail, None, error))
            return
        try:
            ott = self._mint(token)
        except NomadctlError as exc:
            self._notify(SignInEvent(reason, detail, None, exc.message))
            return
        with self._lock:
            self._last, self._last_spent = ott, False
        self._notify(SignInEvent(reason, detail, sign_in_url(self.base_url, ott)))
