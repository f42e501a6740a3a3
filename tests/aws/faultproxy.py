"""A small HTTP proxy between boto3 and moto that misbehaves on purpose.

Point `AWS_ENDPOINT_URL` at `FaultProxy.url`; every request is forwarded to moto unless a rule
for its API action (the `Action=` form field of the EC2/IAM query API, or the JSON protocols'
`X-Amz-Target`) says otherwise:

- `throttle`: HTTP 400 `RequestLimitExceeded` with the EC2 XML error body (or IAM's
  `Throttling`, SSM's `ThrottlingException`); `throttle503`: the same with HTTP 503;
- `capacity`: HTTP 500 `InsufficientInstanceCapacity`;
- `error`: any code, message and status;
- `drop`: close the connection without an answer, before moto sees the request;
- `drop_after`: forward to moto, then close without an answer (the answer is lost);
- `lost`: forward to moto (through the strict layer: AWS applied it), then reset the
  connection (RST, as a NAT or load balancer that forgot the flow does): botocore retries the
  same request, which now meets its own earlier effect ("already exists", or the idempotent
  replay of a ClientToken);
- `block`: hold the request (`rule.blocked` is set) until `rule.release` is set, then forward
  it (or, with `forward=False`, drop it: it never reached AWS); a test kills the client while
  it waits, to interrupt `up` at an exact point;
- `block_after`: forward to moto first, then hold the answer the same way (the request took
  effect but the client never learns it).

`skip` lets that many matching requests through first; `times` is how many are faulted.
Loopback only.

With `strict` (a `tests.aws.strict.Strict`, on for every AWS test through `aws_env`), every
request that reaches "AWS" also gets the EC2/IAM semantics moto skips: idempotency tokens,
eventual consistency, IAM propagation, dependency violations (see strict.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.aws.strict import Strict

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Rule:
    action: str
    fault: str  # throttle throttle503 capacity error drop drop_after block block_after
    times: int = 1
    skip: int = 0
    code: str = ""
    message: str = ""
    status: int = 400
    forward: bool = True  # block: forward the held request once released (else drop it)
    seen: int = 0  # matching requests so far
    fired: int = 0  # faults injected so far
    blocked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def take(self) -> bool:
        """Whether this matching request gets the fault (called under the proxy's lock)."""
        self.seen += 1
        if self.seen <= self.skip or self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Seen:
    service: str
    action: str
    params: dict[str, list[str]]
    body: bytes = b""


class FaultProxy:
    def __init__(self, upstream: str, strict: Strict | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.strict = strict
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rules: list[Rule] = []
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            do_GET = do_POST
            do_PUT = do_POST
            do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        for rule in self.rules:
            rule.release.set()
        self.server.shutdown()
        self.server.server_close()

    def add(self, action: str, fault: str, **kwargs: Any) -> Rule:
        rule = Rule(action, fault, **kwargs)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            for rule in self.rules:
                rule.release.set()
            self.rules.clear()

    def calls(self, action: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.log if s.action == action]

    # ---- request handling --------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        service, action, params = _identify(req, body)
        call = (service, action, params, _region(req))
        with self.lock:
            self.log.append(Seen(service, action, params, body))
            rule = next((r for r in self.rules if r.action == action and r.take()), None)
        if rule is None:
            self._forward(req, body, call)
            return
        if rule.fault in ("throttle", "throttle503"):
            code = {"ec2": "RequestLimitExceeded", "ssm": "ThrottlingException"}.get(
                service, "Throttling"
            )
            status = 503 if rule.fault == "throttle503" else 400
            self._error(req, service, status, code, "Request limit exceeded.")
        elif rule.fault == "capacity":
            self._error(
                req,
                service,
                500,
                "InsufficientInstanceCapacity",
                "We currently do not have sufficient capacity in the Availability Zone you "
                "requested.",
            )
        elif rule.fault == "error":
            self._error(req, service, rule.status, rule.code, rule.message or rule.code)
        elif rule.fault == "drop":
            _drop(req)
        elif rule.fault == "drop_after":
            self._forward(req, body, call, answer=False)
            _drop(req)
        elif rule.fault == "lost":
            self._forward(req, body, call, answer=False)
            _reset(req)
        elif rule.fault == "block":
            rule.blocked.set()
            rule.release.wait(timeout=120)
            if rule.forward:
                self._forward(req, body, call)
            else:
                _drop(req)
        elif rule.fault == "block_after":
            held = self._forward(req, body, call, answer=False)
            rule.blocked.set()
            rule.release.wait(timeout=120)
            self._reply(req, *held)
        else:
            raise ValueError(f"unknown fault {rule.fault!r}")

    def _forward(
        self,
        req: BaseHTTPRequestHandler,
        body: bytes,
        call: tuple[str, str, dict[str, list[str]], str],
        answer: bool = True,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        strict = self.strict.before(*call, body) if self.strict else None
        if strict is not None and strict.body is not None:
            kind = "application/x-amz-json-1.1" if call[0] == "servicequotas" else "text/xml"
            held = (strict.status, [("Content-Type", kind)], strict.body)
        elif strict is not None:
            held = _error_response(call[0], strict.status, strict.code, strict.message)
        else:
            held = self._upstream(req, body)
            if self.strict:
                held = (held[0], held[1], self.strict.after(*call, held[0], held[2]))
        if answer:
            self._reply(req, *held)
        return held

    def _upstream(
        self, req: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            conn.request(req.command, req.path, body=body, headers=headers)
            response = conn.getresponse()
            return (response.status, response.getheaders(), response.read())
        finally:
            conn.close()

    def _reply(
        self, req: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes
    ) -> None:
        try:
            req.send_response(status)
            for key, value in headers:
                if key.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                    req.send_header(key, value)
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:  # the client went away (killed by the test)
            req.close_connection = True

    def _error(
        self, req: BaseHTTPRequestHandler, service: str, status: int, code: str, message: str
    ) -> None:
        self._reply(req, *_error_response(service, status, code, message))


def _error_response(
    service: str, status: int, code: str, message: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error body each protocol uses: EC2 query XML, IAM query XML, JSON (SSM, quotas)."""
    request_id = str(uuid.uuid4())
    if service in ("ssm", "servicequotas"):
        data = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    elif service == "ec2":
        data = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        content_type = "text/xml;charset=UTF-8"
    else:
        data = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", request_id)]
    return status, headers, data


def _region(req: BaseHTTPRequestHandler) -> str:
    auth = req.headers.get("Authorization", "")
    if "Credential=" not in auth:
        return ""
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else ""


def _identify(req: BaseHTTPRequestHandler, body: bytes) -> tuple[str, str, dict[str, list[str]]]:
    auth = req.headers.get("Authorization", "")
    service = ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        service = scope[3] if len(scope) > 3 else ""
    target = req.headers.get("X-Amz-Target")
    if target:
        return service, target.rsplit(".", 1)[-1], {}
    params = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    action = (params.get("Action") or [""])[0]
    return service, action, params


def _reset(req: BaseHTTPRequestHandler) -> None:
    """Close with a TCP RST (SO_LINGER on, zero timeout): the client reads ECONNRESET."""
    import struct

    req.close_connection = True
    with contextlib.suppress(OSError):
        req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        req.connection.close()


def _drop(req: BaseHTTPRequestHandler) -> None:
    req.close_connection = True
    with contextlib.suppress(OSError):
        req.connection.shutdown(socket.SHUT_RDWR)
