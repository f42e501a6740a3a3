"""`alloc exec` over a WebSocket (/v1/client/allocation/<id>/exec), as far as the UI uses it.

Read from Nomad v1.10.5 (and gorilla/websocket v1.5.3, which it uses):
- command/agent/alloc_endpoint.go allocExec: `command` is a JSON list (else 500 "failed to
  marshal command into json: ..."), `tty` a bool; then wsUpgrader.Upgrade (http.go: a
  default Upgrader, so gorilla's checkSameOrigin: an Origin header whose host is not the
  request's Host is refused with 403). A refused upgrade writes http.Error(StatusText) with
  Sec-Websocket-Version: 13, and wrap() appends "failed to upgrade connection: <reason>".
- readWsHandshake: with `ws_handshake=true` the first message is {"version": 1,
  "auth_token": ...}; another version closes with 1008 "unexpected handshake value: N".
- nomad/client_alloc_endpoint.go exec (the server's half): a bad token is "Permission
  denied" (no code: close 1011), an unknown allocation `Unknown allocation "<id>"` (404:
  close 1008), no alloc-exec capability "Permission denied", a terminal allocation 400
  "exec not possible, client status of allocation <id> is <status>".
- client/alloc_endpoint.go execImpl: no task "must provide task name" (400), no command
  "command is not present" (400), a task not in the group `unknown task name "<t>"` (400).
- plugins/drivers/execstreaming.go, proto/driver.pb.go: input messages {"stdin": {"data":
  <base64>} or {"close": true}}, {"tty_size": {...}}, {} as a heartbeat; output messages
  {"stdout": {"data": <base64>}} per read of up to 1024 bytes, {"stdout": {"close": true}}
  at the end of each stream, then {"exited": true, "result": {"exit_code": N}} (exit_code
  omitted when 0). execStreamImpl then closes the connection without a close frame.

The stand-in runs the command for real, in the agent that took the WebSocket (all agents of
a test cluster share one machine), with its data directory as working directory; with tty
the two output streams are one pipe, not a terminal. Errors after the upgrade are close
frames with code 1008 (an HTTP-coded error other than 500) or 1011, and the error's text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import select
import socket
import ssl
import struct
import subprocess
from typing import TYPE_CHECKING, Any

from .common import ApiError, go_bool

if TYPE_CHECKING:
    from .main import Agent
    from .transport import Request

EXEC = re.compile(r"^/v1/client/allocation/(?P<id>[^/]+)/exec$")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
READ = 1024  # execstreaming.go: bytes := make([]byte, 1024)
POLICY, INTERNAL = 1008, 1011  # alloc_endpoint.go toWsCode


class Closed(Exception):
    """The client closed, or broke, the WebSocket."""


class WsError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def takeover(agent: Agent, handler: Any, req: Request) -> bool:
    """Serve an exec request on `handler`'s connection; False for every other path."""
    m = EXEC.match(req.path)
    if not m:
        return False
    handler.close_connection = True
    try:
        cmd = json.loads(req.query.get("command", ""))
    except ValueError as exc:
        _http(handler, 500, "", f"failed to marshal command into json: {exc}")
        return True
    try:
        tty = go_bool(req.query, "tty") or False
    except ValueError as exc:
        _http(handler, 500, "", f"tty value is not a boolean: {exc}")
        return True
    refusal = _gorilla_refusal(req)
    if refusal is not None:
        status, reason = refusal
        text = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}[status]
        _http(handler, status, text + "\n", f"failed to upgrade connection: {reason}")
        return True
    key = req.headers["sec-websocket-key"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    handler.send_response_only(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.end_headers()
    handler.wfile.flush()
    ws = Ws(handler.connection, _buffered(handler))
    try:
        _session(agent, ws, req, m["id"], cmd, tty)
    except WsError as exc:
        agent.log("INFO", f"client: task exec session ended with an error: error={exc.text!r}")
        try:
            ws.close(exc.code, exc.text)
            ws.drain()  # the client's close, so our close frame is not lost to a reset
        except (Closed, WsError, OSError):
            pass
    except (Closed, OSError):
        pass
    return True


def _gorilla_refusal(req: Request) -> tuple[int, str] | None:
    h = req.headers
    bad = "websocket: the client is not using the websocket protocol: "
    if "upgrade" not in _tokens(h.get("connection", "")):
        return 400, bad + "'upgrade' token not found in 'Connection' header"
    if "websocket" not in _tokens(h.get("upgrade", "")):
        return 400, bad + "'websocket' token not found in 'Upgrade' header"
    if req.method != "GET":
        return 405, bad + "request method is not GET"
    if "13" not in _tokens(h.get("sec-websocket-version", "")):
        return 400, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
    origin = h.get("origin")
    if origin is not None:  # checkSameOrigin: url.Parse(origin).Host == r.Host
        host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", origin).split("/")[0]
        if "://" not in origin or host.lower() != h.get("host", "").lower():
            return 403, "websocket: request origin not allowed by Upgrader.CheckOrigin"
    try:
        key_ok = len(base64.b64decode(h.get("sec-websocket-key", ""), validate=True)) == 16
    except ValueError:
        key_ok = False
    if not key_ok:
        return 400, (
            "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be "
            "Base64 encoded value of 16-byte in length"
        )
    return None


def _session(agent: Agent, ws: Ws, req: Request, alloc_id: str, cmd: Any, tty: bool) -> None:
    token = req.headers.get("x-nomad-token", "")
    if go_bool(req.query, "ws_handshake"):
        try:
            hello = json.loads(ws.recv())
        except ValueError as exc:
            raise WsError(POLICY, str(exc)) from None
        if not isinstance(hello, dict) or hello.get("version") != 1:
            version = hello.get("version") if isinstance(hello, dict) else hello
            raise WsError(POLICY, f"unexpected handshake value: {version}")
        token = str(hello.get("auth_token") or "")
    task = _check(agent, token, alloc_id, req.query.get("task", ""), cmd)
    agent.log(
        "INFO",
        f"client: task exec session starting: alloc_id={alloc_id} task={task} "
        f"command={cmd!r} tty={str(tty).lower()}",
    )
    _run(agent, ws, cmd, tty)
    agent.log("INFO", "client: task exec session ended")


def _check(agent: Agent, token: str, alloc_id: str, task: str, cmd: Any) -> str:
    """The server's and the client's checks, in their order; the task name."""
    srv = agent.server
    if srv is None:  # the stand-in answers exec on servers only (the UI goes to one)
        raise WsError(INTERNAL, "No path to node")
    try:
        acl = agent.api.resolve(token)
    except ApiError:
        raise WsError(INTERNAL, "Permission denied") from None
    with srv.lock:
        alloc = srv.state.allocs.get(alloc_id)
        job = srv.state.jobs.get(alloc["JobKey"]) if alloc else None
    if alloc is None or job is None:
        raise WsError(POLICY, f'Unknown allocation "{alloc_id}"')
    if not acl.allows_ns(alloc["Namespace"], "alloc-exec"):
        raise WsError(INTERNAL, "Permission denied")
    if alloc["ClientStatus"] in ("complete", "failed", "lost"):
        raise WsError(
            POLICY,
            f"exec not possible, client status of allocation {alloc_id} is {alloc['ClientStatus']}",
        )
    if not task:
        raise WsError(POLICY, "must provide task name")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
        raise WsError(POLICY, "command is not present")
    group = next(g for g in job.get("TaskGroups") or [] if g.get("Name") == alloc["TaskGroup"])
    if task not in {t.get("Name") for t in group.get("Tasks") or []}:
        raise WsError(POLICY, f'unknown task name "{task}"')
    return task


def _run(agent: Agent, ws: Ws, cmd: list[str], tty: bool) -> None:
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if tty else subprocess.PIPE,
            cwd=agent.cfg.data_dir,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
    except OSError:
        raise WsError(
            INTERNAL, f'failed to exec into task: exec: "{cmd[0]}": executable file not found'
        ) from None
    assert proc.stdin is not None and proc.stdout is not None
    outputs = {proc.stdout.fileno(): "stdout"}
    if proc.stderr is not None:
        outputs[proc.stderr.fileno()] = "stderr"
    try:
        while outputs:
            ready = [ws.sock] if ws.pending() else select.select([ws.sock, *outputs], [], [])[0]
            for fd in ready:
                if fd is ws.sock:
                    _input(ws, proc)
                    continue
                data = os.read(fd, READ)
                stream = outputs[fd]
                op = {"data": base64.b64encode(data).decode()} if data else {"close": True}
                ws.send_text(json.dumps({stream: op}))
                if not data:
                    del outputs[fd]
        code = proc.wait()
        ws.send_text(json.dumps({"exited": True, "result": {"exit_code": code} if code else {}}))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    ws.sock.close()  # execStreamImpl's ws.Close(): no close frame


def _input(ws: Ws, proc: subprocess.Popen[bytes]) -> None:
    msg = json.loads(ws.recv())
    stdin = msg.get("stdin") if isinstance(msg, dict) else None
    assert proc.stdin is not None
    if stdin and stdin.get("close"):
        proc.stdin.close()
    elif stdin and not proc.stdin.closed:
        try:
            proc.stdin.write(base64.b64decode(stdin.get("data") or ""))
            proc.stdin.flush()
        except BrokenPipeError:
            pass


class Ws:
    """The server end of RFC 6455 framing, one thread: masked frames in, plain frames out."""

    def __init__(self, sock: socket.socket, early: bytes) -> None:
        self.sock, self.buf = sock, early
        sock.settimeout(None)

    def pending(self) -> bool:
        return bool(self.buf) or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0)

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise Closed
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self) -> str:
        """The next text message (pings answered, fragments joined); Closed at a close."""
        parts: list[bytes] = []
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._need(8))[0]
            if not b1 & 0x80:
                raise WsError(POLICY, "websocket: bad MASK")  # clients must mask
            mask = self._need(4)
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._need(n)))
            opcode = b0 & 0x0F
            if opcode == 8:
                self.close(1000, "")
                raise Closed
            if opcode == 9:
                self._frame(0xA, data)
                continue
            if opcode == 0xA:
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def drain(self) -> None:
        """After our close frame: read (and drop) what the client still sends, up to its
        close frame or the end of the connection (RFC 6455 5.5.1)."""
        self.sock.settimeout(10)
        try:
            while True:
                b0, b1 = self._need(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._need(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._need(8))[0]
                self._need(n + (4 if b1 & 0x80 else 0))
                if b0 & 0x0F == 8:
                    return
        except (Closed, OSError):
            return

    def send_text(self, text: str) -> None:
        self._frame(0x1, text.encode())

    def close(self, code: int, text: str) -> None:
        self._frame(0x8, struct.pack("!H", code) + text.encode()[:123])

    def _frame(self, opcode: int, data: bytes) -> None:
        n = len(data)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        self.sock.sendall(head + data)


def _http(handler: Any, status: int, first: str, err: str) -> None:
    body = (first + err).encode()
    handler.send_response_only(status)
    if first:
        handler.send_header("Sec-Websocket-Version", "13")
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("X-Content-Type-Options", "nosniff")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _buffered(handler: Any) -> bytes:
    """Bytes past the handshake already in the handler's read buffer (none would block)."""
    handler.connection.setblocking(False)
    try:
        return handler.rfile.read1(65536) or b""
    except OSError:
        return b""
    finally:
        handler.connection.setblocking(True)


def _tokens(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",")}
