"""Day-2 operations: node drain and eligibility, autopilot health, raft peer removal,
force-leave, graceful leave and SIGHUP TLS reload, with Nomad's API shapes and errors.

Read from Nomad at commit aa026cc99cfb74a77e519a1c1f0c78ba1b452705 and raft-autopilot at
56d1877eec6faed93adcb81c91773e32290e20f5:
- command/agent/node_endpoint.go nodeToggleDrain / nodeToggleEligibility (PUT|POST, else 405),
  nomad/node_endpoint.go UpdateDrain (node:write; "node not found") and UpdateEligibility
  (node:write; "invalid scheduling eligibility", "can not set node's scheduling eligibility to
  eligible while it is draining", a no-op answers Index 0); replies NodeDrainUpdateResponse;
- command/agent/operator_endpoint.go OperatorServerHealth: 429 with the body when not healthy,
  404 "Invalid method" for other methods; nomad/operator_endpoint.go ServerHealth needs
  operator:read and is answered by the leader; raft-autopilot types.go isHealthy (serf alive,
  last contact within LastContactThreshold, leader's term, within MaxTrailingLogs) and state.go
  (FailureTolerance = healthy voters - quorum when positive, StableSince = last health change);
- OperatorRaftPeer: DELETE only (else 404), `?address=` refused (400), `?id=` required (400);
  RaftRemovePeerByID needs a management token and "id %q was not found in the Raft
  configuration"; a removed server still alive in serf comes back at the leader's reconcile;
- command/agent/agent_endpoint.go AgentForceLeaveRequest (PUT|POST, 501 on a client, agent:write,
  "missing node to force leave", "invalid prune value"); serf's RemoveFailedNode turns a failed
  member `left` (an alive one refutes it, and so does one heard from again later, as serf's
  handleNodeLeaveIntent refute and handleNodeJoin do), prune forgets it;
  nomad/leader.go reconcileMember removes left and reaped servers from raft;
- nomad/server.go Leave: a leader removes itself from raft first; a follower leaves serf and
  waits up to raftRemoveGracePeriod (5s) to be removed;
- command/agent/command.go SIGHUP: "Caught signal: hangup", "Reloading configuration...",
  TLS reloaded only when the files' checksum changed (structs/config/tls.go
  CertificateInfoIsEqual), "reloading HTTP server with new TLS configuration" (the HTTP
  server shut down and started anew) and, on servers, "reloading server connections due to
  configuration changes"; a bad key pair keeps the old files, a bad CA ends the agent from
  1.10.1 on (`reload_tls`, read at v1.10.0, v1.10.1 and v1.10.5).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import re
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import drain
from .common import HEARTBEAT, VERSION, AgentError, ApiError, split_host_port
from .config import build_config, load_config_files
from .state import ClusterState
from .transport import Response, client_ssl_context, http_call, ok, seal, server_ssl_context

if TYPE_CHECKING:
    from .api import Api, Call
    from .main import Agent
    from .server import ServerRole

# Nomad's defaults are 200ms / 250 entries against raft heartbeats of ~100ms; the stand-in's
# heartbeats come every HEARTBEAT (0.5s), so the contact threshold is scaled to 3 of them.
LAST_CONTACT_THRESHOLD = 3 * HEARTBEAT
MAX_TRAILING_LOGS = 250
RAFT_REMOVE_GRACE = 5.0
# A stats fetch answered within half of ServerHealthInterval (2s in Nomad; state.go), scaled
# to the stand-in's heartbeats like LAST_CONTACT_THRESHOLD.
FETCH_DEADLINE = 2 * HEARTBEAT
AUTOPILOT_INTERVAL = 10.0  # nomad/config.go: dead servers are looked for this often
STABILIZATION = 10.0  # autopilot server_stabilization_time default: a new server's wait
GO_BOOLS = {  # strconv.ParseBool
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def _route(methods: str, pattern: str, handler: str, where: str) -> Any:
    return set(methods.split("|")), re.compile(f"^{pattern}$"), handler, where


ROUTES = [
    _route("PUT|POST", "/v1/node/(?P<id>[^/]+)/drain", "day2_drain", "leader"),
    _route("PUT|POST", "/v1/node/(?P<id>[^/]+)/eligibility", "day2_eligibility", "leader"),
    _route("GET", "/v1/node/(?P<id>[^/]+)/allocations", "day2_node_allocs", "leader"),
    _route("PUT|POST", "/v1/node/(?P<id>[^/]+)/purge", "day2_purge", "leader"),
    _route("GET|PUT|POST|DELETE", "/v1/operator/autopilot/health", "day2_health", "leader"),
    _route("GET|PUT|POST|DELETE", "/v1/operator/raft/peer", "day2_raft_peer", "leader"),
    _route("PUT|POST", "/v1/agent/force-leave", "day2_force_leave", "agent"),
]


def _reply(idx: int) -> Response:
    return ok({"NodeModifyIndex": idx, "EvalIDs": None, "EvalCreateIndex": 0, "Index": idx})


class Day2:
    """The handlers (called by api.Api.handle) and the leader's periodic work."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.agent: Agent = api.agent
        self.stable: dict[str, tuple[bool, float]] = {}  # server id -> (healthy, since)
        self.fetched: dict[str, tuple[float, int, int]] = {}  # last stats a server gave
        self.tls_checksum = tls_checksum(self.agent)  # of the files read at startup
        self.cleanup_dead, self.stabilization = autopilot_config(self.agent)
        self.next_cleanup = 0.0

    def _srv(self) -> ServerRole:
        assert self.agent.server is not None
        return self.agent.server

    def _accessor(self, call: Call) -> str:
        tok = self._srv().state.token_by_secret(call.token) if call.token else None
        return str(tok["AccessorID"]) if tok else ""

    # -- nodes
    def day2_drain(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        self.api.need(call, "node", "write")
        srv, nid = self._srv(), m["id"]
        if nid not in srv.state.nodes:
            raise ApiError(500, "node not found")
        spec = body.get("DrainSpec")
        accessor, now = self._accessor(call), time.time()

        def fn(st: ClusterState, idx: int) -> int:
            node = st.nodes[nid]
            old = node.get("DrainStrategy")
            strategy = drain.new_strategy(spec, old, now) if spec is not None else None
            meta = body.get("Meta") or None
            mark = bool(body.get("MarkEligible"))
            drain.update_node_drain(node, idx, strategy, mark, meta, accessor, False, now)
            return idx

        idx = srv.apply(fn)
        what = "set" if spec is not None else "removed"
        srv.log("INFO", f"nomad.client: node drain strategy {what}: node_id={nid}")
        srv.wake.set()
        return _reply(idx)

    def day2_eligibility(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        self.api.need(call, "node", "write")
        srv = self._srv()
        nid = str(body.get("NodeID") or m["id"])
        want = body.get("Eligibility")
        if want not in ("eligible", "ineligible"):
            raise ApiError(500, f'invalid scheduling eligibility "{want or ""}"')
        node = srv.state.nodes.get(nid)
        if node is None:
            raise ApiError(500, "node not found")
        if node.get("DrainStrategy") is not None and want == "eligible":
            raise ApiError(
                500, "can not set node's scheduling eligibility to eligible while it is draining"
            )
        if node.get("SchedulingEligibility") == want:
            return _reply(0)

        def fn(st: ClusterState, idx: int) -> int:
            n = st.nodes[nid]
            n.update(SchedulingEligibility=want, ModifyIndex=idx, StatusUpdatedAt=int(time.time()))
            return idx

        idx = srv.apply(fn)
        srv.log("INFO", f"nomad.client: node transitioning to {want} state: node_id={nid}")
        return _reply(idx)

    def day2_purge(self, call: Call, m: re.Match[str]) -> Response:
        """`nomad node purge`: the node leaves the state store. command/agent/node_endpoint.go
        nodePurge (PUT/POST) -> Node.Deregister (nomad/node_endpoint.go: ACL node:write,
        "node not found" for an unknown ID, a NodeUpdateResponse). A client that is still
        alive would register again at its next heartbeat; the stand-in's stopped ones do not."""
        self.api.need(call, "node", "write")
        srv, nid = self._srv(), m["id"]
        if nid not in srv.state.nodes:
            raise ApiError(500, "node not found")
        idx = srv.apply(lambda st, idx: (st.nodes.pop(nid, None), idx)[1])
        srv.log("INFO", f"nomad.client: node deregistered: node_id={nid}")
        return _reply(idx)

    def day2_node_allocs(self, call: Call, m: re.Match[str]) -> Response:
        acl = self.api.need(call, "node")
        with self._srv().lock:
            allocs = [dict(a) for a in self._srv().state.allocs.values() if a["NodeID"] == m["id"]]
        out = [a for a in allocs if acl.allows_ns(a["Namespace"], "read-job")]
        for a in out:
            a.pop("JobKey", None)
        return ok(sorted(out, key=lambda a: a["CreateIndex"]))

    def leader_tick(self, now: float) -> None:
        """Autopilot, the scheduler and the drainer; the leader runs this on every tick."""
        self.autopilot(time.monotonic())
        srv = self._srv()
        with srv.lock:
            ops = drain.plan(srv.state, now)
        if not ops:
            return
        lines = srv.apply(lambda st, idx: drain.apply_ops(st, idx, drain.plan(st, now), now))
        for line in lines:
            srv.log("INFO", line)

    # -- autopilot
    def autopilot(self, mono: float) -> None:
        """raft-autopilot's loop: promote non-voters healthy for server_stabilization_time
        (stable_promoter.go); every AUTOPILOT_INTERVAL, force-leave failed servers when that
        keeps a majority (reconcile.go adjudicateRemoval: at most (voters - 1) // 2)."""
        srv = self._srv()
        report = self.health(mono)
        wall = time.time()
        promote = [
            s["ID"]
            for s in report["Servers"]
            if not s["Voter"]
            and s["Healthy"]
            and wall - self.stable[s["ID"]][1] >= self.stabilization
        ]
        for sid in promote:

            def fn(st: ClusterState, idx: int, sid: str = sid) -> None:
                if sid in st.nonvoters:
                    st.voters[sid] = st.nonvoters.pop(sid)

            srv.apply(fn)
            srv.log("INFO", f"nomad.autopilot: Promoting server: id={sid}")
        if not self.next_cleanup:
            self.next_cleanup = mono + AUTOPILOT_INTERVAL
        if not self.cleanup_dead or mono < self.next_cleanup:
            return
        self.next_cleanup = mono + AUTOPILOT_INTERVAL
        failed = [s for s in report["Servers"] if s["SerfStatus"] == "failed"]
        room = (sum(1 for s in report["Servers"] if s["Voter"]) - 1) // 2
        for s in sorted(failed, key=lambda s: (s["Voter"], s["ID"])):
            if s["Voter"]:
                if room < 1:
                    continue
                room -= 1
            with srv.lock:
                m = srv.members.get(s["Name"])
                info = {"name": m.name, "boot": m.boot} if m else None
            if info:
                srv.log(
                    "INFO", f"nomad.autopilot: Attempting removal of failed server: id={s['ID']}"
                )
                force_leave(srv, info, False)
                broadcast_force_leave(srv, info, False)

    def day2_health(self, call: Call, m: re.Match[str]) -> Response:
        if call.method != "GET":
            raise ApiError(404, "Invalid method")
        self.api.need(call, "operator", "read")
        reply = self.health(time.monotonic())
        return Response(200 if reply["Healthy"] else 429, ok(reply).body)

    def health(self, now: float) -> dict[str, Any]:
        srv = self._srv()
        with srv.lock:
            voters = srv.state.voters | srv.state.nonvoters
            is_voter = set(srv.state.voters)
            term, index = srv.state.term, srv.state.index
            members = {m.name: m for m in srv.members.values()}
            peers = dict(srv.peers)
        servers = []
        for vid, v in sorted(voters.items(), key=lambda kv: kv[1]["name"]):
            if vid == srv.id:
                serf, version, contact, p_term, p_index = "alive", VERSION, 0.0, term, index
            else:
                mem, peer = members.get(v["name"]), peers.get(vid)
                serf = mem.status(now) if mem else "none"
                version = mem.tags.get("build", "") if mem else ""
                contact, p_term, p_index = self._stats(vid, peer, serf, now)
            healthy = (
                index > 0
                and term > 0
                and serf == "alive"
                and 0 <= contact <= LAST_CONTACT_THRESHOLD
                and p_term == term
                and p_index + MAX_TRAILING_LOGS >= index
            )
            was = self.stable.get(vid)
            if was is None or was[0] != healthy:
                self.stable[vid] = was = (healthy, time.time())
            servers.append(
                {
                    "ID": vid,
                    "Name": v["name"],
                    "Address": v["rpc"],
                    "SerfStatus": serf,
                    "Version": version,
                    "Leader": vid == srv.leader_id,
                    "LastContact": go_duration(int(max(contact, 0) * 1e9)),
                    "LastTerm": p_term,
                    "LastIndex": p_index,
                    "Healthy": healthy,
                    "Voter": vid in is_voter,
                    "StableSince": drain.rfc3339(round(was[1]), precise=False),
                }
            )
        healthy_voters = sum(1 for s in servers if s["Healthy"] and s["Voter"])
        quorum = len(is_voter) // 2 + 1
        return {
            "Healthy": bool(servers) and all(s["Healthy"] for s in servers),
            "FailureTolerance": max(healthy_voters - quorum, 0),
            "Servers": servers,
            "Leader": srv.leader_id or "",
            "Voters": [s["ID"] for s in servers if s["Voter"]],
        }

    def _stats(self, vid: str, peer: Any, serf: str, now: float) -> tuple[float, int, int]:
        """(LastContact, LastTerm, LastIndex) of a follower as autopilot has them.

        raft-autopilot fetches each serf-alive server's stats every ServerHealthInterval
        with half that as a deadline, and keeps the previous stats of a server that did not
        answer (hashicorp/raft-autopilot v0.1.6 state.go: buildServerState copies the
        existing Stats, overridden only by fetched ones): a dead server looks as healthy as
        it last was until serf calls it failed (serf.py: memberlist's suspicion under Nomad's
        WAN profile, 35 s for a small cluster, on the stand-in's 1/10 serf clock)."""
        fresh = peer is not None and peer.last_ok > 0 and now - peer.last_ok <= FETCH_DEADLINE
        if fresh and serf == "alive":
            self.fetched[vid] = (now - peer.last_ok, peer.term, peer.index)
        return self.fetched.get(vid, (-1.0, 0, 0))

    # -- raft
    def day2_raft_peer(self, call: Call, m: re.Match[str]) -> Response:
        if call.method != "DELETE":
            raise ApiError(404, "Invalid method")
        if "address" in call.query:
            raise ApiError(
                400,
                "Removing a peer by address is not supported in the current raft protocol version",
            )
        if "id" not in call.query:
            raise ApiError(400, "Must specify the peer's ID to remove")
        self.api.need(call, "management")
        srv, pid = self._srv(), call.query["id"]
        if pid not in srv.state.voters and pid not in srv.state.nonvoters:
            raise ApiError(500, f'id "{pid}" was not found in the Raft configuration')
        srv.apply(lambda st, idx: (st.voters.pop(pid, None), st.nonvoters.pop(pid, None)))
        srv.log("WARN", f"nomad: removed Raft peer: peer_id={pid}")
        return ok(None)

    # -- serf
    def day2_force_leave(self, call: Call, m: re.Match[str]) -> Response:
        if self.agent.server is None:
            raise ApiError(501, "Invalid method")
        self.api.need(call, "agent", "write")
        name = call.query.get("node", "")
        if not name:
            raise ApiError(400, "missing node to force leave")
        prune_raw = call.query.get("prune", "")
        if prune_raw and prune_raw not in GO_BOOLS:
            raise ApiError(400, "invalid prune value")
        prune = GO_BOOLS.get(prune_raw, False)
        srv = self._srv()
        with srv.lock:
            member = srv.members.get(name)
            info = {"name": member.name, "boot": member.boot} if member else None
        if info is None:
            return ok(None)  # serf broadcasts the intent; nobody knows the name, nothing happens
        force_leave(srv, info, prune)
        broadcast_force_leave(srv, info, prune)
        return ok(None)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(), as api/operator.go ServerHealth.MarshalJSON writes
    LastContact ("0s", "850µs", "12.5ms", "1.5s", "2m3s")."""
    if ns == 0:
        return "0s"
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_frac(u, 6)}ms"
    secs = _frac(u % 60_000_000_000, 9) + "s"
    minutes, hours = u // 60_000_000_000 % 60, u // 3_600_000_000_000
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    return f"{sign}{minutes}m{secs}" if minutes else f"{sign}{secs}"


def _frac(v: int, prec: int) -> str:
    whole, frac = divmod(v, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def broadcast_force_leave(srv: ServerRole, info: dict[str, Any], prune: bool) -> None:
    """Tell the other servers (serf gossips the leave intent to every member)."""
    body = seal(srv.key, {"type": "force-leave", "member": info, "prune": prune})
    for t in srv.known_serf():
        host, port = split_host_port(t, 4648)
        with contextlib.suppress(OSError, http.client.HTTPException):
            http_call(host, port, "POST", "/serf/ping", body, timeout=1.0)


def autopilot_config(agent: Agent) -> tuple[bool, float]:
    """cleanup_dead_servers and server_stabilization_time from the agent's `autopilot`
    block (Nomad seeds its autopilot configuration from it when the cluster bootstraps)."""
    try:
        raw, _ = load_config_files(list(agent.cfg.files))
    except (AgentError, OSError):
        return True, STABILIZATION
    block = raw.get("autopilot") or {}
    if isinstance(block, list):
        block = block[0] if block else {}
    cleanup = block.get("cleanup_dead_servers", True)
    cleanup = cleanup if isinstance(cleanup, bool) else str(cleanup).lower() == "true"
    wait = block.get("server_stabilization_time")
    return cleanup, drain.duration_ns(wait, int(STABILIZATION * 1e9)) / 1e9


def force_leave(srv: ServerRole, info: dict[str, Any], prune: bool) -> None:
    """serf RemoveFailedNode(Prune) on one server: a failed member turns left (an alive one
    refutes the intent), prune forgets a failed or left one; the leader then drops it from
    raft (leader.go reconcileMember: StatusLeft and StatusReap)."""
    now = time.monotonic()
    with srv.lock:
        m = srv.members.get(info["name"])
        if m is None or m.boot != info["boot"] or m.status(now) == "alive":
            return
        m.left = m.forced = True
        srv.log("INFO", f"nomad: serf: EventMemberLeave (forced): {m.name} {m.addr}")
        if prune:
            del srv.members[m.name]
            srv.log("INFO", f"nomad: serf: EventMemberReap: {m.name}")
        sid = m.tags.get("id", "")
        remove = prune and srv.is_leader and sid in (srv.state.voters | srv.state.nonvoters)
    if remove:
        srv.apply(lambda st, idx: (st.voters.pop(sid, None), st.nonvoters.pop(sid, None)))
        srv.log("INFO", f"nomad: removing server by ID: id={sid}")


def leave(srv: ServerRole) -> None:
    """nomad/server.go Leave, then the serf leave (ServerRole.leave_serf)."""
    srv.log("INFO", "nomad: server starting leave")
    with srv.lock:
        leader, others = srv.is_leader, len(srv.state.voters) > 1
    if leader and others:
        with contextlib.suppress(ApiError):
            srv.apply(lambda st, idx: st.voters.pop(srv.id, None))
    srv.leave_serf()
    if leader:
        return
    limit = time.monotonic() + RAFT_REMOVE_GRACE
    while time.monotonic() < limit:
        with srv.lock:
            if srv.id not in srv.state.voters and srv.id not in srv.state.nonvoters:
                srv.log("INFO", "nomad: left raft configuration")
                return
        time.sleep(0.05)
    srv.log("WARN", "nomad: failed to leave raft configuration gracefully, timeout")


# ------------------------------------------------------------------------------ SIGHUP


def _checksum(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def fatal_reload(version: str = VERSION) -> bool:
    """Nomad 1.10.1 on ends the agent when the server or client part of a reload fails
    (command/agent/command.go handleSignals: "Fatal error while reloading", exit 1; before,
    handleReload's error was only logged). v1.10.0 vs v1.10.1 of that file."""
    parts = tuple(int(p) for p in version.split("+")[0].split("-")[0].split(".")[:3])
    return parts >= (1, 10, 1)


def reload_tls(day2: Day2) -> str | None:
    """command/agent/command.go handleReload, for TLS. Returns an error that ends the agent
    (None: carry on).

    - the config files unreadable or invalid: "Failed to reload configs", nothing changes;
    - agent.Reload loads the new key pair first (command/agent/agent.go Reload,
      keyloader.LoadKeyPair): a bad certificate or key is logged ("failed to reload the
      config") and the old files stay in use;
    - then the server's and client's Reload build the new TLS configuration, CA included
      (nomad/server.go reloadTLSConnections, tlsutil.NewTLSConfiguration): a failure there is
      fatal from 1.10.1 on (`fatal_reload`), logged only before;
    - on success the HTTP listener is closed and a new one listens (reloadHTTPServer, whose
      HTTPServer.Shutdown in command/agent/http.go only closes the listener: connections
      already accepted are served on, with their TLS session), and RPC serves and dials with
      the new files.
    """
    agent = day2.agent
    log, old = agent.log, agent.cfg.tls
    log.ui("==> Reloading configuration...")
    try:
        raw, files = load_config_files(list(agent.cfg.files))
        new_cfg = build_config(raw, files, {})  # readConfig: parsed, TLS files not opened
    except (AgentError, OSError, ValueError):
        log.ui("==> Failed to reload configs")
        return None
    t = new_cfg.tls
    if not (t.http or t.rpc) and not (old.http or old.rpc):
        return None
    try:
        same = (t.ca_file, t.cert_file, t.key_file) == (old.ca_file, old.cert_file, old.key_file)
        checksum = _checksum([t.ca_file, t.cert_file, t.key_file])
        if same and checksum == day2.tls_checksum:
            return None
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(t.cert_file, t.key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        log("ERROR", f"agent: failed to reload the config: error={exc}")
        return None
    try:
        http_ctx = server_ssl_context(t, t.verify_https_client) if t.http else None
        rpc_ctx = server_ssl_context(t, True) if t.rpc else None
        dial = client_ssl_context(t) if t.rpc else None
    except (OSError, ssl.SSLError, ValueError) as exc:
        part = "server" if agent.server is not None else "client"
        log("ERROR", f"agent: reloading {part} config failed: error={exc}")
        return f"reloading {part} config failed: {exc}" if fatal_reload() else None
    agent.cfg.tls, day2.tls_checksum = t, checksum
    if agent.server is not None:
        log("INFO", "nomad: reloading server connections due to configuration changes")
    for lst in agent.listeners:
        if lst.label == "rpc":
            lst.ctx = rpc_ctx
    rpc = agent.rpc
    with rpc._lock:  # kept connections were made with the old certificate
        idle, rpc._idle, rpc.ctx = rpc._idle, {}, dial
    for conns in idle.values():
        for conn in conns:
            conn.close()
    log("INFO", "agent: reloading HTTP server with new TLS configuration")
    return _reopen_http(agent, http_ctx)


def _reopen_http(agent: Agent, ctx: ssl.SSLContext | None) -> str | None:
    """reloadHTTPServer: close the HTTP listener, then a new one on the same address; an
    error is logged ("reloading config failed"), not fatal."""
    for lst in [lst for lst in agent.listeners if lst.label == "http"]:
        lst.retire()
        agent.listeners.remove(lst)
    try:
        agent.reopen_http(ctx)
    except (AgentError, OSError) as exc:
        agent.log("ERROR", f"http: reloading config failed: error={exc}")
    return None


def tls_checksum(agent: Agent) -> str:
    t = agent.cfg.tls
    if not (t.http or t.rpc):
        return ""
    with contextlib.suppress(OSError):
        return _checksum([t.ca_file, t.cert_file, t.key_file])
    return ""
