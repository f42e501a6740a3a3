"""A stand-in `nomad` executable for nomadctl's tests. It is NOT HashiCorp Nomad.

Real Nomad cannot be installed on the test machines (its licence is not open source and no
package registry carries it). nomadctl's tests therefore hand `make_binary(...)` output to
nomadctl's "install from a local binary" path; the hosts run it through systemd as
`nomad agent -config /etc/nomad.d`.

What the stand-in does (see the `agent` package for the details):
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
import py_compile
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

AGENT_PACKAGE = Path(__file__).with_name("agent")
_VERSION_MARKER = 'VERSION = "1.11.0"\n'
_FAULT_DIR_MARKER = 'FAULT_DIR = ""\n'
_ZIP_MAIN = """import sys

sys.path[1:1] = {site_dirs!r}  # run with -S: only the dirs holding its libraries, no .pth files
from nomad_standin.main import main

sys.exit(main())
"""


def _site_dirs() -> list[str]:
    """Where this interpreter finds cryptography, lark and python-hcl2 (site-packages)."""
    import cryptography
    import hcl2
    import lark

    dirs = [str(Path(m.__file__).resolve().parents[1]) for m in (cryptography, lark, hcl2)]
    return list(dict.fromkeys(dirs))


def _bytecode(source: str, name: str) -> bytes:
    """`source` compiled for this interpreter, as an unchecked hash-based .pyc (PEP 552):
    zipimport loads it without compiling or comparing timestamps."""
    with tempfile.TemporaryDirectory() as tmp:
        src, pyc = Path(tmp, "m.py"), Path(tmp, "m.pyc")
        src.write_text(source)
        py_compile.compile(
            str(src),
            str(pyc),
            dfile=name,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return pyc.read_bytes()


def make_binary(dest: Path, version: str = "1.11.0", fault_dir: Path | None = None) -> Path:
    """Write an executable stand-in `nomad` to `dest` and return `dest`.

    The file is a self-contained Python zip application: line 1 is `#!<this interpreter> -S`,
    then a zip of the `agent` package (as `nomad_standin`) with its bytecode, so it keeps
    working when copied onto a test host (the interpreter must have cryptography and
    python-hcl2). It starts like a Go binary would, as far as Python allows: no `site` (the
    library dirs are put on sys.path directly, no .pth file runs) and nothing to compile.
    `version` is what `nomad version` and the agent report (`Nomad v<version>`, build tag in
    members). `fault_dir`: where its test fault points are armed (common.py's FAULT_DIR),
    for agents that do not see $STANDIN_FAULT_DIR (nomadctl gives them a clean environment).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(f"#!{sys.executable} -S\n".encode())
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for module in sorted(AGENT_PACKAGE.glob("*.py")):
                source = module.read_text()
                if module.name == "common.py":
                    if _VERSION_MARKER not in source:
                        raise RuntimeError(f"{module}: version marker not found")
                    source = source.replace(_VERSION_MARKER, f"VERSION = {version!r}\n", 1)
                    if fault_dir is not None:
                        if _FAULT_DIR_MARKER not in source:
                            raise RuntimeError(f"{module}: fault dir marker not found")
                        baked = f"FAULT_DIR = {str(fault_dir)!r}\n"
                        source = source.replace(_FAULT_DIR_MARKER, baked, 1)
                name = f"nomad_standin/{module.name}"
                z.writestr(name, source)
                z.writestr(name + "c", _bytecode(source, name))
            z.writestr("__main__.py", _ZIP_MAIN.format(site_dirs=_site_dirs()))
    mode = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    tmp.chmod(mode)
    os.replace(tmp, dest)
    return dest
