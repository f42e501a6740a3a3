"""`nomadctl up`, `down` and `list` against moto over real HTTP, through the real CLI.

The cluster network is 198.18.0.0/16 with subnet 198.18.1.0/24, as the end-to-end tests use
it: moto then hands out 198.18.1.4, .5, ... as private IPs.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from nomadctl.providers.aws.common import TAG_AUTO_JOIN, TAG_CLUSTER, TAG_ROLE, iam_name
from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import OTHER_REGION, AwsEnv, seed_ubuntu_ami
from tests.terminal import TerminalRun, run_on_terminal

# One zone and no load balancer, as before both were the default: these tests count on one
# subnet's IPs and the servers' own addresses (three zones and the NLB: test_zones.py,
# test_balancer.py).
NET = (
    "--vpc-cidr",
    "198.18.0.0/16",
    "--subnet-cidr",
    "198.18.1.0/24",
    "--zones",
    "1",
    "--api-endpoint",
    "none",
)
ALLOW = ("--allow-cidr", "203.0.113.0/24", "--allow-cidr", "198.51.100.7")


def up(aws: AwsEnv, cluster: str, *args: str, **kw: Any):  # type: ignore[no-untyped-def]
    return aws.nomadctl("--cluster", cluster, "up", "--yes", *args, **kw)


def ingress(group: dict[str, Any]) -> set[tuple[Any, ...]]:
    out = set()
    for perm in group["IpPermissions"]:
        proto = perm["IpProtocol"]
        ports = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for r in perm.get("IpRanges", []):
            out.add((proto, *ports, r["CidrIp"]))
        for r in perm.get("Ipv6Ranges", []):
            out.add((proto, *ports, r["CidrIpv6"]))
        for r in perm.get("UserIdGroupPairs", []):
            out.add((proto, *ports, r["GroupId"]))
    return out


def test_up_creates_a_secured_cluster_and_a_second_up_changes_nothing(aws_env: AwsEnv) -> None:
    proc = ok(
        up(
            aws_env,
            "alpha",
            *NET,
            *ALLOW,
            "--client-port",
            "8080",
            "--client-port",
            "9000-9010",
            "--json",
        )
    )
    result = json.loads(proc.stdout)  # --json: nothing but JSON on stdout
    assert result["aws"]["changed"] is True and result["aws"]["region"] == "eu-west-1"
    assert result["configured"] is False
    hosts = result["hosts"]
    assert [h["name"] for h in hosts] == [
        "alpha-server-1", "alpha-server-2", "alpha-server-3",
        "alpha-client-1", "alpha-client-2", "alpha-client-3",
    ]  # fmt: skip
    assert [h["private_ip"] for h in hosts] == [f"198.18.1.{i}" for i in range(4, 10)]
    assert all(h["public_ip"] and h["instance_id"] for h in hosts)
    checks.assert_complete(aws_env, "alpha")

    ec2, iam = aws_env.client("ec2"), aws_env.client("iam")
    st = checks.state(aws_env, "alpha")
    a = st["aws"]
    assert st["provider"] == "aws" and a["region"] == "eu-west-1" and a["vpc_owned"] is True
    assert [h["instance_id"] for h in st["hosts"]] == [h["instance_id"] for h in hosts]

    # network
    vpc = ec2.describe_vpcs(VpcIds=[a["vpc_id"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "198.18.0.0/16"
    assert checks.tags_of(vpc) == {TAG_CLUSTER: "alpha", "Name": "nomadctl-alpha"}
    subnet = ec2.describe_subnets(SubnetIds=[a["subnet_id"]])["Subnets"][0]
    assert subnet["CidrBlock"] == "198.18.1.0/24" and subnet["MapPublicIpOnLaunch"] is True
    igw = ec2.describe_internet_gateways(InternetGatewayIds=[a["igw_id"]])["InternetGateways"][0]
    assert [x["VpcId"] for x in igw["Attachments"]] == [a["vpc_id"]]
    table = ec2.describe_route_tables(RouteTableIds=[a["route_table_id"]])["RouteTables"][0]
    assert any(
        r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == a["igw_id"]
        for r in table["Routes"]
    )
    assert a["subnet_id"] in {x.get("SubnetId") for x in table["Associations"]}

    # security groups: only the allowed CIDRs, members to members, client ports on clients
    main = ec2.describe_security_groups(GroupIds=[a["sg_id"]])["SecurityGroups"][0]
    allowed = {"203.0.113.0/24", "198.51.100.7/32"}
    assert ingress(main) == {("-1", None, None, a["sg_id"])} | {
        ("tcp", port, port, cidr) for port in (22, 4646) for cidr in allowed
    }
    clients_sg = ec2.describe_security_groups(GroupIds=[a["clients_sg_id"]])["SecurityGroups"][0]
    assert ingress(clients_sg) == {
        ("tcp", lo, hi, cidr) for lo, hi in ((8080, 8080), (9000, 9010)) for cidr in allowed
    }
    every_group = ec2.describe_security_groups()["SecurityGroups"]
    ours = [g for g in every_group if checks.tags_of(g).get(TAG_CLUSTER) == "alpha"]
    assert not any("0.0.0.0/0" in str(ingress(g)) for g in ours)

    # instances: IMDSv2, key, tags at launch, profile and auto-join on servers only, no user-data
    profile_arn = iam.get_instance_profile(InstanceProfileName=iam_name("alpha"))[
        "InstanceProfile"
    ]["Arn"]
    insts = {checks.tags_of(i)["Name"]: i for i in checks.instances(aws_env, "alpha")}
    join_values = set()
    for name, inst in insts.items():
        role = "server" if "-server-" in name else "client"
        t = checks.tags_of(inst)
        assert t[TAG_CLUSTER] == "alpha" and t[TAG_ROLE] == role
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        if role == "server":  # clients call no AWS API: no profile (issue 25 point 6)
            assert inst["IamInstanceProfile"]["Arn"] == profile_arn
        else:
            assert "IamInstanceProfile" not in inst
        assert inst["KeyName"] == "nomadctl-alpha"
        assert inst["SubnetId"] == a["subnet_id"]
        groups = {g["GroupId"] for g in inst["SecurityGroups"]}
        if role == "server":
            join_values.add(t[TAG_AUTO_JOIN])
            assert groups == {a["sg_id"]}
        else:
            assert TAG_AUTO_JOIN not in t
            assert groups == {a["sg_id"], a["clients_sg_id"]}
        user_data = ec2.describe_instance_attribute(
            InstanceId=inst["InstanceId"], Attribute="userData"
        )
        assert not user_data.get("UserData", {}).get("Value")
        root = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        vol = ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]
        assert vol["VolumeType"] == "gp3" and vol["Encrypted"] is True and vol["Size"] == 20
        vt = checks.tags_of(vol)
        assert vt[TAG_CLUSTER] == "alpha" and vt[TAG_ROLE] == role
    assert len(join_values) == 1
    (join_value,) = join_values
    assert "alpha" in join_value
    assert a["auto_join"] == {"tag_key": TAG_AUTO_JOIN, "tag_value": join_value}

    # IAM: the role may only describe instances
    role_name = iam_name("alpha")
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["nomad-cloud-auto-join"]
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=role_name, PolicyName="nomad-cloud-auto-join")
    statements = doc["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == ["ec2:DescribeInstances"]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    profile = iam.get_instance_profile(InstanceProfileName=role_name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [role_name]

    # the SSH key: private half only in the workspace, public half in the key pair
    key_path = aws_env.home / "alpha" / "ssh" / "id_ed25519"
    assert st["ssh"] == {"user": "ubuntu", "key_path": str(key_path)}
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    pub = (key_path.parent / "id_ed25519.pub").read_text().split()
    pair = ec2.describe_key_pairs(KeyNames=["nomadctl-alpha"], IncludePublicKey=True)["KeyPairs"][0]
    assert pair["PublicKey"].split()[1] == pub[1] and pub[0] == "ssh-ed25519"
    assert checks.tags_of(pair)[TAG_CLUSTER] == "alpha"
    private = key_path.read_text()
    assert "PRIVATE KEY" in private
    body = private.splitlines()[1]
    assert body not in proc.stdout + proc.stderr

    # a second up with the same options creates nothing and says so
    before = checks.tagged(aws_env, "alpha")
    again = ok(up(aws_env, "alpha", *NET, *ALLOW, "--client-port", "8080", "--client-port",
                  "9000-9010"))  # fmt: skip
    assert "AWS: nothing to change" in again.stdout
    assert "created" not in again.stdout and "updated" not in again.stdout
    assert checks.tagged(aws_env, "alpha") == before

    # list shows it
    listed = json.loads(ok(aws_env.nomadctl("list", "--json")).stdout)
    assert [(c["cluster"], c["servers"], c["clients"]) for c in listed] == [
        ("alpha", {"running": 3}, {"running": 3})
    ]
    table = ok(aws_env.nomadctl("list")).stdout
    assert "alpha" in table and "3 running" in table and a["vpc_id"] in table


def test_down_removes_one_cluster_and_leaves_its_neighbour(aws_env: AwsEnv) -> None:
    ok(up(aws_env, "alpha", *NET, *ALLOW))
    ok(up(aws_env, "beta", "--allow-cidr", "192.0.2.0/24", "--servers", "1", "--clients", "1"))
    checks.assert_complete(aws_env, "alpha")
    checks.assert_complete(aws_env, "beta", servers=1, clients=1)
    join = {
        checks.tags_of(i).get(TAG_AUTO_JOIN)
        for c in ("alpha", "beta")
        for i in checks.instances(aws_env, c)
        if "-server-" in checks.tags_of(i)["Name"]
    }
    assert len(join) == 2, "two clusters must never share an auto-join tag value"
    beta_before = checks.tagged(aws_env, "beta")

    listed = ok(aws_env.nomadctl("list")).stdout
    assert "alpha" in listed and "beta" in listed

    # down works with the workspace gone: everything is found by tag
    shutil.rmtree(aws_env.home / "alpha")
    proc = ok(aws_env.nomadctl("--cluster", "alpha", "down", "--region", "eu-west-1", "--yes"))
    for kind in ("alpha-server-1", "security-group", "key-pair", "iam-role", "vpc", "subnet"):
        assert kind in proc.stdout
    checks.assert_gone(aws_env, "alpha")
    assert not (aws_env.home / "alpha").exists(), "down must not create a workspace"
    assert checks.tagged(aws_env, "beta") == beta_before
    checks.assert_complete(aws_env, "beta", servers=1, clients=1)

    # a second down is a no-op
    proc = ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    assert "Nothing to delete" in proc.stdout
    assert checks.tagged(aws_env, "beta") == beta_before

    # down with the workspace present also forgets the hosts
    proc = ok(aws_env.nomadctl("--cluster", "beta", "down", "--yes", "--json"))
    deleted = json.loads(proc.stdout)["resources"]
    assert {r["status"] for r in deleted} == {"deleted"}
    checks.assert_gone(aws_env, "beta")
    st = checks.state(aws_env, "beta")
    assert "hosts" not in st and st["aws"] == {"region": "eu-west-1"}  # only where it lived
    assert json.loads(ok(aws_env.nomadctl("list", "--json")).stdout) == []


def on_terminal(aws: AwsEnv, answer: str, *args: str) -> TerminalRun:
    return run_on_terminal(
        [sys.executable, "-m", "nomadctl", *args],
        env=aws.child_env(),
        cwd=aws.tmp,
        prompt="[y/N]:",
        answer=answer,
        timeout=60,
    )


def test_on_a_terminal_up_and_down_ask_first_and_no_changes_nothing(aws_env: AwsEnv) -> None:
    # up shows its plan on the terminal and asks; "n" creates nothing
    run = on_terminal(aws_env, "n", "--cluster", "alpha", "up", *NET, *ALLOW, "--skip-configure")
    assert run.prompted and run.returncode == 1, run.terminal
    assert "Plan for cluster 'alpha'" in run.terminal and "vpc" in run.terminal
    assert "Create/change these resources of cluster 'alpha'? [y/N]: n" in run.terminal
    assert "cancelled; nothing was changed" in run.terminal
    checks.assert_gone(aws_env, "alpha")
    ws = aws_env.home / "alpha"  # no key made, no state saved before the yes
    assert not ws.exists() or {p.name for p in ws.iterdir()} <= {".lock"}

    run = on_terminal(aws_env, "y", "--cluster", "alpha", "up", *NET, *ALLOW, "--skip-configure")
    assert run.prompted and run.returncode == 0, run.terminal
    assert "alpha-server-1" in run.stdout  # results on stdout, the dialogue on the terminal
    checks.assert_complete(aws_env, "alpha")
    before = checks.tagged(aws_env, "alpha")

    # nothing to change: no question
    run = on_terminal(aws_env, "n", "--cluster", "alpha", "up", *NET, *ALLOW, "--skip-configure")
    assert not run.prompted and run.returncode == 0, run.terminal

    # down lists what it would delete and asks; anything but yes keeps everything
    run = on_terminal(aws_env, "", "--cluster", "alpha", "down")
    assert run.prompted and run.returncode == 1, run.terminal
    assert "Resources of cluster 'alpha' in eu-west-1 to delete" in run.terminal
    assert before["vpcs"][0] in run.terminal and "alpha-client-3" in run.terminal
    assert "cancelled; nothing was changed" in run.terminal
    assert checks.tagged(aws_env, "alpha") == before

    run = on_terminal(aws_env, "y", "--cluster", "alpha", "down")
    assert run.prompted and run.returncode == 0, run.terminal
    assert "Deleted resources of cluster 'alpha'" in run.stdout
    checks.assert_gone(aws_env, "alpha")


def test_dry_run_changes_nothing(aws_env: AwsEnv) -> None:
    proc = ok(up(aws_env, "alpha", *NET, *ALLOW, "--dry-run", "--json"))
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True and plan["changed"] is True
    kinds = {r["kind"] for r in plan["resources"] if r["status"] == "create"}
    assert kinds >= {"vpc", "subnet", "security-group", "key-pair", "iam-role", "instance"}
    checks.assert_gone(aws_env, "alpha")
    assert not (aws_env.home / "alpha").exists()

    ok(up(aws_env, "alpha", *NET, *ALLOW))
    before = checks.tagged(aws_env, "alpha")
    state_before = checks.state(aws_env, "alpha")
    proc = ok(up(aws_env, "alpha", *NET, "--allow-cidr", "192.0.2.1", "--dry-run"))
    assert "update" in proc.stdout and "192.0.2.1/32" in proc.stdout  # the rule it would change
    assert checks.tagged(aws_env, "alpha") == before
    assert checks.state(aws_env, "alpha") == state_before
    proc = ok(up(aws_env, "alpha", *NET, *ALLOW, "--dry-run"))
    assert "Nothing to change" in proc.stdout

    # down --dry-run lists and deletes nothing
    proc = ok(aws_env.nomadctl("--cluster", "alpha", "down", "--dry-run"))
    assert "delete" in proc.stdout and before["vpcs"][0] in proc.stdout
    assert checks.tagged(aws_env, "alpha") == before


def load_balancer_checks(aws: AwsEnv, group: dict[str, Any]) -> set[str]:
    """The subnets' CIDRs, open on 4646 only, for the load balancer's health checks."""
    subnets = aws.client("ec2").describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [group["VpcId"]]}]
    )["Subnets"]
    cidrs = {s["CidrBlock"] for s in subnets}
    assert {r for r in ingress(group) if r[3] in cidrs} == {("tcp", 4646, 4646, c) for c in cidrs}
    return cidrs


def test_changed_allow_list_updates_rules_and_scale_up_adds_instances(aws_env: AwsEnv) -> None:
    ok(up(aws_env, "alpha", "--allow-cidr", "203.0.113.0/24", "--servers", "1", "--clients", "1"))
    sg_id = checks.state(aws_env, "alpha")["aws"]["sg_id"]
    proc = ok(up(aws_env, "alpha", "--allow-cidr", "192.0.2.0/24", "--servers", "1",
                 "--clients", "2"))  # fmt: skip
    assert "updated" in proc.stdout and "created" in proc.stdout
    group = aws_env.client("ec2").describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    cidrs = {r[3] for r in ingress(group) if r[0] == "tcp"}
    assert cidrs - load_balancer_checks(aws_env, group) == {"192.0.2.0/24"}
    assert checks.names(checks.instances(aws_env, "alpha")) == [
        "alpha-client-1", "alpha-client-2", "alpha-server-1",
    ]  # fmt: skip
    ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    checks.assert_gone(aws_env, "alpha")


def test_own_vpc_and_subnet_are_used_and_left_alone(aws_env: AwsEnv) -> None:
    ec2 = aws_env.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="198.18.1.0/24")["Subnet"]["SubnetId"]
    # No internet gateway in that VPC: no public IPs, reached from inside (issue 25 point 5).
    proc = ok(up(aws_env, "alpha", *ALLOW, "--vpc-id", vpc_id, "--subnet-id", subnet_id,
                 "--ssh-address", "private", "--json"))  # fmt: skip
    hosts = json.loads(proc.stdout)["hosts"]
    assert len(hosts) == 6 and all(h["private_ip"].startswith("198.18.1.") for h in hosts)
    a = checks.state(aws_env, "alpha")["aws"]
    assert a["vpc_id"] == vpc_id and a["vpc_owned"] is False and a["subnet_id"] == subnet_id
    found = checks.tagged(aws_env, "alpha")
    assert found["vpcs"] == [] and found["subnets"] == [] and found["igws"] == []
    assert {i["SubnetId"] for i in checks.instances(aws_env, "alpha")} == {subnet_id}

    ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    checks.assert_gone(aws_env, "alpha")
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["VpcId"] == vpc_id
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["SubnetId"] == subnet_id


class _MyIp(BaseHTTPRequestHandler):
    answer = b"203.0.113.77\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: Any) -> None:
        pass


def test_default_allow_cidr_is_the_detected_public_ip(aws_env: AwsEnv) -> None:
    server = HTTPServer(("127.0.0.1", 0), _MyIp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        ok(up(aws_env, "alpha", "--servers", "1", "--clients", "0",
              env={"NOMADCTL_MYIP_URL": url}))  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    sg_id = checks.state(aws_env, "alpha")["aws"]["sg_id"]
    group = aws_env.client("ec2").describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    cidrs = {r[3] for r in ingress(group) if r[0] == "tcp"}
    assert cidrs - load_balancer_checks(aws_env, group) == {"203.0.113.77/32"}


def test_undetectable_public_ip_asks_for_allow_cidr(aws_env: AwsEnv) -> None:
    proc = up(aws_env, "alpha")  # NOMADCTL_MYIP_URL points at a closed loopback port
    assert proc.returncode == 2
    assert "--allow-cidr" in error_line(proc.stderr)
    checks.assert_gone(aws_env, "alpha")


def test_options_from_environment_and_config_file(aws_env: AwsEnv) -> None:
    # allow_cidr from the environment: from a found ./nomadctl.toml it needs a yes (issue 15)
    (aws_env.tmp / "nomadctl.toml").write_text("[up]\nclients = 0\n")
    env = {"NOMADCTL_UP_SERVERS": "1", "NOMADCTL_UP_ALLOW_CIDR": "203.0.113.0/24"}
    ok(up(aws_env, "alpha", env=env))
    assert checks.names(checks.instances(aws_env, "alpha")) == ["alpha-server-1"]


def test_own_ssh_key_is_imported(aws_env: AwsEnv) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = aws_env.tmp / "mykey"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (aws_env.tmp / "mykey.pub").write_bytes(public + b" me@laptop\n")
    ok(up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0", "--ssh-key", str(path)))
    pair = aws_env.client("ec2").describe_key_pairs(
        KeyNames=["nomadctl-alpha"], IncludePublicKey=True
    )["KeyPairs"][0]
    assert pair["PublicKey"].split()[1] == public.decode().split()[1]
    assert checks.state(aws_env, "alpha")["ssh"]["key_path"] == str(path)
    assert not (aws_env.home / "alpha" / "ssh" / "id_ed25519").exists()


def test_names_taken_by_others_are_refused_and_never_deleted(aws_env: AwsEnv) -> None:
    ec2, iam = aws_env.client("ec2"), aws_env.client("iam")
    ec2.create_key_pair(KeyName="nomadctl-gamma")
    proc = up(aws_env, "gamma", *ALLOW)
    assert proc.returncode == 5 and "not made by nomadctl" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert checks.tagged(aws_env, "gamma")["vpcs"] == []
    ok(aws_env.nomadctl("--cluster", "gamma", "down", "--yes"))
    assert checks.key_pair_exists(aws_env, "gamma")

    iam.create_role(RoleName=iam_name("delta"), AssumeRolePolicyDocument="{}")
    proc = up(aws_env, "delta", *ALLOW)
    assert proc.returncode == 5 and f"IAM role {iam_name('delta')}" in proc.stderr
    ok(aws_env.nomadctl("--cluster", "delta", "down", "--yes"))
    assert iam_exists_role(aws_env, iam_name("delta"))


def iam_exists_role(env: AwsEnv, name: str) -> bool:
    return name in {r["RoleName"] for r in env.client("iam").list_roles()["Roles"]}


def test_a_lost_workspace_key_is_not_silently_replaced(aws_env: AwsEnv) -> None:
    ok(up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0"))
    shutil.rmtree(aws_env.home / "alpha")
    proc = up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0")
    assert proc.returncode == 5 and "another public key" in proc.stderr
    assert len(checks.instances(aws_env, "alpha")) == 1
    ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    checks.assert_gone(aws_env, "alpha")


def test_region_comes_from_the_workspace_after_up(aws_env: AwsEnv) -> None:
    seed_ubuntu_ami(OTHER_REGION)
    ok(up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0", "--region", OTHER_REGION))
    assert checks.instances(aws_env, "alpha", OTHER_REGION)
    assert not checks.instances(aws_env, "alpha")
    proc = up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0", "--region",
              "eu-west-1")  # fmt: skip
    assert proc.returncode == 2 and OTHER_REGION in error_line(proc.stderr)
    # IAM is global: without the workspace, the same name in another region is refused
    shutil.move(aws_env.home / "alpha", aws_env.tmp / "alpha-workspace")
    proc = up(aws_env, "alpha", *ALLOW, "--servers", "1", "--clients", "0", "--region",
              "eu-west-1")  # fmt: skip
    assert proc.returncode == 5
    assert f"already used in region {OTHER_REGION}" in error_line(proc.stderr)
    assert checks.tagged(aws_env, "alpha")["vpcs"] == []
    assert not (aws_env.home / "alpha").exists()  # the plan refused before making anything
    shutil.move(aws_env.tmp / "alpha-workspace", aws_env.home / "alpha")
    ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))  # region from state.json
    checks.assert_gone(aws_env, "alpha", OTHER_REGION)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--servers", "2"), "odd number"),
        (("--vpc-cidr", "10.0.0.1/16"), "malformed CIDR for --vpc-cidr"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    aws_env: AwsEnv, args: tuple[str, ...], needle: str
) -> None:
    """Through the real CLI; the other checks of AwsOptions.validate are in test_aws_units."""
    proc = up(aws_env, "alpha", "--allow-cidr", "203.0.113.0/24", *args)
    assert proc.returncode == 2, proc.stderr
    assert needle in error_line(proc.stderr)
    checks.assert_gone(aws_env, "alpha")
