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


def failure_message(report: UpReport) -> str:
    parts = [f"{r.host.name} ({r.error})" for r in report.failed]
    others = len(report.hosts) - len(report.failed)
    done = f"the other {others} are configured; " if others > 1 else ""
    done = "the other one is configured; " if others == 1 else done
    stopped = f"; {report.stopped}" if report.stopped else ""
    return (
        f"{len(report.failed)} of {len(report.hosts)} host(s) failed: "
        + "; ".join(parts)
        + f"{stopped}; {done}re-run `nomadctl up` to finish"
    )
