"""resize.change_type against moto behind the strict layer (issue 25 points 3 and 9).

EC2 changes a type only while the instance is stopped [EC2-TYPE], and starts it only with a
type its zone offers [EC2-AZ] (tests/aws/strict_ec2.py). A start AWS refuses puts the old type
back and starts the instance again: the node is never lost, and the error says so.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from nomadctl.errors import CloudError
from nomadctl.providers.aws import resize
from nomadctl.providers.aws.session import Aws
from tests.aws.fixtures import AwsEnv


@pytest.fixture
def aws(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Aws:
    aws_env.strict.windows.only()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.proxy.url)  # through the strict layer
    return Aws("eu-west-1")


def launch(aws_env: AwsEnv) -> str:
    reply = aws_env.client("ec2").run_instances(
        ImageId=aws_env.ami, InstanceType="t3.small", MinCount=1, MaxCount=1,
        Placement={"AvailabilityZone": "eu-west-1a"},
    )  # fmt: skip
    return str(reply["Instances"][0]["InstanceId"])


def now(aws_env: AwsEnv, iid: str) -> dict[str, Any]:
    found = aws_env.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"]
    return dict(found[0]["Instances"][0])


def actions(aws_env: AwsEnv) -> list[str]:
    wanted = {"StopInstances", "ModifyInstanceAttribute", "StartInstances"}
    return [s.action for s in aws_env.proxy.log if s.action in wanted]


def test_the_same_instance_gets_the_new_type(aws_env: AwsEnv, aws: Aws) -> None:
    iid = launch(aws_env)
    private = now(aws_env, iid)["PrivateIpAddress"]
    inst = resize.change_type(aws, "n1", iid, "t3.medium", lambda _: None)
    assert inst["InstanceId"] == iid and inst["InstanceType"] == "t3.medium"
    assert now(aws_env, iid)["State"]["Name"] == "running"
    assert now(aws_env, iid)["PrivateIpAddress"] == private
    assert actions(aws_env) == ["StopInstances", "ModifyInstanceAttribute", "StartInstances"]
    resize.change_type(aws, "n1", iid, "t3.medium", lambda _: None)  # done: nothing again
    assert len(actions(aws_env)) == 3


def test_ec2_changes_the_type_of_a_stopped_instance_only(aws_env: AwsEnv, aws: Aws) -> None:
    iid = launch(aws_env)
    with pytest.raises(ClientError) as refused:
        aws.ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.medium"})
    assert refused.value.response["Error"]["Code"] == "IncorrectInstanceState"


def test_a_type_the_zone_does_not_offer_starts_as_the_old_one_again(
    aws_env: AwsEnv, aws: Aws
) -> None:
    iid = launch(aws_env)  # m8a.large: not offered in eu-west-1a (moto's offerings)
    with pytest.raises(CloudError) as failed:
        resize.change_type(aws, "n1", iid, "m8a.large", lambda _: None)
    assert "would not start n1 as m8a.large (Unsupported" in failed.value.message
    assert "runs as t3.small again" in failed.value.message
    inst = now(aws_env, iid)
    assert inst["InstanceType"] == "t3.small" and inst["State"]["Name"] == "running"


def test_a_refused_start_either_way_leaves_it_stopped_and_says_so(
    aws_env: AwsEnv, aws: Aws
) -> None:
    iid = launch(aws_env)
    aws_env.proxy.add("StartInstances", "error", times=2, code="InsufficientInstanceCapacity",
                      message="no capacity")  # fmt: skip
    with pytest.raises(CloudError) as failed:
        resize.change_type(aws, "n1", iid, "t3.medium", lambda _: None)
    assert "it is stopped with its data" in failed.value.message
    assert now(aws_env, iid)["State"]["Name"] == "stopped"
    aws_env.proxy.clear()
    assert resize.change_type(aws, "n1", iid, "t3.medium", lambda _: None)["InstanceId"] == iid
