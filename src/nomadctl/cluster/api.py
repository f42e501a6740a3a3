"""The Nomad HTTP API through python-nomad, always over verified (mutual) TLS.

Where to connect comes from the workspace (the cluster's servers, the CA, the cli certificate,
the stored token) or from the Nomad CLI's own environment variables (nomad-facts section 7).
python-nomad's default of not verifying certificates never survives here: `verify` is the CA
file, or True (the system store) when the user gave no CA for an https address.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nomadctl import validate
from nomadctl.connfail import Reaching, failure_kind, nothing_sent, unreachable_sentence
from nomadctl.errors import Cancelled, ClusterApiError, scrub
from nomadctl.validate import api_address

T = TypeVar("T")
RESET_INDEX_RE = re.compile(r"reset index: (\d+)")
LEADER_POLL_FIRST = 0.1  # seconds between leader polls at first; x1.5 each time after ...
LEADER_POLL_FAST_FOR = 5.0  # ... this many seconds of waiting (a leader usually comes sooner)
LEADER_POLL_MAX = 1.0  # longest gap between two leader polls
LEADER_PROGRESS_EVERY = 10.0  # seconds between two identical "waiting for a leader" lines


class PermissionDenied(ClusterApiError):
    exit_code = 8


class AclAlreadyBootstrapped(ClusterApiError):
    def __init__(self, message: str, reset_index: int | None) -> None:
        super().__init__(message)
        self.reset_index = reset_index


class NoLeader(ClusterApiError):
    pass


class Unreachable(ClusterApiError):
    """No address answered. `kinds`: how they failed (connfail.failure_kind); `unsent`: every
    one failed before the request could be sent, so it reached no server."""

    def __init__(self, message: str, kinds: set[str], unsent: bool) -> None:
        super().__init__(message)
        self.kinds, self.unsent = kinds, unsent


@dataclass(frozen=True)
class ApiTarget:
    """How to reach the cluster's HTTP API."""

    addresses: Sequence[str]  # base URLs, tried in turn: "https://198.18.1.4:4646"
    ca_file: str | None = None
    client_cert: tuple[str, str] | None = None
    server_name: str | None = None  # TLS name to check instead of the URL's host
    token: str | None = None
    region: str | None = None
    timeout: float = 5.0
    source: str = "workspace"

    def describe(self) -> str:
        return ", ".join(self.addresses)


# The Nomad CLI's variables that say where to connect and as whom (nomad-facts section 7).
ENV_VARS = (
    "NOMAD_ADDR",
    "NOMAD_TOKEN",
    "NOMAD_CACERT",
    "NOMAD_CLIENT_CERT",
    "NOMAD_CLIENT_KEY",
    "NOMAD_TLS_SERVER_NAME",
    "NOMAD_REGION",
)


def env_token(env: Mapping[str, str]) -> str | None:
    """NOMAD_TOKEN, stripped (a pasted CR or newline) and checked to be a UUID, or None."""

    raw = env.get("NOMAD_TOKEN") or ""
    return validate.token(raw, "NOMAD_TOKEN") if raw.strip() else None


def target_from_env(env: Mapping[str, str], timeout: float = 5.0) -> ApiTarget | None:
    """The Nomad CLI's variables, when NOMAD_ADDR is set; its token is NOMAD_TOKEN's only."""
    addr = (env.get("NOMAD_ADDR") or "").strip()
    if not addr:
        return None

    cert, key = env.get("NOMAD_CLIENT_CERT"), env.get("NOMAD_CLIENT_KEY")
    return ApiTarget(
        addresses=[api_address(a) for a in addr.split(",") if a.strip()],
        ca_file=(env.get("NOMAD_CACERT") or "").strip() or None,
        client_cert=(cert.strip(), key.strip()) if cert and key else None,
        server_name=(env.get("NOMAD_TLS_SERVER_NAME") or "").strip() or None,
        token=env_token(env),
        region=(env.get("NOMAD_REGION") or "").strip() or None,
        timeout=timeout,
        source="environment",
    )


def warm_up() -> None:
    """Import python-nomad and requests in a thread, now rather than at the first API call.

    `up` starts this before its SSH work: the imports (~0.3 CPU-s) then run while that work
    waits on the network, not after it on the way to the leader, where on a busy 24-host run
    they had cost 1.4 s (docs/benchmarks.md). An import error is left for the real import to
    report. Not a daemon thread, so an early exit never cuts an import short."""

    def load() -> None:
        with contextlib.suppress(Exception):
            import nomad.api.exceptions  # noqa: F401
            import requests.adapters  # noqa: F401

    threading.Thread(target=load, name="nomadctl-warm-up").start()


def _session(server_name: str | None):
    """A requests session that checks `server_name` in the certificate, whatever the URL."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False  # no proxies from the environment for cluster traffic
    if server_name:

        class ServerNameAdapter(HTTPAdapter):
            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                kwargs["assert_hostname"] = server_name
                kwargs["server_hostname"] = server_name
                super().init_poolmanager(*args, **kwargs)

        session.mount("https://", ServerNameAdapter())
    return session


def pin_requesters(client: Any, target: ApiTarget, verify: str | bool) -> None:
    """Every endpoint object under `client`, at any depth (`client.status.leader` is two
    down), carries the target's token, region and certificates and no namespace.

    python-nomad fills anything left empty from NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION
    and NOMAD_CLIENT_CERT/KEY of the environment when the client is made, and copies those
    values into each endpoint (and each endpoint's own children). The target already
    decided; nothing in the environment may add to or change what a request carries."""
    seen: set[int] = set()
    stack = [client]
    while stack:
        part = stack.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        if hasattr(part, "token") and hasattr(part, "cert"):
            part.token = target.token
            part.region = target.region
            part.cert = target.client_cert or ()
            part.verify = verify
            if "namespace" in vars(part):  # the client's own is name-mangled, below
                part.namespace = None
        if hasattr(part, "_Nomad__namespace"):
            part._Nomad__namespace = None
        if isinstance(getattr(part, "requester_settings", None), dict):
            part.requester_settings.update(
                token=target.token,
                region=target.region,
                cert=target.client_cert or (),
                verify=verify,
                namespace=None,
            )
        for value in vars(part).values():
            if type(value).__module__.split(".")[0] == "nomad":
                stack.append(value)


@dataclass
class Api:
    """A client over one or more server addresses; a dead server is skipped for the next."""

    target: ApiTarget
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, address: str):
        if address not in self._clients:
            import nomad

            secure = address.startswith("https://")
            verify: str | bool = (self.target.ca_file or True) if secure else True
            client = nomad.Nomad(
                address=address,
                secure=secure,
                token=self.target.token,
                region=self.target.region,
                timeout=self.target.timeout,  # type: ignore[arg-type]
                verify=verify,  # type: ignore[arg-type]
                cert=self.target.client_cert or (),
                session=_session(self.target.server_name),
            )
            pin_requesters(client, self.target, verify)
            self._clients[address] = client
        return self._clients[address]

    def call(self, fn: Callable[[Any], T], what: str) -> T:
        """Run `fn(client)` against each address until one answers.

        Every message is scrubbed of the token: requests, urllib3 and python-nomad put
        header values (and so the token) into some of their exceptions."""
        try:
            return self._call(fn, what)
        except ClusterApiError as exc:
            exc.message = scrub(exc.message, self.target.token)
            exc.args = (exc.message,)
            raise

    def _call(self, fn: Callable[[Any], T], what: str) -> T:
        import nomad.api.exceptions as nx
        import requests

        failures: list[tuple[str, tuple[str, str]]] = []
        unsent = True  # every failure came before the request was sent
        no_leader: list[str] = []  # a server that has not heard from the leader yet
        for address in self.target.addresses:
            try:
                return fn(self.client(address))
            except nx.URLNotAuthorizedNomadException as exc:
                body = _body(exc)
                raise PermissionDenied(
                    f"{what}: permission denied by {address} ({body or '403'}); "
                    "use a token with the right policy (`nomadctl env --management` exports the "
                    "management token)"
                ) from None
            except nx.BadRequestNomadException as exc:
                raise _bad_request(what, _body(exc)) from None
            except nx.BaseNomadException as exc:
                resp = exc.nomad_resp
                if isinstance(resp, requests.Response):
                    body = _body(exc)
                    if resp.status_code == 500 and "No cluster leader" in body:
                        no_leader.append(address)  # another server may know the leader
                        continue
                    raise ClusterApiError(
                        f"{what}: {address} answered {resp.status_code}: {body}"
                    ) from None
                failures.append((address, failure_kind(resp)))
                unsent = unsent and nothing_sent(resp)
            except (requests.RequestException, OSError) as exc:
                failures.append((address, failure_kind(exc)))
                unsent = unsent and nothing_sent(exc)
        if no_leader:
            raise NoLeader(f"{what}: no cluster leader yet ({', '.join(no_leader)})")
        by_kind: dict[tuple[str, str], list[str]] = {}
        for address, kind in failures:
            by_kind.setdefault(kind, []).append(address)
        reaching = Reaching(
            self.target.timeout, self.target.ca_file, self.target.source == "environment"
        )
        sentences = [unreachable_sentence(k, d, a, reaching) for (k, d), a in by_kind.items()]
        kinds = {kind for kind, _ in by_kind}
        raise Unreachable(f"{what}: cluster unreachable: " + "; ".join(sentences), kinds, unsent)

    # ---- calls -----------------------------------------------------------------------------

    def leader(self, region: str | None = None) -> str:
        def get(c: Any) -> str:
            if region is None:
                return c.status.leader.get_leader()
            resp = c.status.leader.request(method="get", params={"region": region})
            return resp.json()

        return self.call(get, "reading the leader")

    def members(self) -> dict[str, Any]:
        return self.call(lambda c: c.agent.get_members(), "listing server members")

    def nodes(self) -> list[dict[str, Any]]:
        return self.call(lambda c: c.nodes.get_nodes(), "listing client nodes")

    def bootstrap(self, secret: str | None = None) -> dict[str, Any]:
        def boot(c: Any) -> dict[str, Any]:
            if secret is None:
                return c.acl.generate_bootstrap()
            body = {"BootstrapSecret": secret}
            return c.acl.request("bootstrap", method="post", json=body).json()

        return self.call(boot, "ACL bootstrap")

    def token_self(self) -> dict[str, Any]:
        return self.call(lambda c: c.acl.request("token", "self", method="get").json(), "token")

    def policy_rules(self, name: str) -> str | None:
        """The rules of ACL policy `name`, None if there is no such policy."""
        import nomad.api.exceptions as nx

        def get(c: Any) -> str | None:
            try:
                return c.acl.request("policy", name, method="get").json().get("Rules")
            except nx.URLNotFoundNomadException:
                return None

        return self.call(get, f"reading ACL policy {name}")

    def create_policy(self, name: str, description: str, rules: str) -> None:
        body = {"Name": name, "Description": description, "Rules": rules}
        self.call(lambda c: c.acl.create_policy(name, body), f"creating ACL policy {name}")

    def create_token(self, name: str, policies: Sequence[str]) -> dict[str, Any]:
        body = {"Name": name, "Type": "client", "Policies": list(policies), "Global": True}
        return self.call(lambda c: c.acl.create_token(body), f"creating ACL token {name}")

    def tokens(self) -> list[dict[str, Any]]:
        """Every ACL token's stub (no SecretID): GET /v1/acl/tokens, management only."""
        return self.call(lambda c: c.acl.get_tokens(), "listing ACL tokens")

    def delete_token(self, accessor: str) -> None:
        """Revoke a token by its AccessorID (DELETE /v1/acl/token/:accessor_id)."""
        import nomad.api.exceptions as nx

        accessor = validate.token(accessor, "an ACL token's AccessorID")

        def delete(c: Any) -> None:
            try:
                c.acl.request("token", accessor, method="delete")
            except nx.BadRequestNomadException as exc:  # nomad/acl_endpoint.go DeleteTokens
                if "Cannot delete nonexistent tokens" not in _body(exc):
                    raise  # already gone is done; anything else is not

        self.call(delete, f"revoking ACL token {accessor[:8]}")

    def wait_for_leader(
        self,
        timeout: float,
        progress: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> str:
        """Poll with backoff until a leader is known, at most `timeout` seconds.

        A leader is usually a second or two away: for LEADER_POLL_FAST_FOR seconds the polls
        (one small GET on a kept connection) come every LEADER_POLL_FIRST seconds, so `up`
        learns of the leader within 0.1 s of it existing (a gap growing from the start had
        cost up to a second: docs/benchmarks.md); then the gap grows to LEADER_POLL_MAX. A
        progress line is shown when the reason changes, or every LEADER_PROGRESS_EVERY s.
        """
        cancel = cancel or threading.Event()  # nobody sets a fresh one: a plain pause
        started = time.monotonic()
        deadline = started + timeout
        delay, last = LEADER_POLL_FIRST, "no answer yet"
        shown, shown_at, attempts = "", 0.0, 0
        while True:
            attempts += 1
            try:
                leader = self.leader()
                if leader:
                    return leader
                last = "servers answer but have not elected a leader"
            except PermissionDenied:
                raise
            except ClusterApiError as exc:
                last = exc.message
            now = time.monotonic()
            if progress and (last != shown or now - shown_at >= LEADER_PROGRESS_EVERY):
                took = f"{now - started:.0f}s of {timeout:.0f}s, attempt {attempts}"
                progress(f"waiting for a leader ({took}): {last}")
                shown, shown_at = last, now
            if now + delay > deadline:
                raise NoLeader(
                    f"no cluster leader after {timeout:.0f}s ({attempts} attempts): {last}"
                )
            if cancel.wait(delay):
                raise Cancelled("stopped waiting for a leader")
            if time.monotonic() - started >= LEADER_POLL_FAST_FOR:
                delay = min(delay * 1.5, LEADER_POLL_MAX)


def _body(exc: Any) -> str:
    resp = getattr(exc, "nomad_resp", None)
    text = getattr(resp, "text", "") or ""
    return " ".join(text.split())[:300]


def _bad_request(what: str, body: str) -> ClusterApiError:
    if "ACL bootstrap already done" in body:
        match = RESET_INDEX_RE.search(body)
        return AclAlreadyBootstrapped(f"{what}: {body}", int(match.group(1)) if match else None)
    if "ACL support disabled" in body:
        return ClusterApiError(f"{what}: ACL support disabled on the cluster")
    return ClusterApiError(f"{what}: {body or 'bad request'}")


# ---- `nomad server members` ---------------------------------------------------------------


def member_rows(
    members: Sequence[Mapping[str, Any]], leaders: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Members sorted by region, datacenter, name, each with `Tags.Leader` as Nomad sets it.

    `leaders` maps region -> leader address ("ip:port" from /v1/status/leader?region=R).
    """
    rows = []
    for m in members:
        tags = dict(m.get("Tags") or {})
        region = tags.get("region", "")
        is_leader = bool(leaders.get(region)) and (
            f"{m.get('Addr')}:{tags.get('port')}" == leaders.get(region)
        )
        tags["Leader"] = "true" if is_leader else "false"
        rows.append({**m, "Tags": tags})
    rows.sort(
        key=lambda r: (r["Tags"].get("region", ""), r["Tags"].get("dc", ""), r.get("Name", ""))
    )
    return rows
