"""The stand-in's HCL1 reader (agent configs, ACL rules) against python-hcl2.

Every agent configuration nomadctl renders and the tests write, and every ACL policy used,
must come out of tests/standin/agent/hcl1.py exactly as python-hcl2 reads it, so moving the
stand-in off python-hcl2 for its start-up path changes nothing it checks. Malformed input is
refused with a line:column error.
"""

from __future__ import annotations

import pytest

from nomadctl.cluster import acl
from nomadctl.hosts import Host
from nomadctl.node import render
from tests.standin import certs
from tests.standin.agent import hcl1
from tests.standin.agent.config import normalize, parse_hcl
from tests.standin.harness import Spec, render_hcl

SERVERS = [Host(f"lab-server-{i}", "server", f"198.18.1.{3 + i}") for i in (1, 2, 3)]
CLIENT = Host("lab-client-1", "client", "198.18.1.7", "203.0.113.7")
GOSSIP = "svziBixBd/u3hm5P/fW2BU/HSUApfq4u1tcpr3yLf8g="

SAMPLE = r"""
# comment
name = "a\"b\\c\n\u00e9"
n = 5
f = 1.5
neg = -3
t = true
l = ["x", 1, true,]
empty = []
obj = { a = "b", "c d" = 2 }
interp = "${attr.x} and %{ if true }y%{ endif }"
server {
  enabled = true // c
  server_join { retry_join = ["1.2.3.4"] }
}
plugin "docker" {
  config { allow_privileged = false }
}
plugin "raw_exec" { config { enabled = false } }
a "b" "c" { x = 1 }
/* multi
line */
h = <<EOF
line1
  line2
EOF
h2 = <<-EOT
    indented
      more
    EOT
"""


def nomadctl_configs() -> list[str]:
    out = []
    for kw in (
        {},
        {"auto_join": render.AutoJoin("nomadctl:join", "lab-0123abcd", "eu-west-1")},
        {"datacenter": "dc7", "node_pool": "gpu", "enable_raw_exec": True, "docker": False},
        {"install_method": "local", "extra_client_meta": {"rack": "r1", "quote": 'a"b\\c'}},
    ):
        facts = render.ClusterFacts(gossip_key=GOSSIP, servers=SERVERS, **kw)
        out += [render.agent_config(facts, SERVERS[0]), render.agent_config(facts, CLIENT)]
    return out


def harness_configs(tmp_path) -> list[str]:
    pair = certs.CertPair(tmp_path / "c.pem", tmp_path / "k.pem")
    return [
        render_hcl(Spec("s1", "127.0.0.2", retry_join=["127.0.0.3", "127.0.0.4"]), "/d"),
        render_hcl(
            Spec(
                "c1",
                "127.0.0.5",
                server=False,
                client=True,
                servers=["127.0.0.2:4647"],
                encrypt=GOSSIP,
                tls=pair,
                ca_file=tmp_path / "ca.pem",
                extra='log_level = "DEBUG"\nports {\n  http = 5646\n}',
            ),
            "/d",
        ),
    ]


POLICIES = [
    acl.USER_POLICY_RULES,
    'node {\n  policy = "read"\n}\nagent {\n  policy = "read"\n}\n'
    'namespace "*" {\n  policy = "read"\n}\n',
    'namespace "default" {\n  policy = "write"\n  capabilities = ["submit-job", "read-logs"]\n}',
]


def test_same_as_python_hcl2(tmp_path) -> None:
    texts = [SAMPLE, *nomadctl_configs(), *harness_configs(tmp_path), *POLICIES]
    for text in texts:
        assert hcl1.loads(text) == parse_hcl(text), text
        assert normalize(hcl1.loads(text)) == normalize(parse_hcl(text))


def test_values() -> None:
    got = normalize(hcl1.loads(SAMPLE))
    assert got["name"] == 'a"b\\c\n\u00e9' and got["l"] == ["x", 1, True]
    assert got["plugin"]["docker"]["config"] == {"allow_privileged": False}
    assert got["h2"] == "indented\n  more" and got["neg"] == -3 and got["f"] == 1.5


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('name = "abc', "At 1:8: literal not terminated"),
        ("server {\n  enabled = true\n", "At 3:1: expected '}', got end of file"),
        ("a = ", "At 1:5: unexpected end of file as a value"),
        ("a b c", "At 1:3: key 'a' expected start of object"),
        ("a = 1\nb = @", "At 2:5: illegal char '@'"),
        ('a = "x\\q"', "At 1:7: unknown escape sequence \\q"),
        ("a = [1 2]", "At 1:8: expected ',' or ']', got 2"),
        ("/* open", "At 1:1: comment not terminated"),
        ("h = <<EOF\nline\n", "At 1:5: heredoc EOF not terminated"),
        ("a = 1\na { }", "At 2:1: 'a' is both an attribute and a block"),
        ("}", "At 1:1: expected a key, got '}'"),
    ],
)
def test_refuses(text: str, error: str) -> None:
    with pytest.raises(hcl1.HclError) as exc:
        hcl1.loads(text)
    assert str(exc.value).startswith(error)


def test_duplicate_attributes_are_decoded_as_hcl1_does() -> None:
    """No error in HCL1: a scalar's last value wins, lists are appended (decoder.go)."""
    assert hcl1.loads('a = 1\na = 2\nl = ["x"]\nl = ["y"]') == {"a": 2, "l": ["x", "y"]}


def test_python_hcl2_refuses_them_too() -> None:
    """The malformed inputs that HCL2 also rejects (duplicates differ between the versions)."""
    for text in ('name = "abc', "server {\n", "a = ", "a = 1\nb = @", "a = [1 2]"):
        with pytest.raises(Exception):  # noqa: B017 - lark's several error types
            parse_hcl(text)
