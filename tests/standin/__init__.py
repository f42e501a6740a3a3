"""A stand-in `nomad` executable for nomadctl's tests. It is NOT HashiCorp Nomad.

Real Nomad cannot be installed on the test machines (its licence is not open source and no
package registry carries it). nomadctl's tests therefore hand `make_binary(...)` output to
nomadctl's "install from a local binary" path; the hosts run it through systemd as
`nomad agent -config /etc/nomad.d`.

What the stand-in does (see `agent.py` for the details):
- `nomad version` / `nomad agent -config DIR|FILE ...` (HCL or JSON, merged in name order);
- refuses, with exit code 1 and a `==> Error ...` line on stderr, what Nomad refuses: missing or
  relative `data_dir`, a gossip key that is not base64 of 16/24/32 bytes, missing TLS files,
  a key that does not match its cert, a cert not signed by `ca_file`, and (with
  `verify_server_hostname`) a cert without `server.<region>.nomad` / `client.<region>.nomad`;
- servers join through `retry_join` addresses, gossip membership sealed with the `encrypt`
  key, elect one leader once `bootstrap_expect` servers are up (majority of voters needed),
  and replicate ACL bootstrap state, tokens, policies, nodes and jobs from the leader;
- clients register as nodes and heartbeat; the HTTP API subset nomadctl uses
  (nomad-facts section 5) is served over real TLS with client-certificate checks, ACL tokens
  enforced and Nomad's error texts.

What it does not do: run or schedule workloads, real raft/serf protocols (its own JSON over
HTTP(S) on the same ports instead), UDP, blocking queries, ACL roles, cloud auto-join.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

AGENT_SOURCE = Path(__file__).with_name("agent.py")


def make_binary(dest: Path, version: str = "1.11.0") -> Path:
    """Write an executable stand-in `nomad` to `dest` and return `dest`.

    The file is self-contained: `#!<this interpreter>` followed by the agent's source, so it
    keeps working when copied elsewhere (the interpreter must have cryptography and
    python-hcl2). `version` is what `nomad version` and the agent report (`Nomad v<version>`).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = AGENT_SOURCE.read_text()
    marker = 'VERSION = "1.11.0"\n'
    if marker not in source:
        raise RuntimeError(f"{AGENT_SOURCE}: version marker not found")
    source = source.replace(marker, f"VERSION = {version!r}\n", 1)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_text(f"#!{sys.executable}\n# nomad stand-in for nomadctl tests (not HashiCorp "
                   f"Nomad), generated from {AGENT_SOURCE.name}\n{source}")
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP
              | stat.S_IROTH)
    os.replace(tmp, dest)
    return dest
