"""The tables `nomadctl status` prints: `nomad server members`' columns and the client nodes,
as rows of text from the API's records (`cluster.api.member_rows`, `/v1/nodes`)."""

from collections.abc import Mapping, Sequence
from typing import Any

MEMBER_COLUMNS = (
    "Name",
    "Address",
    "Port",
    "Status",
    "Leader",
    "Raft Version",
    "Build",
    "Datacenter",
    "Region",
)


# What a narrow terminal drops first (issue 26 point 3); the rest is never cut. `-o wide`
# shows every column.
MEMBER_DROP = ("Raft Version", "Build", "Datacenter", "Region")
NODE_DROP = ("Version", "Node Pool", "Datacenter", "Eligibility")
CERT_DROP = ("Kind",)


def member_table(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            str(r.get("Name", "")),
            str(r.get("Addr", "")),
            str(r.get("Port", "")),
            str(r.get("Status", "")),
            r["Tags"]["Leader"],
            str(r["Tags"].get("raft_vsn", "")),
            str(r["Tags"].get("build", "")),
            str(r["Tags"].get("dc", "")),
            str(r["Tags"].get("region", "")),
        ]
        for r in rows
    ]


NODE_COLUMNS = ("Name", "Address", "Status", "Eligibility", "Datacenter", "Node Pool", "Version")


def node_table(nodes: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    ordered = sorted(nodes, key=lambda n: (n.get("Datacenter", ""), n.get("Name", "")))
    return [
        [
            str(n.get("Name", "")),
            str(n.get("Address", "")),
            str(n.get("Status", "")),
            str(n.get("SchedulingEligibility", "")),
            str(n.get("Datacenter", "")),
            str(n.get("NodePool", "")),
            str(n.get("Version", "")),
        ]
        for n in ordered
    ]
