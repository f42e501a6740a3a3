"""The AWS provider's pure parts: option checks, firewall rules, names, keys, Host records."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from nomadctl.errors import UsageError
from nomadctl.hosts import Host
from nomadctl.providers.aws.common import client_token, iam_name, key_pair_name
from nomadctl.providers.aws.infra import AwsOptions
from nomadctl.providers.aws.keys import fingerprints, user_key
from nomadctl.providers.aws.network import default_subnet_cidr, parse_vpc_cidrs
from nomadctl.providers.aws.security import (
    _is_main_managed,
    client_rules,
    current_rules,
    main_rules,
    normalise_cidrs,
    parse_port,
    permissions,
)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"servers": 2}, "odd number"),
        ({"servers": 0}, "odd number"),
        ({"clients": -1}, "negative"),
        ({"vpc_cidr": "10.0.0.1/16"}, "did you mean 10.0.0.0/16"),
        ({"vpc_cidr": "300.1.0.0/16"}, "malformed CIDR for --vpc-cidr"),
        ({"vpc_cidr": "10.0.0.0/8"}, "between /16 and /28"),
        ({"vpc_cidr": "fd00::/64"}, "IPv4"),
        ({"subnet_cidr": "198.18.1.0/33"}, "malformed CIDR for --subnet-cidr"),
        ({"vpc_cidr": "198.18.0.0/16", "subnet_cidr": "192.0.2.0/24"}, "not inside"),
        ({"allow_cidrs": ("everyone",)}, "malformed CIDR for --allow-cidr"),
        ({"client_ports": ("70000",)}, "--client-port"),
        ({"client_ports": ("9000-8000",)}, "--client-port"),
        ({"client_ports": ("http",)}, "--client-port"),
        ({"vpc_id": "vpc-12345678"}, "--subnet-id"),
        ({"subnet_id": "subnet-1", "vpc_cidr": "10.1.0.0/16"}, "not with --subnet-id"),
        ({"subnet_id": "subnet-1", "availability_zone": "eu-west-1b"}, "--availability-zone"),
        ({"ami": "ubuntu"}, "not an AMI id"),
        ({"root_volume_size": 4}, "8 to 16384"),
    ],
)
def test_options_are_checked_before_any_aws_call(changes: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageError) as err:
        AwsOptions(**changes).validate()
    assert needle in err.value.message and "\n" not in err.value.message


def test_good_options_pass_including_the_test_network() -> None:
    AwsOptions(
        vpc_cidr="198.18.0.0/16",
        subnet_cidr="198.18.1.0/24",
        allow_cidrs=("203.0.113.0/24", "198.51.100.7", "2001:db8::/32"),
        client_ports=("8080", "9000-9010"),
        servers=5,
        clients=0,
        ami="ami-0123456789abcdef0",
    ).validate()
    vpc, subnet = parse_vpc_cidrs("198.18.0.0/16", None)
    assert vpc is not None and str(default_subnet_cidr(vpc)) == "198.18.0.0/24"
    assert subnet is None


def test_allow_cidrs_are_canonical_and_a_bare_address_is_one_host() -> None:
    assert normalise_cidrs(["198.51.100.7", "203.0.113.0/24", "198.51.100.7/32"]) == [
        "198.51.100.7/32",
        "203.0.113.0/24",
    ]


def test_main_rules_leave_hand_made_rules_alone() -> None:
    sg = "sg-0123"
    wanted = main_rules(sg, ["192.0.2.0/24"])
    assert wanted == {
        ("-1", None, None, sg),
        ("tcp", 22, 22, "192.0.2.0/24"),
        ("tcp", 4646, 4646, "192.0.2.0/24"),
    }
    anywhere = [{"CidrIp": "0.0.0.0/0"}]
    group = {
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": anywhere},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": anywhere},
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg}]},
        ]
    }
    have = current_rules(group)
    stale = {r for r in have - wanted if _is_main_managed(r, sg)}
    assert stale == {("tcp", 22, 22, "0.0.0.0/0")}  # port 80 was added by hand: kept


def test_permissions_group_sources_per_port() -> None:
    rules = client_rules(["192.0.2.0/24", "2001:db8::/32"], [parse_port("8000-8100")])
    (perm,) = permissions(rules)
    assert perm["FromPort"] == 8000 and perm["ToPort"] == 8100
    assert [r["CidrIp"] for r in perm["IpRanges"]] == ["192.0.2.0/24"]
    assert [r["CidrIpv6"] for r in perm["Ipv6Ranges"]] == ["2001:db8::/32"]
    members = "all traffic between cluster members"
    assert permissions(main_rules("sg-1", []))[0] == {
        "IpProtocol": "-1",
        "UserIdGroupPairs": [{"GroupId": "sg-1", "Description": members}],
    }


def test_names_and_tokens() -> None:
    assert key_pair_name("lab") == "nomadctl-lab"
    assert iam_name("lab") == "nomadctl-lab-node"
    token = client_token("lab", "server", "1", "sg-1", "subnet-1")
    assert token == client_token("lab", "server", "1", "sg-1", "subnet-1")
    assert token != client_token("lab", "server", "2", "sg-1", "subnet-1")
    assert token != client_token("other", "server", "1", "sg-1", "subnet-1")
    longest = client_token("x" * 32, "server", "99", "sg-" + "f" * 17, "subnet-" + "f" * 17)
    assert len(longest) <= 64 and longest.isascii()


def test_user_keys(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path = tmp_path / "id"
    path.write_bytes(private)
    derived = user_key(path)  # no id.pub: derived from the unencrypted private key
    assert derived.blob == public.split()[1] and derived.private_path == path
    (tmp_path / "id.pub").write_text(public + " me\n")
    assert user_key(tmp_path / "id.pub").private_path == path

    (tmp_path / "ecdsa.pub").write_text("ecdsa-sha2-nistp256 AAAAE2VjZHNh me\n")
    with pytest.raises(UsageError, match="only ed25519 and RSA"):
        user_key(tmp_path / "ecdsa.pub")
    secret = tmp_path / "garbage"
    secret.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(UsageError) as err:
        user_key(secret)
    assert "c2VjcmV0" not in err.value.message  # never echo key material

    blob = base64.b64decode(public.split()[1])
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    assert sha in fingerprints(public) and sha.rstrip("=") in fingerprints(public)


def test_host_round_trip() -> None:
    host = Host("lab-server-1", "server", "198.18.1.4", "54.1.2.3", "i-0abc")
    assert Host.from_dict(host.to_dict()) == host
    assert (
        Host.from_dict({"name": "h", "role": "client", "private_ip": "10.0.0.5"}).public_ip is None
    )
    with pytest.raises(ValueError):
        Host("x", "worker", "10.0.0.1")  # type: ignore[arg-type]


def test_default_architecture_skips_i386_and_standard_families_match_the_quota() -> None:
    from nomadctl.errors import CloudError
    from nomadctl.providers.aws.images import default_architecture, is_standard

    assert default_architecture(["i386", "x86_64"], "t2.micro") == "x86_64"  # t2's order
    assert default_architecture(["arm64"], "t4g.small") == "arm64"
    with pytest.raises(CloudError):
        default_architecture(["i386"], "t1.micro")
    assert all(is_standard(t) for t in ("t3.small", "m7i.large", "c8a.large", "z1d.large"))
    assert not any(is_standard(t) for t in ("p4d.24xlarge", "g5.xlarge", "inf2.xlarge", "x2.large"))


def test_request_digest_changes_with_any_parameter() -> None:
    from nomadctl.providers.aws.common import request_digest

    base = {"InstanceType": "t3.small", "BlockDeviceMappings": [{"Ebs": {"VolumeSize": 20}}]}
    assert request_digest(base) == request_digest(dict(reversed(list(base.items()))))
    assert request_digest(base) != request_digest({**base, "InstanceType": "t3.medium"})
    bigger = {**base, "BlockDeviceMappings": [{"Ebs": {"VolumeSize": 30}}]}
    assert request_digest(base) != request_digest(bigger)
