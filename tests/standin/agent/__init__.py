"""A stand-in for the HashiCorp Nomad agent, for nomadctl's tests. It is NOT Nomad.

Real Nomad cannot be installed on the test machines, so nomadctl's tests upload this program
as `nomad` and run it as `nomad agent -config /etc/nomad.d`. It reads the agent HCL that
nomadctl writes, refuses the configurations real Nomad refuses (bad data_dir, bad gossip key,
missing or mismatched TLS files, certificates without the `server.<region>.nomad` /
`client.<region>.nomad` names), and serves the subset of the HTTP API that nomadctl uses over
real TLS with client-certificate checks. Unknown keys are fatal where Nomad makes them fatal
(strict.py, with the keys read from Nomad's source per minor version: nomad_keys.py), driver
`plugin` configs are checked against the docker and raw_exec specs, and HCL1 string literals
are scanned as Nomad's HCL1 scanner does (`${` keeps a literal open).

What it does, in short:
- servers find each other through `retry_join` addresses (a small gossip exchange over TCP on
  the serf port, AES-GCM sealed with the `encrypt` key, so servers with different keys never
  see each other), mark a member `failed` after ~3 s of silence and `left` after a graceful
  leave;
- "raft" is a heartbeat over HTTPS on the RPC port (mutual TLS, `server.<region>.nomad` checked
  with verify_server_hostname). Once `bootstrap_expect` servers are alive they fix the voter
  set; a leader needs a majority of voters reachable and is the reachable voter with the
  newest state, lowest address on ties; an existing leader is kept while it holds quorum;
- cluster state (ACL bootstrap + reset index, tokens, policies, nodes, jobs) is written on
  the leader, pushed to followers synchronously on every write, pulled by lagging followers
  on heartbeats, and persisted in `<data_dir>/server/state.json`;
- clients register and heartbeat over the same RPC channel and become `ready` nodes, `down`
  after ~4 s of silence; jobs are stored and listed, never run.
- day 2 (day2.py, drain.py): node drain and eligibility over a sketch of allocations (placed,
  migrated, stopped at a drain's deadline, never run), autopilot health, non-voters promoted
  after server_stabilization_time, dead servers cleaned up, raft peer removal, force-leave,
  a graceful leave that waits to be out of raft, and SIGHUP reloading the TLS files.
- `alloc exec` over a WebSocket (wsexec.py), as the web UI's terminal uses it: the upgrade
  checked as gorilla/websocket does (same Origin), the server's and client's checks, and the
  command run for real on this machine with Nomad's JSON frames;
- outage recovery (recovery.py): a `peers.json` in `<data_dir>/server/raft/` is applied at
  start as Nomad's setupRaft and raft's RecoverCluster do (data kept, the configuration
  replaced), then deleted; the first start writes `peers.info`.

What it does not do: schedule or run anything, a real raft log, blocking queries, namespaces
other than as labels, ACL roles, UDP, cloud auto-join lookups (`provider=...` entries are
parsed and checked as go-discover does, discover.py, and logged as failed lookups: there is no
cloud API to ask). Job files sent to /v1/jobs/parse are checked as jobspec2 reads them
(jobcheck.py: the api structs' keys, driver task configs).
"""

from .main import main

__all__ = ["main"]
