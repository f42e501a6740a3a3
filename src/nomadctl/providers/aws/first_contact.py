"""First contact with a new instance, verified: its SSH host key is pinned from what the
instance printed to its own console at boot, never taken on trust from the network.

cloud-init's `keys_to_console` module writes the host keys to the serial console, which
only the account can read (EC2 GetConsoleOutput):

    -----BEGIN SSH HOST KEY FINGERPRINTS-----
    256 SHA256:Xq2... root@ip-10-0-0-5 (ED25519)
    -----END SSH HOST KEY FINGERPRINTS-----
    -----BEGIN SSH HOST KEY KEYS-----
    ssh-ed25519 AAAAC3Nza... root@ip-10-0-0-5
    -----END SSH HOST KEY KEYS-----

Before nomadctl first connects to an instance, it reads that output: no keys yet means wait
(the console lags the boot by a minute or more on real EC2), keys whose fingerprints the
FINGERPRINTS block contradicts mean stop, and otherwise one key (ed25519 first) is pinned in
the workspace's known_hosts. The SSH layer then refuses any other key the host presents,
of whatever type (paramiko raises BadHostKeyException once a host has a pinned key).
A host already pinned is not asked again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions, ssh_address
from nomadctl.node import fleet
from nomadctl.node.connect import known_hosts
from nomadctl.providers.aws.session import Aws
from nomadctl.providers.ssh_agents import SshAgents
from nomadctl.workspace import Workspace

KEYS = ("-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----")
PRINTS = ("-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----")
PREFERRED = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
POLL_FIRST, POLL_MAX = 2.0, 15.0


class HostKeyMismatch(RemoteError):
    """The console's keys contradict themselves, or no key is usable: stop for this host."""


@dataclass(frozen=True)
class ConsoleKeys:
    keys: tuple[tuple[str, str], ...]  # (type, base64 blob) from the KEYS block
    fingerprints: frozenset[str]  # "SHA256:..." from the FINGERPRINTS block (may be empty)


def _block(text: str, marks: tuple[str, str]) -> list[str] | None:
    begin, end = text.rfind(marks[0]), -1
    if begin >= 0:
        end = text.find(marks[1], begin)
    if begin < 0 or end < 0:
        return None
    return [line.strip() for line in text[begin + len(marks[0]) : end].splitlines()]


def fingerprint(blob_b64: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    digest = hashlib.sha256(base64.b64decode(blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_console(text: str) -> ConsoleKeys | None:
    """The host keys in a console output, None while cloud-init has not printed them."""
    lines = _block(text, KEYS)
    if lines is None:
        return None
    keys = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0].isascii() and parts[0] in PREFERRED:
            try:
                base64.b64decode(parts[1], validate=True)
            except (binascii.Error, ValueError):
                continue
            keys.append((parts[0], parts[1]))
    prints = frozenset(
        word for line in (_block(text, PRINTS) or []) for word in line.split()
        if word.startswith("SHA256:")
    )  # fmt: skip
    return ConsoleKeys(tuple(keys), prints)


def console_text(ec2: Any, instance_id: str) -> str:
    """The instance's console output as text ("" while EC2 has none for it yet). The API
    sends it base64-encoded; botocore decodes it (handlers.decode_console_output)."""
    from botocore.exceptions import ClientError

    try:
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code.endswith("NotFound"):  # a new instance not visible yet: wait
            return ""
        raise RemoteError(f"reading the console output of {instance_id}: {code}") from None


def choose_key(name: str, found: ConsoleKeys) -> tuple[str, str]:
    """The key to pin: every key's fingerprint must be in the FINGERPRINTS block (when
    there is one), then the first of PREFERRED."""
    if found.fingerprints:
        wrong = [t for t, b in found.keys if fingerprint(b) not in found.fingerprints]
        if wrong:
            raise HostKeyMismatch(
                f"{name}: the console's {', '.join(wrong)} host key does not match the "
                "fingerprints it printed at boot: not connecting (possible tampering)"
            )
    for kind in PREFERRED:
        for t, b in found.keys:
            if t == kind:
                return t, b
    raise HostKeyMismatch(f"{name}: no usable SSH host key in its console output")


def pin_from_console(
    ws: Workspace,
    hosts: Sequence[Host],
    ssh: SshOptions,
    ec2: Any,
    progress: Callable[[str], None],
    wait: float,
) -> list[str]:
    """Pin each new instance's host key from its console; the names pinned. A host whose
    console shows no keys within `wait` seconds is a RemoteError naming it."""
    import paramiko

    store = known_hosts(ws)
    pending = {h.name: h for h in hosts if h.instance_id and not store.pinned(ssh_address(h, ssh))}
    pinned: list[str] = []
    deadline, delay = time.monotonic() + wait, POLL_FIRST
    while pending:
        for name, host in list(pending.items()):
            found = parse_console(console_text(ec2, host.instance_id or ""))
            if found is None:
                continue
            kind, blob = choose_key(name, found)
            key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
            store.pin(ssh_address(host, ssh), key)
            progress(f"{name}: host key {fingerprint(blob)} pinned from its console output")
            pinned.append(name)
            del pending[name]
        if not pending:
            break
        if time.monotonic() + delay > deadline:
            raise RemoteError(
                f"{', '.join(sorted(pending))}: no SSH host keys in the console output after "
                f"{wait:.0f}s (cloud-init prints them at boot); re-run `nomadctl up` later"
            )
        progress(f"waiting for the console output of {', '.join(sorted(pending))}")
        time.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX)
    return pinned


@dataclass(frozen=True)
class ConsoleCheckedAgents(SshAgents):
    """SSH agents whose first contact with a new instance is checked against its console."""

    region: str | None = None
    profile: str | None = None

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: fleet.NodeOptions,
        progress: Callable[[str], None],
        on_servers_done: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        ec2 = Aws(self.region, self.profile).ec2
        pin_from_console(ws, hosts, self.ssh, ec2, progress, self.ssh.wait)
        return super().configure(ws, hosts, node, progress, on_servers_done)

    def teardown(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        progress: Callable[[str], None],
        leave: bool = False,
    ) -> list[str]:
        """Before a scale-in or replacement stops agents over SSH: an instance never
        contacted (its `up` died before configuring it) has its key pinned from its console
        first, in one look; one whose console shows none (or contradicts itself) is not
        connected to at all: it never ran an agent nomadctl started, and its instance is
        terminated next. Never a key pinned on the network's word."""
        store = known_hosts(ws)
        new = [h for h in hosts if h.instance_id and not store.pinned(ssh_address(h, self.ssh))]
        if new:
            ec2 = Aws(self.region, self.profile).ec2
            for host in new:
                try:
                    pin_from_console(ws, [host], self.ssh, ec2, progress, 0)
                except RemoteError as exc:
                    progress(
                        f"{host.name}: not reached over SSH, its host key unverified "
                        f"({exc.message}); nothing of nomadctl's runs there"
                    )
        reachable = [
            h for h in hosts if not h.instance_id or store.pinned(ssh_address(h, self.ssh))
        ]
        return super().teardown(ws, reachable, progress, leave) if reachable else []
