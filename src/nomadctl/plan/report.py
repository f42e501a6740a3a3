"""What `up`'s configure, leader and ACL steps did, per host, and the one line that says what
failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nomadctl.node.configure import HostResult


@dataclass
class UpReport:
    hosts: list[HostResult] = field(default_factory=list)
    leader: str | None = None
    acl: str | None = None  # bootstrapped | already | skipped
    stopped: str | None = None  # what did not run because of the failures (plan.ca_rotation)

    @property
    def failed(self) -> list[HostResult]:
        return [r for r in self.hosts if r.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [
                {
                    **r.host.to_dict(),
                    "status": r.status,
                    "changed": r.changed,
                    "restarted": r.restarted,
                    "reloaded": r.reloaded,
                    "error": r.error,
                    "ssh": asdict(r.counters) if r.counters else None,
                }
                for r in self.hosts
            ],
            "leader": self.leader,
            "acl": self.acl,
        }


REASON_MAX = 240  # a longer reason is cut in the one line; --json and NOMADCTL_DEBUG=1 hold it


def reason(result: HostResult) -> str:
    """A host's error without its own name in front: identical reasons of several hosts fold."""
    text = " ".join((result.error or "failed").split())
    return text.removeprefix(f"{result.host.name}: ")


def _pattern(result: HostResult) -> str:
    """The reason with the host's own name and addresses as <node> and <address>."""
    text = reason(result)
    for address in {result.host.private_ip, result.host.public_ip} - {None, ""}:
        text = text.replace(str(address), "<address>")
    return text.replace(result.host.name, "<node>")


def folded(results: list[HostResult]) -> list[tuple[str, list[str]]]:
    """(reason, host names) per distinct reason, in the order the hosts failed. Reasons that
    differ only by each host's own name or address fold, shown with <node> and <address>."""
    groups: dict[str, list[HostResult]] = {}
    for r in results:
        groups.setdefault(_pattern(r), []).append(r)
    return [
        (reason(rs[0]) if len(rs) == 1 else pattern, [r.host.name for r in rs])
        for pattern, rs in groups.items()
    ]


def _short(text: str) -> str:
    if len(text) <= REASON_MAX:
        return text
    return text[: REASON_MAX - 1].rstrip() + "… (whole: --json or NOMADCTL_DEBUG=1)"


def failure_message(report: UpReport) -> str:
    """One line: how many hosts failed, each distinct reason once with the hosts it holds
    for, and how many are configured."""
    failed = report.failed
    parts = [f"{_short(why)} ({', '.join(names)})" for why, names in folded(failed)]
    others = len(report.hosts) - len(failed)
    done = f"the other {others} are configured; " if others > 1 else ""
    done = "the other one is configured; " if others == 1 else done
    stopped = f"; {report.stopped}" if report.stopped else ""
    return (
        f"{len(failed)} of {len(report.hosts)} host(s) failed: "
        + "; ".join(parts)
        + f"{stopped}; {done}re-run `nomadctl up` to finish"
    )


def failure_details(report: UpReport) -> list[str]:
    """Every failed host's whole error, one per line (NOMADCTL_DEBUG=1)."""
    return [f"{r.host.name}: {reason(r)}" for r in report.failed]
