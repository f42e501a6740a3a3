"""Who a node's agent runs as: servers as the unprivileged `nomad` user, clients as root.

HashiCorp's own unit says it (.release/linux/package/usr/lib/systemd/system/nomad.service,
hashicorp/nomad v1.10.5): "Nomad clients need to be run as "root" whereas Nomad servers should
be run as the "nomad" user" -- a client's docker and exec drivers mount, chroot and manage
cgroups, a server only serves raft, serf and HTTP on unprivileged ports (4646-4648) and writes
its data dir. So a server needs no capability at all.

What a server may touch:
- its data dir, `nomad:nomad` 0700: the only place it writes;
- the config dir, the TLS dir and `/opt/nomad`, `root:nomad` 0750: it reads and traverses
  them but cannot add or replace a file;
- the files holding secrets it reads (agent config with the gossip key, join config, TLS key,
  licence), `root:nomad` 0640: root's, so an agent taken over cannot rewrite its own config
  (turn TLS checks or ACLs off) for the next start, nor swap its key. The CA and the
  certificate stay 0644 root's.
Clients keep everything root's and 0700/0600, as before.

The user is made as HashiCorp's package makes it (.release/linux/preinst: `useradd --system
--user-group`: a system user with a group of its name), only when missing, with no login
shell. An agent that ran as root (a cluster made before this) moves over when it next
restarts (the roll, one server at a time):
`MIGRATE`, run between stop and start, hands the data dir's files to `nomad` -- children
first, the directory itself last, so a data dir that `nomad` owns is a finished move.
"""

from __future__ import annotations

from nomadctl.node import render

USER = render.NOMAD_USER
ROOT = "root:root"
SERVER_READS = f"root:{USER}"  # owner of what a server reads but must not change
DATA_OWNER = f"{USER}:{USER}"
OPT_DIR = "/opt/nomad"
# Files with secrets that a server agent reads (group nomad, 0640 on servers).
SECRET_FILES = (
    f"{render.CONFIG_DIR}/nomad.hcl",
    render.JOIN_PATH,
    f"{render.TLS_DIR}/node-key.pem",
    render.LICENSE_PATH,
)
SHARED_DIRS = (render.CONFIG_DIR, render.TLS_DIR, OPT_DIR)

# The group first (a `nomad` group left without its user would make `--user-group` fail).
ENSURE_USER = f"""\
if ! getent group {USER} >/dev/null; then
  groupadd --system {USER}
fi
if ! id -u {USER} >/dev/null 2>&1; then
  useradd --system --gid {USER} --home-dir {render.DATA_DIR} --no-create-home \\
    --shell /usr/sbin/nologin {USER}
fi"""

# Children first (no symlink followed: -h, and find does not descend through links), the
# directory last: a data dir owned by nomad is one whose move is complete.
MIGRATE = f"""\
if [ "$(stat -c %U:%G {render.DATA_DIR})" != {DATA_OWNER} ]; then
  find {render.DATA_DIR} -mindepth 1 \\( ! -user {USER} -o ! -group {USER} \\) \
-exec chown -h {DATA_OWNER} {{}} +
  chown {DATA_OWNER} {render.DATA_DIR}
fi"""


def as_nomad(role: str) -> bool:
    """The agent of a node with this role runs as `nomad` (servers only)."""
    return role == "server"


def secret_access(role: str) -> tuple[int, str]:
    """(mode, owner) of a file holding a secret the agent reads."""
    return (0o640, SERVER_READS) if as_nomad(role) else (0o600, ROOT)


def wanted_dirs(role: str) -> dict[str, tuple[int, str]]:
    """Every directory nomadctl owns on a node of this role: path -> (mode, owner)."""
    if as_nomad(role):
        return {
            **{d: (0o750, SERVER_READS) for d in SHARED_DIRS},
            render.DATA_DIR: (0o700, DATA_OWNER),
        }
    return {d: (0o700, ROOT) for d in (*SHARED_DIRS, render.DATA_DIR)}


def data_moved(dirs: dict[str, tuple[int, str]]) -> bool:
    """The data dir (as the node check saw it, path -> (mode, owner)) is nomad's, or not made
    yet (it is then made nomad's)."""
    seen = dirs.get(render.DATA_DIR)
    return seen is None or seen[1] == DATA_OWNER


def unit_user(role: str) -> str | None:
    """The unit's `User=`/`Group=`: None (root) for clients."""
    return USER if as_nomad(role) else None


def dir_script(role: str) -> list[str]:
    """Shell lines run as root after the upload: directories and secret files get the role's
    owners and modes (whatever an installer did: HashiCorp's postinst chowns /etc/nomad.d to
    nomad), the data dir is made if missing. An existing data dir's owner is left to
    `MIGRATE`, run when the agent is stopped."""
    shared = " ".join(SHARED_DIRS)
    if not as_nomad(role):
        return [f"install -d -m 0700 -o root -g root {render.DATA_DIR}"]
    secrets = " ".join(SECRET_FILES)
    return [
        f"chgrp {USER} {shared}",
        f"chmod 0750 {shared}",
        f'for f in {secrets}; do [ -f "$f" ] && chgrp {USER} "$f"; done; true',
        f"[ -d {render.DATA_DIR} ] || install -d -m 0700 -o {USER} -g {USER} {render.DATA_DIR}",
        f"chmod 0700 {render.DATA_DIR}",
    ]
