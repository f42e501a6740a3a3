"""Least privilege on AWS (issue 25 point 6): the auto-join instance profile goes on servers
only. Clients call no AWS API, so they get none: an `exec` or host-network task on a client
that reaches IMDS finds no credentials there. Clients made before (with the servers' profile)
lose it at the next `up`, without a restart (DisassociateIamInstanceProfile); the plan says so.
"""

from __future__ import annotations

import json

from nomadctl.providers.aws.common import iam_name
from tests.aws import checks
from tests.aws.checks import ok
from tests.aws.fixtures import AwsEnv
from tests.providers.aws.test_aws_strict import down_leaves_nothing, up

SIZE = ("--servers", "1", "--clients", "2")


def profiles(aws: AwsEnv) -> dict[str, str | None]:
    """Node name -> the ARN of the instance profile associated with it (None: none)."""
    ec2 = aws.client("ec2")
    assoc = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    live = {a["InstanceId"]: a["IamInstanceProfile"]["Arn"] for a in assoc
            if a["State"] in ("associating", "associated")}  # fmt: skip
    return {
        checks.tags_of(i)["Name"]: live.get(i["InstanceId"]) for i in checks.instances(aws, "alpha")
    }


def test_only_servers_carry_the_instance_profile(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *SIZE))
    have = profiles(aws_env)
    assert have["alpha-server-1"] and have["alpha-server-1"].endswith("/" + iam_name("alpha"))
    assert have["alpha-client-1"] is None and have["alpha-client-2"] is None
    runs = aws_env.proxy.calls("RunInstances")
    for call in runs:
        role = "server" if b"alpha-server" in call.body else "client"
        assert (b"IamInstanceProfile" in call.body) == (role == "server"), call.body[:200]
    down_leaves_nothing(aws_env)


def test_clients_made_with_the_profile_lose_it_at_the_next_up(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *SIZE))
    ec2 = aws_env.client("ec2")
    for inst in checks.instances(aws_env, "alpha"):  # as nomadctl before issue 25 made them
        if checks.tags_of(inst)["Name"].startswith("alpha-client"):
            ec2.associate_iam_instance_profile(
                InstanceId=inst["InstanceId"], IamInstanceProfile={"Name": iam_name("alpha")}
            )
    assert all(profiles(aws_env).values())
    ids = {checks.tags_of(i)["Name"]: i["InstanceId"] for i in checks.instances(aws_env, "alpha")}

    dry = ok(up(aws_env, *SIZE, "--dry-run", "--json"))
    said = {r["name"]: r for r in json.loads(dry.stdout)["resources"] if r["kind"] == "instance"}
    assert "instance profile removed" in said["alpha-client-1"]["detail"]
    assert "instance profile" not in said["alpha-server-1"]["detail"]
    assert all(profiles(aws_env).values())  # a dry run changes nothing

    ok(up(aws_env, *SIZE))
    have = profiles(aws_env)
    assert (
        have["alpha-server-1"] and have["alpha-client-1"] is None and have["alpha-client-2"] is None
    )
    assert {
        checks.tags_of(i)["Name"]: i["InstanceId"] for i in checks.instances(aws_env, "alpha")
    } == ids
    again = ok(up(aws_env, *SIZE, "--dry-run", "--json"))
    assert "instance profile removed" not in again.stdout
    down_leaves_nothing(aws_env)


def test_client_instance_profile_gives_clients_their_own_empty_one(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *SIZE))  # clients first without any profile
    ec2, iam = aws_env.client("ec2"), aws_env.client("iam")
    client_1 = next(i for i in checks.instances(aws_env, "alpha")
                    if checks.tags_of(i)["Name"] == "alpha-client-1")  # fmt: skip
    ec2.associate_iam_instance_profile(  # one as nomadctl before issue 25 made it
        InstanceId=client_1["InstanceId"], IamInstanceProfile={"Name": iam_name("alpha")}
    )
    ok(up(aws_env, *SIZE, "--client-instance-profile"))
    have = profiles(aws_env)
    assert have["alpha-server-1"].endswith("/nomadctl-alpha-node")
    assert have["alpha-client-1"].endswith("/nomadctl-alpha-client")  # swapped
    assert have["alpha-client-2"].endswith("/nomadctl-alpha-client")  # added
    role = "nomadctl-alpha-client"
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    ok(up(aws_env, *SIZE, "--servers", "1", "--clients", "3"))  # kept without the flag
    assert all(p.endswith("/nomadctl-alpha-client") for n, p in profiles(aws_env).items()
               if "client" in n)  # fmt: skip
    down_leaves_nothing(aws_env)
    assert not iam.list_instance_profiles()["InstanceProfiles"]
