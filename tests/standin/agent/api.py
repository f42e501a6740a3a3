"""The HTTP API subset nomadctl uses (nomad-facts section 5), with ACL checks and Nomad's errors."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import http.client
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import day2, onetime, snapshot
from .acl import Acl, acl_from_rules, acl_load, parse_rules
from .common import (
    NODE_TTL,
    REVISION,
    VERSION,
    ApiError,
    go_bool,
    hold_after_apply,
    now_rfc3339,
)
from .jobspec import hcl_job_to_api
from .server import Member, ServerRole
from .state import ClusterState
from .transport import Request, Response, ok, response_from, text_error

if TYPE_CHECKING:
    from .main import Agent


# ---------------------------------------------------------------------------- HTTP API


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    token: str
    body: bytes
    hops: int = 0

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            raise ApiError(400, "Request body could not be decoded as JSON") from None


Route = tuple[set[str], re.Pattern[str], str, str]  # methods, path, handler, where


def _r(methods: str, pattern: str, handler: str, where: str) -> Route:
    return set(methods.split("|")), re.compile(f"^{pattern}$"), handler, where


ROUTES: list[Route] = [
    _r("GET", "/v1/status/leader", "status_leader", "local"),
    _r("GET", "/v1/status/peers", "status_peers", "local"),
    _r("GET", "/v1/regions", "regions", "local"),
    _r("GET", "/v1/agent/members", "members", "server"),
    _r("GET", "/v1/agent/self", "agent_self", "agent"),
    _r("GET", "/v1/agent/health", "agent_health", "agent"),
    _r("GET", "/v1/agent/servers", "agent_servers", "agent"),
    _r("PUT|POST", "/v1/jobs/parse", "jobs_parse", "server"),
    _r("GET", "/v1/operator/raft/configuration", "raft_configuration", "leader"),
    _r("PUT|POST", "/v1/acl/bootstrap", "acl_bootstrap", "leader"),
    _r("GET", "/v1/acl/policies", "acl_policies", "leader"),
    _r("GET|PUT|POST|DELETE", "/v1/acl/policy/(?P<name>[^/]+)", "acl_policy", "leader"),
    _r("GET", "/v1/acl/tokens", "acl_tokens", "leader"),
    _r("PUT|POST", "/v1/acl/token", "acl_token_create", "leader"),
    _r("GET", "/v1/acl/token/self", "acl_token_self", "leader"),
    *(_r(*spec) for spec in onetime.ROUTES_SPEC),  # one-time tokens, /ui/ (test page)
    _r("GET|PUT|POST|DELETE", "/v1/acl/token/(?P<id>[^/]+)", "acl_token", "leader"),
    _r("GET", "/v1/nodes", "nodes", "leader"),
    _r("GET", "/v1/node/(?P<id>[^/]+)", "node", "leader"),
    _r("GET", "/v1/jobs", "jobs_list", "leader"),
    _r("PUT|POST", "/v1/jobs", "jobs_register", "leader"),
    _r("GET|DELETE", "/v1/job/(?P<id>[^/]+)", "job", "leader"),
    _r("PUT|POST", "/v1/job/(?P<id>[^/]+)", "jobs_register", "leader"),
    *day2.ROUTES,  # drain, eligibility, autopilot health, raft peer, force-leave
    *snapshot.ROUTES,  # raft snapshot save/restore, variables
]


class Api:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.cfg = agent.cfg
        self.day2 = day2.Day2(self)
        self.snapshots = snapshot.Snapshots(self)
        self.onetime = onetime.OneTime(self)

    # -- entry points
    def http_dispatch(self, req: Request) -> Response:
        token = req.headers.get("x-nomad-token", "")
        auth = req.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        return self.handle(Call(req.method, req.path, req.query, token, req.body))

    def from_forward(self, p: dict[str, Any]) -> Response:
        call = Call(
            p["method"], p["path"], p["query"], p["token"], base64.b64decode(p["body"]), p["hops"]
        )
        resp = self.handle(call)
        return ok(
            {
                "status": resp.status,
                "ctype": resp.ctype,
                "headers": resp.headers,
                "body": base64.b64encode(resp.body).decode(),
            }
        )

    def handle(self, call: Call) -> Response:
        if call.method == "HEAD":
            call.method = "GET"
        path_known = False
        for methods, pattern, name, where in ROUTES:
            m = pattern.match(call.path)
            if not m:
                continue
            path_known = True
            if call.method not in methods:
                continue
            srv = self.agent.server
            if call.path.startswith("/v1/acl/") and srv is not None and not self.cfg.acl_enabled:
                return text_error(400, "ACL support disabled")
            if where in ("server", "leader") and srv is None:
                return self._forward_to(None, call)
            if where == "leader" and srv is not None and not srv.is_leader:
                leader = srv.leader_rpc()
                if not leader or leader == srv.rpc_addr or call.hops > 2:
                    return text_error(500, "No cluster leader")
                return self._forward_to(leader, call)
            try:
                owner = {"day2": self.day2, "snap": self.snapshots, "ott": self.onetime}.get(
                    name.split("_")[0], self
                )
                resp = getattr(owner, name)(call, m)
            except ApiError as exc:
                return text_error(exc.status, exc.text)
            resp.headers.setdefault(
                "X-Nomad-KnownLeader", "true" if srv and srv.leader_id else "false"
            )
            if srv is not None:
                resp.headers.setdefault("X-Nomad-Index", str(max(srv.state.index, 1)))
            resp.headers.setdefault("X-Nomad-LastContact", "0")
            return resp
        return text_error(405, "Invalid method") if path_known else text_error(404, "Invalid URL")

    def _forward_to(self, rpc_addr: str | None, call: Call) -> Response:
        payload = {
            "method": call.method,
            "path": call.path,
            "query": call.query,
            "token": call.token,
            "body": base64.b64encode(call.body).decode(),
            "hops": call.hops + 1,
        }
        if rpc_addr is None:
            assert self.agent.client is not None
            return self.agent.client.forward(payload)
        try:
            return response_from(self.agent.rpc.call(rpc_addr, "/rpc/http", payload, 5.0))
        except ApiError as exc:
            return text_error(exc.status, exc.text)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return text_error(500, f"rpc error: failed to forward to leader {rpc_addr}: {exc}")

    # -- ACL
    def resolve(self, token: str) -> Acl:
        if not self.cfg.acl_enabled:
            return Acl(management=True)
        srv = self.agent.server
        if srv is None:
            assert self.agent.client is not None
            for server in self.agent.client.ordered_servers():
                try:
                    return acl_load(self.agent.rpc.call(server, "/rpc/resolve", {"token": token}))
                except ApiError as exc:
                    raise ApiError(exc.status, exc.text) from None
                except (OSError, ValueError, http.client.HTTPException):
                    continue
            raise ApiError(500, "No known servers")
        with srv.lock:
            st = srv.state
            if not token:
                anon = st.policies.get("anonymous")
                return acl_from_rules([anon["Rules"]] if anon else [])
            tok = st.token_by_secret(token)
            if tok is None:
                raise ApiError(403, "ACL token not found")
            if tok["Type"] == "management":
                return Acl(management=True)
            rules = [st.policies[p]["Rules"] for p in tok.get("Policies") or [] if p in st.policies]
        return acl_from_rules(rules)

    def need(self, call: Call, scope: str, level: str = "read") -> Acl:
        acl = self.resolve(call.token)
        if scope == "management" and not acl.management:
            raise ApiError(403, "Permission denied")
        if scope != "management" and not acl.allows(scope, level):
            raise ApiError(403, "Permission denied")
        return acl

    def need_ns(self, call: Call, ns: str, cap: str) -> Acl:
        acl = self.resolve(call.token)
        if not acl.allows_ns(ns, cap):
            raise ApiError(403, "Permission denied")
        return acl

    # -- status / agent
    def _srv(self) -> ServerRole:
        assert self.agent.server is not None
        return self.agent.server

    def status_leader(self, call: Call, m: re.Match[str]) -> Response:
        self._check_region(call)
        if self.agent.server is None:
            return self._forward_to(None, call)
        return ok(self._srv().leader_rpc())

    def _check_region(self, call: Call) -> None:
        region = call.query.get("region")
        if region and region != self.cfg.region:
            raise ApiError(500, "No path to region")

    def status_peers(self, call: Call, m: re.Match[str]) -> Response:
        self._check_region(call)
        if self.agent.server is None:
            return self._forward_to(None, call)
        srv = self._srv()
        with srv.lock:
            raft = srv.state.voters | srv.state.nonvoters
            return ok(sorted(v["rpc"] for v in raft.values()))

    def regions(self, call: Call, m: re.Match[str]) -> Response:
        return ok([self.cfg.region])

    def members(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "node")
        srv = self._srv()
        now = time.monotonic()
        me = srv.self_member()
        with srv.lock:
            others = [x.to_api(now) for x in srv.members.values()]
        mine = Member(me["name"], me["addr"], me["port"], me["tags"], me["boot"], now).to_api(now)
        members = sorted([mine, *others], key=lambda x: x["Name"])
        return ok(
            {
                "ServerName": self.cfg.name,
                "ServerRegion": self.cfg.region,
                "ServerDC": self.cfg.datacenter,
                "Members": members,
            }
        )

    def agent_self(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "agent")
        cfg = self.cfg
        srv = self.agent.server
        adv = {k: f"{h}:{p}" for k, (h, p) in cfg.advertise.items()}
        config = {
            "Region": cfg.region,
            "Datacenter": cfg.datacenter,
            "NodeName": cfg.name,
            "DataDir": cfg.data_dir,
            "LogLevel": cfg.log_level,
            "BindAddr": cfg.bind_addr,
            "Ports": {
                "HTTP": cfg.ports["http"],
                "RPC": cfg.ports["rpc"],
                "Serf": cfg.ports["serf"],
            },
            "Addresses": {k.upper() if k != "serf" else "Serf": v for k, v in cfg.bind.items()},
            "AdvertiseAddrs": {"HTTP": adv["http"], "RPC": adv["rpc"], "Serf": adv["serf"]},
            "ACL": {"Enabled": cfg.acl_enabled},
            "Server": {
                "Enabled": cfg.server_enabled,
                "BootstrapExpect": cfg.bootstrap_expect,
                "EncryptKey": "<redacted>" if cfg.encrypt else "",
                "ServerJoin": {"RetryJoin": cfg.retry_join},
            },
            "Client": {
                "Enabled": cfg.client_enabled,
                "Servers": cfg.client_servers,
                "NodePool": cfg.node_pool,
                "NodeClass": cfg.node_class,
                "Meta": cfg.meta,
            },
            "TLSConfig": {
                "EnableHTTP": cfg.tls.http,
                "EnableRPC": cfg.tls.rpc,
                "VerifyServerHostname": cfg.tls.verify_server_hostname,
                "VerifyHTTPSClient": cfg.tls.verify_https_client,
                "CAFile": cfg.tls.ca_file,
                "CertFile": cfg.tls.cert_file,
                "KeyFile": cfg.tls.key_file,
            },
            "LeaveOnTerm": cfg.leave_on_terminate,
            "LeaveOnInt": cfg.leave_on_interrupt,
            "Version": {
                "Version": VERSION,
                "VersionPrerelease": "",
                "VersionMetadata": "",
                "Revision": REVISION,
            },
            "Files": cfg.files,
        }
        stats: dict[str, Any] = {
            "runtime": {"arch": "amd64", "os": "linux", "version": "standin (python)"}
        }
        member: dict[str, Any] = {}
        if srv is not None:
            now = time.monotonic()
            me = srv.self_member()
            member = Member(me["name"], me["addr"], me["port"], me["tags"], me["boot"], now).to_api(
                now
            )
            stats["nomad"] = {
                "server": "true",
                "leader": str(srv.is_leader).lower(),
                "leader_addr": srv.leader_rpc(),
                "bootstrap": "false",
                "known_regions": "1",
            }
            stats["raft"] = {
                "state": "Leader" if srv.is_leader else "Follower",
                "last_log_index": str(srv.state.index),
                "term": str(srv.state.term),
                "num_peers": str(max(len(srv.state.voters) - 1, 0)),
            }
        if self.agent.client is not None:
            stats["client"] = {
                "node_id": self.agent.client.node_id,
                "known_servers": ",".join(self.agent.client.servers),
                "heartbeat_ttl": str(NODE_TTL),
            }
        return ok({"config": config, "member": member, "stats": stats})

    def agent_health(self, call: Call, m: re.Match[str]) -> Response:
        out: dict[str, Any] = {}
        if self.agent.server is not None:
            out["server"] = {"ok": True, "message": "ok"}
        if self.agent.client is not None:
            reg = self.agent.client.registered
            out["client"] = {"ok": reg, "message": "ok" if reg else "no known servers"}
        return ok(out)

    def agent_servers(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "agent")
        if self.agent.client is not None:
            return ok(list(self.agent.client.servers))
        return ok([self._srv().rpc_addr])

    def raft_configuration(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        srv = self._srv()
        with srv.lock:
            servers = [
                {
                    "ID": k,
                    "Node": v["name"],
                    "Address": v["rpc"],
                    "Leader": k == srv.leader_id,
                    "Voter": k in srv.state.voters,
                    "RaftProtocol": "3",
                }
                for k, v in sorted(
                    (srv.state.voters | srv.state.nonvoters).items(), key=lambda kv: kv[1]["rpc"]
                )
            ]
            return ok({"Index": srv.state.index, "Servers": servers})

    # -- ACL endpoints (leader)
    def acl_bootstrap(self, call: Call, m: re.Match[str]) -> Response:
        # nomad/acl_endpoint.go (v1.10.5) ACL.Bootstrap: "already done" (or a wrong reset
        # index) is answered before the BootstrapSecret is looked at; a secret that is no
        # UUID is then 400 "invalid acl token"; a good one becomes the token's SecretID.
        srv = self._srv()
        body = call.json() or {}
        secret = str(body.get("BootstrapSecret") or "")

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            if st.acl_bootstrap_index:
                reset = self._reset_index(srv)
                if reset == 0:
                    raise ApiError(
                        400, f"ACL bootstrap already done (reset index: {st.acl_bootstrap_index})"
                    )
                if reset != st.acl_bootstrap_index:
                    raise ApiError(
                        400,
                        f"Invalid bootstrap reset index (specified {reset}, "
                        f"reset index: {st.acl_bootstrap_index})",
                    )
            if secret:
                try:
                    uuid.UUID(secret)
                except ValueError:
                    raise ApiError(400, "invalid acl token") from None
            token = self._new_token(idx, "Bootstrap Token", "management", None, secret)
            st.tokens[token["AccessorID"]] = token
            st.acl_bootstrap_index = idx
            return token

        token = srv.apply(fn)
        srv.log("INFO", f"nomad.acl: ACL bootstrap completed: accessor={token['AccessorID']}")
        hold_after_apply("acl-bootstrap")
        return ok(token)

    @staticmethod
    def _reset_index(srv: ServerRole) -> int:
        """<data_dir>/server/acl-bootstrap-reset, read as Nomad's fileBootstrapResetIndex
        does: fmt.Sscanf(raw, "%d") (leading spaces skipped, digits up to the first other
        character); unreadable or unparsable counts as 0 and is logged."""
        path = srv.dir / "acl-bootstrap-reset"
        try:
            raw = path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        except OSError as exc:
            srv.log("ERROR", f"nomad.acl: failed to read bootstrap file: path={path} error={exc}")
            return 0
        found = re.match(r"\s*([+-]?\d+)", raw)
        if found is None or int(found.group(1)) < 0:
            srv.log("ERROR", f"nomad.acl: failed to parse bootstrap file: path={path}")
            return 0
        return int(found.group(1))

    @staticmethod
    def _new_token(
        idx: int, name: str, typ: str, policies: list[str] | None, secret: str = ""
    ) -> dict[str, Any]:
        secret = secret or str(uuid.uuid4())
        return {
            "AccessorID": str(uuid.uuid4()),
            "SecretID": secret,
            "Name": name,
            "Type": typ,
            "Policies": policies,
            "Roles": None,
            "Global": True,
            "Hash": base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode(),
            "CreateTime": now_rfc3339(),
            "ExpirationTime": None,
            "ExpirationTTL": 0,
            "CreateIndex": idx,
            "ModifyIndex": idx,
        }

    def acl_policies(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        st = self._srv().state
        return ok(
            [
                {
                    "Name": p["Name"],
                    "Description": p["Description"],
                    "CreateIndex": p["CreateIndex"],
                    "ModifyIndex": p["ModifyIndex"],
                }
                for p in sorted(st.policies.values(), key=lambda p: p["Name"])
            ]
        )

    def acl_policy(self, call: Call, m: re.Match[str]) -> Response:
        srv = self._srv()
        name = m["name"]
        if call.method == "GET":
            acl_token = srv.state.token_by_secret(call.token) if call.token else None
            own = acl_token is not None and name in (acl_token.get("Policies") or [])
            if not own:
                self.need(call, "management")
            pol = srv.state.policies.get(name)
            if pol is None:
                raise ApiError(404, "ACL policy not found")
            return ok(pol)
        self.need(call, "management")
        if call.method == "DELETE":
            srv.apply(lambda st, idx: st.policies.pop(name, None))
            return ok(None)
        body = call.json() or {}
        rules = str(body.get("Rules") or "")
        try:
            parse_rules(rules)
        except Exception as exc:
            raise ApiError(400, f"failed to parse rules: {exc}") from None

        def fn(st: ClusterState, idx: int) -> None:
            old = st.policies.get(name)
            st.policies[name] = {
                "Name": name,
                "Description": str(body.get("Description") or ""),
                "Rules": rules,
                "JobACL": body.get("JobACL"),
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            }

        srv.apply(fn)
        return ok(None)

    def acl_tokens(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        return ok(
            [
                {k: v for k, v in t.items() if k != "SecretID"}
                for t in self._srv().state.tokens.values()
            ]
        )

    def acl_token_create(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        body = call.json() or {}
        typ = str(body.get("Type") or "")
        policies = list(body.get("Policies") or [])
        if typ not in ("client", "management"):
            raise ApiError(400, "token type must be client or management")
        if typ == "client" and not policies and not body.get("Roles"):
            raise ApiError(400, "client token missing policies or roles")
        if typ == "management" and policies:
            raise ApiError(400, "management token cannot be associated with policies")

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            token = self._new_token(idx, str(body.get("Name") or ""), typ, policies or None)
            st.tokens[token["AccessorID"]] = token
            return token

        token = self._srv().apply(fn)
        hold_after_apply("acl-token-create")
        return ok(token)

    def acl_token_self(self, call: Call, m: re.Match[str]) -> Response:
        st = self._srv().state
        tok = st.token_by_secret(call.token) if call.token else None
        if tok is None:
            raise ApiError(403, "ACL token not found" if call.token else "Permission denied")
        return ok(tok)

    def acl_token(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        srv = self._srv()
        acc = m["id"]
        if acc not in srv.state.tokens and call.method == "DELETE":
            # nomad/acl_endpoint.go ACL.DeleteTokens (v1.10.5): the HTTP route looks nothing
            # up first (command/agent/acl_endpoint.go aclTokenDelete); the RPC refuses.
            raise ApiError(400, f"Cannot delete nonexistent tokens: {acc}")
        if acc not in srv.state.tokens:
            raise ApiError(404, "ACL token not found")
        if call.method == "DELETE":
            srv.apply(lambda st, idx: st.tokens.pop(acc, None))
            return ok(None)
        if call.method == "GET":
            return ok(srv.state.tokens[acc])
        body = call.json() or {}

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            t = st.tokens[acc]
            for k in ("Name", "Policies"):
                if k in body:
                    t[k] = body[k]
            t["ModifyIndex"] = idx
            return dict(t)

        return ok(srv.apply(fn))

    # -- nodes
    def nodes(self, call: Call, m: re.Match[str]) -> Response:
        # command/agent/node_endpoint.go NodesRequest: the fields are parsed before the RPC
        # (parseNodeListStubFields: `resources` and `os` through strconv.ParseBool, a bad
        # value is 400 "Failed to parse node list fields: ..."); structs.Node.Stub adds
        # NodeResources and ReservedResources for resources=true and Attributes holding only
        # "os.name" for os=true, each left out otherwise (`json:",omitempty"`).
        try:
            resources = go_bool(call.query, "resources")
            with_os = go_bool(call.query, "os")
        except ValueError as exc:
            raise ApiError(400, f"Failed to parse node list fields: {exc}") from None
        self.need(call, "node")
        prefix = call.query.get("prefix", "")
        keys = (
            "ID",
            "Name",
            "Datacenter",
            "NodePool",
            "NodeClass",
            "Address",
            "Status",
            "StatusDescription",
            "Drain",
            "SchedulingEligibility",
            "Version",
            "Drivers",
            "LastDrain",
            "CreateIndex",
            "ModifyIndex",
        )
        with self._srv().lock:
            nodes = list(self._srv().state.nodes.values())
        out = []
        for n in nodes:
            if not n["ID"].startswith(prefix):
                continue
            stub = {k: n.get(k, "") for k in keys}
            if resources:
                stub["NodeResources"] = n.get("NodeResources")
                stub["ReservedResources"] = n.get("ReservedResources")
            if with_os:
                stub["Attributes"] = {"os.name": (n.get("Attributes") or {}).get("os.name", "")}
            out.append(stub)
        return ok(sorted(out, key=lambda n: n["ID"]))

    def node(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "node")
        with self._srv().lock:
            nodes = self._srv().state.nodes
            match = [n for k, n in nodes.items() if k.startswith(m["id"])]
        if len(match) != 1:
            raise ApiError(404, "node not found")
        return ok(match[0])

    # -- jobs
    def _job_status(self, job: dict[str, Any]) -> str:
        if job.get("Stop"):
            return "dead"
        dcs = job.get("Datacenters") or ["*"]
        pool = job.get("NodePool") or "default"
        with self._srv().lock:
            nodes = list(self._srv().state.nodes.values())
        for n in nodes:
            if (
                n["Status"] == "ready"
                and any(fnmatch.fnmatchcase(n["Datacenter"], d) for d in dcs)
                and pool in ("all", n["NodePool"])
            ):
                return "running"
        return "pending"

    def jobs_register(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        job = body.get("Job") if isinstance(body, dict) else None
        if not isinstance(job, dict):
            raise ApiError(400, "Job must be specified")
        if not job.get("ID"):
            raise ApiError(400, "Job ID hasn't been provided")
        if "id" in m.groupdict() and m["id"] != job["ID"]:
            raise ApiError(400, "Job ID does not match name")
        ns = str(job.get("Namespace") or call.query.get("namespace") or "default")
        self.need_ns(call, ns, "submit-job")
        key = f"{ns}/{job['ID']}"
        eval_id = str(uuid.uuid4())

        def fn(st: ClusterState, idx: int) -> int:
            old = st.jobs.get(key)
            stored = {
                "Name": job["ID"],
                "Type": "service",
                "Priority": 50,
                "Datacenters": ["*"],
                "NodePool": "default",
                "Region": self.cfg.region,
                **job,
                "Namespace": ns,
                "Stop": bool(job.get("Stop", False)),
                "Version": (old["Version"] + 1) if old else 0,
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
                "JobModifyIndex": idx,
                "SubmitTime": time.time_ns(),
            }
            st.jobs[key] = stored
            return idx

        idx = self._srv().apply(fn)
        return ok(
            {
                "EvalID": eval_id,
                "EvalCreateIndex": idx,
                "JobModifyIndex": idx,
                "Warnings": "",
                "Index": idx,
                "LastContact": 0,
                "KnownLeader": True,
            }
        )

    def jobs_list(self, call: Call, m: re.Match[str]) -> Response:
        ns = call.query.get("namespace", "default")
        self.need_ns(call, ns if ns != "*" else "default", "list-jobs")
        prefix = call.query.get("prefix", "")
        with self._srv().lock:
            jobs = [
                j
                for k, j in self._srv().state.jobs.items()
                if (ns == "*" or k.startswith(f"{ns}/")) and j["ID"].startswith(prefix)
            ]
        out = []
        for j in sorted(jobs, key=lambda j: j["ID"]):
            out.append(
                {
                    "ID": j["ID"],
                    "ParentID": j.get("ParentID", ""),
                    "Name": j["Name"],
                    "Namespace": j["Namespace"],
                    "Datacenters": j["Datacenters"],
                    "NodePool": j["NodePool"],
                    "Multiregion": None,
                    "Type": j["Type"],
                    "Priority": j["Priority"],
                    "Periodic": False,
                    "ParameterizedJob": False,
                    "Stop": j["Stop"],
                    "Status": self._job_status(j),
                    "StatusDescription": "",
                    "JobSummary": {
                        "JobID": j["ID"],
                        "Namespace": j["Namespace"],
                        "Summary": {},
                        "CreateIndex": j["CreateIndex"],
                        "ModifyIndex": j["ModifyIndex"],
                    },
                    "CreateIndex": j["CreateIndex"],
                    "ModifyIndex": j["ModifyIndex"],
                    "JobModifyIndex": j["JobModifyIndex"],
                    "SubmitTime": j["SubmitTime"],
                }
            )
        return ok(out)

    def job(self, call: Call, m: re.Match[str]) -> Response:
        ns = call.query.get("namespace", "default")
        key = f"{ns}/{m['id']}"
        srv = self._srv()
        if call.method == "DELETE":
            # command/agent/job_endpoint.go jobDelete parses `purge` with strconv.ParseBool
            # and returns a plain error (so a 500) for a bad value; nomad/job_endpoint.go
            # Job.Deregister answers a job that does not exist with an empty reply, no error.
            try:
                purge = bool(go_bool(call.query, "purge"))
            except ValueError as exc:
                raise ApiError(500, str(exc)) from None
            self.need_ns(call, ns, "submit-job")
            if key not in srv.state.jobs:
                return ok(
                    {
                        "EvalID": "",
                        "EvalCreateIndex": 0,
                        "JobModifyIndex": 0,
                        "VolumeEvalID": "",
                        "VolumeEvalIndex": 0,
                        "Index": 0,
                        "LastContact": 0,
                        "KnownLeader": False,
                        "NextToken": "",
                    }
                )

            def fn(st: ClusterState, idx: int) -> int:
                if purge:
                    st.jobs.pop(key, None)
                else:
                    st.jobs[key].update(Stop=True, ModifyIndex=idx, JobModifyIndex=idx)
                return idx

            idx = srv.apply(fn)
            return ok(
                {
                    "EvalID": str(uuid.uuid4()),
                    "EvalCreateIndex": idx,
                    "JobModifyIndex": idx,
                    "Index": idx,
                }
            )
        self.need_ns(call, ns, "read-job")
        with srv.lock:
            job = srv.state.jobs.get(key)
        if job is None:
            raise ApiError(404, "job not found")
        return ok({**job, "Status": self._job_status(job)})

    def jobs_parse(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        ns = call.query.get("namespace", "default")
        acl = self.resolve(call.token)
        if not (acl.allows_ns(ns, "parse-job") or acl.allows_ns(ns, "submit-job")):
            raise ApiError(403, "Permission denied")
        try:
            job = hcl_job_to_api(
                str(body.get("JobHCL") or ""),
                bool(body.get("Canonicalize", False)),
                self.cfg.region,
            )
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(400, f"error parsing job: {exc}") from None
        return ok(job)
