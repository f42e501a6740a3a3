"""Server agents: gossip membership, leader election, state replication, node heartbeats."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import day2, discover, recovery, serf
from .acl import acl_dump
from .common import (
    CALL_TIMEOUT,
    FAIL_AFTER,
    HEARTBEAT,
    NODE_TTL,
    REVISION,
    VERSION,
    ApiError,
    ip_key,
    read_or_create_id,
    split_host_port,
    write_atomic,
)
from .state import ClusterState
from .transport import (
    GossipError,
    Request,
    Response,
    http_call,
    ok,
    seal,
    text_error,
    unseal,
)

if TYPE_CHECKING:
    from .main import Agent


# ------------------------------------------------------------------------------ servers

# Node fields the servers own: a client's registration never overwrites them.
SERVER_OWNED = ("SchedulingEligibility", "DrainStrategy", "LastDrain", "Drain")


@dataclass
class Member:
    name: str
    addr: str
    port: int
    tags: dict[str, str]
    boot: str
    last_seen: float
    left: bool = False
    forced: bool = False  # left by force-leave (RemoveFailedNode), not by its own leave
    suspicion: serf.Suspicion | None = None  # kept by ServerRole._serf_refresh

    def status(self, now: float) -> str:
        if self.left:
            return "left"
        # serf.py: failed once the suspicion timer fired (and was logged, by _serf_refresh)
        return "failed" if self.suspicion is not None and self.suspicion.announced else "alive"

    def to_api(self, now: float) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Addr": self.addr,
            "Port": self.port,
            "Status": self.status(now),
            "Tags": dict(self.tags),
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }


@dataclass
class RaftPeer:
    id: str
    name: str
    rpc: str
    term: int = 0
    leader: bool = False
    index: int = 0
    voters: dict[str, dict[str, str]] = field(default_factory=dict)
    last_ok: float = -1e9  # last successful outgoing heartbeat


class ServerRole:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        cfg = self.cfg = agent.cfg
        self.log = agent.log
        self.lock = threading.RLock()
        self.dir = Path(cfg.data_dir) / "server"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = read_or_create_id(self.dir / "node-id")
        self.key = cfg.encrypt_key()
        self.rpc_addr = f"{cfg.advertise['rpc'][0]}:{cfg.advertise['rpc'][1]}"
        self.member_name = f"{cfg.name}.{cfg.region}"
        self.state = self._load_state()
        recovery.apply_peers_json(self.dir, self.state, self._persist, self.log)  # peers.json
        self.members: dict[str, Member] = {}
        self.peers: dict[str, RaftPeer] = {}
        self.leader_id: str | None = None
        self.is_leader = False
        self.leader_since = 0.0
        self.node_seen: dict[str, float] = {}
        self.workers: set[str] = set()
        self.self_targets: set[str] = set()
        self.voted_term = self.state.term
        self.voted: tuple[str, float] = ("", -1e9)  # whom we voted for last, and when
        self.next_election = 0.0
        self.wake = threading.Event()  # set to run the leader loop before its next tick

    # -- persistence
    def _load_state(self) -> ClusterState:
        path = self.dir / "state.json"
        if path.is_file():
            try:
                return ClusterState.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                self.log("WARN", f"nomad: ignoring unreadable {path}: {exc}")
        return ClusterState()

    def _persist(self) -> None:
        write_atomic(self.dir / "state.json", json.dumps(asdict(self.state)))

    # -- gossip
    def self_member(self) -> dict[str, Any]:
        cfg = self.cfg
        tags = {
            "role": "nomad",
            "region": cfg.region,
            "dc": cfg.datacenter,
            "build": VERSION,
            "revision": REVISION,
            "vsn": "1",
            "mvn": "1",
            "raft_vsn": "3",
            "id": self.id,
            "rpc_addr": cfg.advertise["rpc"][0],
            "port": str(cfg.advertise["rpc"][1]),
            "expect": str(cfg.bootstrap_expect),
        }
        return {
            "name": self.member_name,
            "addr": cfg.advertise["serf"][0],
            "port": cfg.advertise["serf"][1],
            "boot": self.agent.boot,
            "tags": tags,
        }

    def known_serf(self) -> list[str]:
        with self.lock:
            return [f"{m.addr}:{m.port}" for m in self.members.values() if not m.left]

    def observe(self, info: dict[str, Any], now: float) -> None:
        if info["name"] == self.member_name:
            return
        with self.lock:
            m = self.members.get(info["name"])
            # A member that left stays left; one forced out while it was failed (frozen, cut
            # off) and heard from again refutes the leave intent and is alive (serf/serf.go
            # handleNodeLeaveIntent: a node refutes a leave intent about itself by
            # rebroadcasting its join; handleNodeJoin turns a failed or left member alive).
            if m is not None and m.left and m.boot == info["boot"] and not m.forced:
                return
            if m is None or m.status(now) != "alive":
                self.log("INFO", f"nomad: serf: EventMemberJoin: {info['name']} {info['addr']}")
            self.members[info["name"]] = Member(
                info["name"],
                info["addr"],
                int(info["port"]),
                dict(info["tags"]),
                info["boot"],
                now,
            )

    def serf_dispatch(self, req: Request) -> Response:
        if req.path != "/serf/ping":
            return text_error(404, "Invalid URL")
        try:
            msg = unseal(self.key, req.body)
        except (GossipError, ValueError) as exc:
            self.log("WARN", f"nomad: memberlist: failed to receive: {exc} from={req.peer}")
            return text_error(400, str(exc))
        now = time.monotonic()
        if msg.get("type") == "force-leave":
            day2.force_leave(self, msg["member"], bool(msg.get("prune")))
        elif msg.get("type") == "leave":
            with self.lock:
                m = self.members.get(msg["member"]["name"])
                if m is not None and m.boot == msg["member"]["boot"]:
                    m.left = True
                    self.log("INFO", f"nomad: serf: EventMemberLeave: {m.name} {m.addr}")
        else:
            self.observe(msg["member"], now)
            self.learn(msg.get("known", []))
        reply = {"member": self.self_member(), "known": self.known_serf()}
        return Response(200, seal(self.key, reply), "application/octet-stream")

    def learn(self, addrs: list[str]) -> None:
        for a in addrs:
            self.ensure_worker(f"serf:{a}")

    def gossip_once(self, target: str) -> bool:
        """Ping one serf address; returns False when the target turned out to be us."""
        host, port = split_host_port(target, 4648)
        with contextlib.suppress(OSError):
            host = socket.gethostbyname(host)
        body = seal(
            self.key, {"type": "ping", "member": self.self_member(), "known": self.known_serf()}
        )
        try:
            status, data = http_call(host, port, "POST", "/serf/ping", body)
            if status != 200:
                raise GossipError(data.decode(errors="replace"))
            reply = unseal(self.key, data)
        except (OSError, GossipError, ValueError, http.client.HTTPException) as exc:
            self.log("TRACE", f"nomad: memberlist: ping {target} failed: {exc}")
            return True
        if reply["member"]["name"] == self.member_name:
            return False
        self.observe(reply["member"], time.monotonic())
        self.learn(reply.get("known", []))
        return True

    def leave(self) -> None:
        day2.leave(self)  # raft first (nomad/server.go Leave), then leave_serf

    def leave_serf(self) -> None:
        body = seal(self.key, {"type": "leave", "member": self.self_member()})
        targets = self.known_serf()
        self.log(
            "INFO",
            f"nomad: serf: EventMemberLeave: {self.member_name} (telling {len(targets)} members)",
        )
        for t in targets:
            host, port = split_host_port(t, 4648)
            with contextlib.suppress(OSError, http.client.HTTPException):
                http_call(host, port, "POST", "/serf/ping", body, timeout=1.0)
        # serf v0.10.2 serf.go Leave: then LeavePropagateDelay (1 s, config.go), to answer
        # probes until the others know; on the stand-in's serf clock (serf.SCALE).
        time.sleep(serf.LEAVE_PROPAGATE_DELAY * serf.SCALE)

    # -- raft
    def raft_info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "name": self.member_name,
                "rpc": self.rpc_addr,
                "term": self.state.term,
                "leader": self.is_leader,
                "index": self.state.index,
                "voters": self.state.voters,
            }

    def _note_peer(self, info: dict[str, Any], ok_now: float | None) -> RaftPeer:
        with self.lock:
            p = self.peers.get(info["id"]) or RaftPeer(info["id"], info["name"], info["rpc"])
            p.name, p.rpc, p.term = info["name"], info["rpc"], info["term"]
            p.leader, p.index, p.voters = info["leader"], info["index"], info["voters"]
            if ok_now is not None:
                p.last_ok = ok_now
            self.peers[p.id] = p
            return p

    def raft_once(self, rpc_addr: str) -> None:
        try:
            reply = self.agent.rpc.call(rpc_addr, "/raft/heartbeat", self.raft_info())
        except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
            self.log("TRACE", f"nomad.raft: heartbeat to {rpc_addr} failed: {exc}")
            return
        if reply["id"] == self.id:
            self.self_targets.add(rpc_addr)
            return
        peer = self._note_peer(reply, time.monotonic())
        if peer.leader and (peer.term, peer.index) > (self.state.term, self.state.index):
            self.pull_snapshot(peer)

    def pull_snapshot(self, peer: RaftPeer) -> None:
        try:
            snap = self.agent.rpc.call(peer.rpc, "/raft/snapshot", timeout=3.0)
        except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
            self.log("WARN", f"nomad.raft: failed to pull snapshot from {peer.rpc}: {exc}")
            return
        self.install(snap)

    def install(self, snap: dict[str, Any]) -> bool:
        new = ClusterState.from_dict(snap)
        with self.lock:
            if self.is_leader or (new.term, new.index) <= (self.state.term, self.state.index):
                return False
            self.state = new
            self._persist()
        self.log("DEBUG", f"nomad.raft: installed state index={new.index} term={new.term}")
        return True

    def rpc_dispatch(self, req: Request) -> Response:
        if self.cfg.tls.rpc and self.cfg.tls.verify_server_hostname:
            server_name = f"server.{self.cfg.region}.nomad"
            allowed = {server_name}
            if not req.path.startswith("/raft/"):
                allowed.add(f"client.{self.cfg.region}.nomad")
            if not allowed & set(req.peer_names or []):
                self.log(
                    "WARN",
                    f"nomad.rpc: rejecting {req.peer}: certificate names "
                    f"{req.peer_names} do not include {sorted(allowed)}",
                )
                return text_error(403, "rpc error: Permission denied: certificate not valid")
        if req.path == "/raft/heartbeat":
            info = req.json()
            self._note_peer(info, None)
            if info.get("leader") and info.get("id") != self.leader_id:
                self.wake.set()  # a new leader announced itself: look at it now, as raft does
            return ok(self.raft_info())
        if req.path == "/raft/vote":
            return ok({"granted": self.grant_vote(req.json())})
        if req.path == "/raft/snapshot":
            with self.lock:
                return ok(asdict(self.state))
        if req.path == "/raft/install":
            self.install(req.json())
            return ok({"index": self.state.index})
        if req.path == "/rpc/http":
            return self.agent.api.from_forward(req.json())
        if req.path == "/rpc/node":
            return self.node_update(req.json())
        if req.path == "/rpc/resolve":
            return ok(acl_dump(self.agent.api.resolve(req.json()["token"])))
        return text_error(404, "Invalid URL")

    def raft_targets(self) -> set[str]:
        with self.lock:
            targets = {v["rpc"] for v in self.state.voters.values()}
            now = time.monotonic()
            for m in self.members.values():
                if m.status(now) == "alive" and m.tags.get("role") == "nomad":
                    targets.add(f"{m.tags['rpc_addr']}:{m.tags['port']}")
        return targets - {self.rpc_addr} - self.self_targets

    # -- workers
    def ensure_worker(self, key: str) -> None:
        with self.lock:
            if key in self.workers:
                return
            self.workers.add(key)
        threading.Thread(target=self._worker, args=(key,), daemon=True).start()

    def _worker(self, key: str) -> None:
        kind, _, target = key.partition(":")
        stop = self.agent.stop
        while not stop.is_set():
            if kind == "serf":
                if not self.gossip_once(target):
                    return
            elif target in self.self_targets:
                return
            else:
                self.raft_once(target)
            stop.wait(HEARTBEAT)

    def start(self) -> None:
        for entry in self.cfg.retry_join:
            if discover.is_auto_join(entry):
                for addr in discover.log_lookup(entry, self.log):
                    self.ensure_worker(f"serf:{addr}")
                continue
            self.ensure_worker(f"serf:{entry}")
        threading.Thread(target=self._tick_loop, daemon=True).start()

    def _tick_loop(self) -> None:
        while not self.agent.stop.is_set():
            self.wake.wait(HEARTBEAT / 2)
            self.wake.clear()
            if self.agent.stop.is_set():
                return
            for t in self.raft_targets():
                self.ensure_worker(f"raft:{t}")
            try:
                self.tick()
            except Exception as exc:
                self.log("ERROR", f"nomad: leader loop error: {exc!r}")

    # -- election
    def alive_servers(self, now: float) -> dict[str, dict[str, str]]:
        out = {self.id: {"name": self.member_name, "rpc": self.rpc_addr}}
        for m in self.members.values():
            if (
                m.status(now) == "alive"
                and m.tags.get("role") == "nomad"
                and m.tags.get("region") == self.cfg.region
            ):
                rpc = f"{m.tags['rpc_addr']}:{m.tags['port']}"
                out[m.tags["id"]] = {"name": m.name, "rpc": rpc}
        return out

    def _serf_refresh(self, now: float) -> None:
        """Start or advance the suspicion timer of each silent member (serf.py)."""
        with self.lock:
            members = [m for m in self.members.values() if not m.left]
            answering = [m.name for m in members if now - m.last_seen < serf.SUSPECT_AFTER]
            n = len(self.members) + 1  # memberlist's estNumNodes counts itself
            for m in members:
                s = m.suspicion = serf.observe(m.name, m.last_seen, m.suspicion, answering, n, now)
                if s is not None and not s.announced and now >= s.fails_at():
                    s.announced = True  # memberlist state.go suspectNode, serf handleNodeLeave
                    self.log(
                        "INFO",
                        f"nomad: memberlist: Marking {m.name} as failed, suspect timeout "
                        f"reached ({s.confirmations()} peer confirmations)",
                    )
                    self.log("INFO", f"nomad: serf: EventMemberFailed: {m.name} {m.addr}")

    def tick(self) -> None:
        now = time.monotonic()
        self._serf_refresh(now)
        become = False
        with self.lock:
            reachable = {pid for pid, p in self.peers.items() if now - p.last_ok < FAIL_AFTER}
            if not self.state.voters:
                adopt = next(
                    (self.peers[p].voters for p in reachable if self.id in self.peers[p].voters),
                    None,
                )
                alive = self.alive_servers(now)
                if adopt:
                    self.state.voters = dict(adopt)
                    self._persist()
                elif len(alive) >= self.cfg.bootstrap_expect and not any(
                    self.peers[p].voters for p in reachable
                ):
                    self.state.voters = alive
                    self.state.index = max(self.state.index, 1)
                    self._persist()
                    names = ", ".join(sorted(v["name"] for v in alive.values()))
                    self.log(
                        "INFO",
                        f"nomad: found expected number of peers, attempting to "
                        f'bootstrap cluster...: peers="{names}"',
                    )
            leader, become = self._elect(reachable)
            old = self.leader_id
            self.leader_id = leader
            if self.is_leader and leader != self.id:
                self.is_leader = False
                self.log("INFO", "nomad: cluster leadership lost")
        if become and now >= self.next_election:
            self.next_election = now + 2 * HEARTBEAT
            self._run_election()
        elif leader != old:
            rpc = self.leader_rpc()
            self.log("INFO", f"nomad.raft: leader is now {rpc or 'unknown (no leader)'}")
        if self.is_leader:
            self._leader_duties(now)

    def _elect(self, reachable: set[str]) -> tuple[str | None, bool]:
        voters = self.state.voters
        if self.id not in voters:
            claim = [p for p in reachable if self.peers[p].leader]
            return (claim[0] if claim else None), False
        up = {self.id} | (reachable & set(voters))
        if 2 * len(up) <= len(voters):
            return None, False

        def info(pid: str) -> tuple[int, int, str]:
            if pid == self.id:
                return self.state.term, self.state.index, self.rpc_addr
            p = self.peers[pid]
            return p.term, p.index, p.rpc

        claims = [p for p in up if (self.is_leader if p == self.id else self.peers[p].leader)]
        if claims:
            best = max(claims, key=lambda p: (info(p)[0], [-x for x in ip_key(info(p)[2])]))
            return best, False
        # Nobody leads: the up-to-date voter with the lowest address stands for election.
        # Until it has won, the leader is unknown (Nomad answers "" / "No cluster leader").
        cand = min(up, key=lambda p: (-info(p)[1], ip_key(info(p)[2])))
        return None, cand == self.id

    def grant_vote(self, cand: dict[str, Any]) -> bool:
        """Raft's vote rules, simplified: one vote per term, only for an up-to-date candidate,
        and none while this server still follows a live leader."""
        now = time.monotonic()
        with self.lock:
            if cand["term"] <= self.voted_term or cand["index"] < self.state.index:
                return False
            if self.is_leader:
                return False
            lead = self.peers.get(self.leader_id or "")
            if lead and lead.id != cand["id"] and lead.leader and now - lead.last_ok < FAIL_AFTER:
                return False
            if self.voted[0] != cand["id"] and now - self.voted[1] < 3 * HEARTBEAT:
                return False  # give the candidate we just voted for time to announce itself
            self.voted_term = cand["term"]
            self.voted = (cand["id"], now)
            return True

    def _run_election(self) -> None:
        with self.lock:
            term = max([self.state.term, self.voted_term] + [p.term for p in self.peers.values()])
            term += 1
            self.voted_term = term
            self.voted = (self.id, time.monotonic())
            request = {"id": self.id, "term": term, "index": self.state.index}
            others = [v["rpc"] for k, v in self.state.voters.items() if k != self.id]
            needed = len(self.state.voters) // 2 + 1
        grants: list[bool] = []

        def ask(addr: str) -> None:
            with contextlib.suppress(OSError, ApiError, ValueError, http.client.HTTPException):
                grants.append(bool(self.agent.rpc.call(addr, "/raft/vote", request)["granted"]))

        threads = [threading.Thread(target=ask, args=(a,), daemon=True) for a in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL_TIMEOUT + 0.5)
        votes = 1 + sum(grants)
        if votes < needed:
            self.log("DEBUG", f"nomad.raft: election for term {term} lost: {votes}/{needed}")
            return
        self._become_leader(term)

    def _become_leader(self, term: int) -> None:
        with self.lock:
            if self.state.term >= term:
                return
            self.is_leader = True
            self.leader_id = self.id
            self.leader_since = time.monotonic()
            self.node_seen = {}

        def fn(st: ClusterState, idx: int) -> None:
            st.term = term

        self.apply(fn)
        self.log("INFO", f"nomad.raft: entering leader state: leader={self.rpc_addr} term={term}")
        self.log("INFO", "nomad: cluster leadership acquired")
        # Like raft's first AppendEntries: tell the followers at once, not at the next beat.
        with self.lock:
            peers = [p.rpc for p in self.peers.values()]
        for rpc in peers:
            threading.Thread(target=self.raft_once, args=(rpc,), daemon=True).start()

    def leader_rpc(self) -> str:
        with self.lock:
            if self.leader_id is None:
                return ""
            if self.leader_id == self.id:
                return self.rpc_addr
            p = self.peers.get(self.leader_id)
            return p.rpc if p else ""

    def _leader_duties(self, now: float) -> None:
        with self.lock:
            alive = self.alive_servers(now)
            reachable = {pid for pid, p in self.peers.items() if now - p.last_ok < FAIL_AFTER}
            known = self.state.voters | self.state.nonvoters
            add = {
                k: v
                for k, v in alive.items()
                if k not in known and (k == self.id or k in reachable)
            }
            left = {m.tags.get("id") for m in self.members.values() if m.left}
            remove = {k for k in known if k in left}
            stale = {k for k, v in known.items() for n in add.values() if v["rpc"] == n["rpc"]}
            grace = now - self.leader_since > NODE_TTL
            down = [
                nid
                for nid, n in self.state.nodes.items()
                if n["Status"] == "ready"
                and grace
                and now - self.node_seen.get(nid, self.leader_since) > NODE_TTL
            ]
        if add or remove or stale:

            def fn(st: ClusterState, idx: int) -> None:
                for k in remove | stale:
                    st.voters.pop(k, None)
                    st.nonvoters.pop(k, None)
                for k, v in add.items():  # AddNonvoter (raft protocol 3); day2.py promotes
                    (st.voters if k == self.id else st.nonvoters)[k] = v

            self.apply(fn)
            self.log(
                "INFO",
                f"nomad: raft configuration changed: added={sorted(add)} "
                f"removed={sorted(remove | stale)}",
            )
        for nid in down:

            def mark(st: ClusterState, idx: int, nid: str = nid) -> None:
                st.nodes[nid].update(
                    Status="down", ModifyIndex=idx, StatusUpdatedAt=int(time.time())
                )

            self.apply(mark)
            self.log("INFO", f"nomad.heartbeat: node TTL expired, marked down: node_id={nid}")
        self.agent.api.day2.leader_tick(time.time())  # scheduler + drainer

    # -- writes
    def apply(self, fn: Callable[[ClusterState, int], Any]) -> Any:
        """Run a write on the leader's state, persist it and push it to the other servers."""
        with self.lock:
            if not self.is_leader:
                raise ApiError(500, "No cluster leader")
            idx = self.state.index + 1
            result = fn(self.state, idx)
            self.state.index = idx
            self._persist()
            snap = asdict(self.state)
            # Peers out of touch catch up by pulling when they are back (see raft_once).
            now = time.monotonic()
            targets = {p.rpc for p in self.peers.values() if now - p.last_ok < FAIL_AFTER}
        threads = [
            threading.Thread(target=self._push, args=(t, snap), daemon=True) for t in targets
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL_TIMEOUT + 0.5)
        return result

    def _push(self, rpc_addr: str, snap: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ApiError, ValueError, http.client.HTTPException):
            self.agent.rpc.call(rpc_addr, "/raft/install", snap)

    def node_update(self, node: dict[str, Any]) -> Response:
        if not self.is_leader:
            leader = self.leader_rpc()
            if not leader:
                return text_error(500, "No cluster leader")
            try:
                return ok(self.agent.rpc.call(leader, "/rpc/node", node))
            except ApiError as exc:
                return text_error(exc.status, exc.text)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                return text_error(500, f"rpc error: {exc}")
        nid = node["ID"]
        # Node.Register always upserts (state_store.go upsertNodeTxn: a new ModifyIndex, so a
        # restarted client is seen to be back); a heartbeat (Node.UpdateStatus) only a change.
        register = bool(node.pop("__register", False))
        with self.lock:
            self.node_seen[nid] = time.monotonic()
            old = self.state.nodes.get(nid)
            same = (
                not register
                and old is not None
                and old["Status"] == "ready"
                and all(old.get(k) == v for k, v in node.items() if k not in SERVER_OWNED)
            )
        if not same:

            def fn(st: ClusterState, idx: int) -> None:
                create = st.nodes[nid]["CreateIndex"] if nid in st.nodes else idx
                kept = st.nodes.get(nid) or {"DrainStrategy": None, "LastDrain": None}
                st.nodes[nid] = {
                    **node,
                    **{k: kept[k] for k in SERVER_OWNED if k in kept},  # state_store upsertNode
                    "Status": "ready",
                    "CreateIndex": create,
                    "ModifyIndex": idx,
                    "StatusUpdatedAt": int(time.time()),
                }

            self.apply(fn)
            self.log(
                "INFO", f"nomad.client: node registered/updated: node_id={nid} name={node['Name']}"
            )
        with self.lock:
            servers = sorted({v["rpc"] for v in self.state.voters.values()} | {self.rpc_addr})
        return ok({"Servers": servers, "Leader": self.rpc_addr, "HeartbeatTTL": NODE_TTL})
