"""`nomad server members` rendering from recorded API payloads in Nomad's exact shapes."""

from __future__ import annotations

from nomadctl.cli.tables import MEMBER_COLUMNS, member_table, node_table
from nomadctl.cluster.api import member_rows


def member(name, addr, region="global", dc="dc1", status="alive", build="1.7.2"):
    return {
        "Name": f"{name}.{region}",
        "Addr": addr,
        "Port": 4648,
        "Status": status,
        "Tags": {
            "role": "nomad",
            "region": region,
            "dc": dc,
            "build": build,
            "vsn": "1",
            "raft_vsn": "3",
            "id": "2b5a0a56-7f30-4f8e-9d4f-0c3a5b9a0c1" + addr[-1],
            "rpc_addr": addr,
            "port": "4647",
        },
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


SEED = [  # the seed README's three servers, in the order the API might return them
    member("ip-172-31-81-190", "172.31.81.190"),
    member("ip-172-31-206-75", "172.31.206.75"),
    member("ip-172-31-74-132", "172.31.74.132"),
]


def test_seed_example_table() -> None:
    rows = member_rows(SEED, {"global": "172.31.206.75:4647"})
    table = member_table(rows)
    assert MEMBER_COLUMNS[4] == "Leader"
    assert table == [
        [
            "ip-172-31-206-75.global",
            "172.31.206.75",
            "4648",
            "alive",
            "true",
            "3",
            "1.7.2",
            "dc1",
            "global",
        ],
        [
            "ip-172-31-74-132.global",
            "172.31.74.132",
            "4648",
            "alive",
            "false",
            "3",
            "1.7.2",
            "dc1",
            "global",
        ],
        [
            "ip-172-31-81-190.global",
            "172.31.81.190",
            "4648",
            "alive",
            "false",
            "3",
            "1.7.2",
            "dc1",
            "global",
        ],
    ]
    assert [r["Tags"]["Leader"] for r in rows] == ["true", "false", "false"]
    assert "Leader" not in SEED[0]["Tags"], "input payloads are not modified"


def test_multi_region_sort_and_leaders() -> None:
    members = [
        member("b", "10.1.0.2", region="west", dc="w1"),
        member("a", "10.0.0.9", region="east", dc="e2"),
        member("z", "10.0.0.1", region="east", dc="e1"),
        member("c", "10.1.0.3", region="west", dc="w1"),
    ]
    rows = member_rows(members, {"east": "10.0.0.9:4647", "west": "10.1.0.3:4647"})
    assert [r["Name"] for r in rows] == ["z.east", "a.east", "b.west", "c.west"]
    assert [r["Tags"]["Leader"] for r in rows] == ["false", "true", "false", "true"]


def test_left_member_and_no_leader() -> None:
    members = [member("a", "10.0.0.1"), member("b", "10.0.0.2", status="left")]
    rows = member_rows(members, {"global": ""})
    assert [r["Status"] for r in rows] == ["alive", "left"]
    assert {r["Tags"]["Leader"] for r in rows} == {"false"}
    # The leader address must match Addr *and* the RPC port tag.
    rows = member_rows(members, {"global": "10.0.0.1:4648"})
    assert rows[0]["Tags"]["Leader"] == "false"


def test_node_table() -> None:
    nodes = [
        {
            "ID": "2",
            "Name": "lab-client-2",
            "Address": "198.18.1.8",
            "Status": "ready",
            "SchedulingEligibility": "eligible",
            "Datacenter": "dc1",
            "NodePool": "default",
            "Version": "1.11.1",
            "Drain": False,
            "NodeClass": "",
        },
        {
            "ID": "1",
            "Name": "lab-client-1",
            "Address": "198.18.1.7",
            "Status": "down",
            "SchedulingEligibility": "ineligible",
            "Datacenter": "dc1",
            "NodePool": "edge",
            "Version": "1.11.1",
            "Drain": False,
            "NodeClass": "",
        },
    ]
    assert node_table(nodes) == [
        ["lab-client-1", "198.18.1.7", "down", "ineligible", "dc1", "edge", "1.11.1"],
        ["lab-client-2", "198.18.1.8", "ready", "eligible", "dc1", "default", "1.11.1"],
    ]
