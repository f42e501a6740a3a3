"""pytest fixtures: one moto server per session (real HTTP on loopback), reset per test.

`aws_env` gives each test a clean moto, the Ubuntu SSM parameter nomadctl resolves by
default, fake credentials, an isolated HOME/NOMADCTL_HOME, and helpers to run the real CLI
as a subprocess. The CLI always talks to moto through the strict layer (`aws_env.proxy`, with
`tests.aws.strict` on: tokens, eventual consistency, IAM propagation); a test tunes its
windows through `aws_env.strict.windows` and adds faults through the same proxy
(`fault_proxy`). The test's own boto3 clients (`aws_env.client`) ask moto directly, so
checks see the truth. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nomadctl.providers.aws.images import UBUNTU_PARAMETER

REGION = "eu-west-1"
OTHER_REGION = "us-east-2"
ACCOUNT = "123456789012"  # moto's default account
CANONICAL = "099720109477"


@dataclass
class MotoServer:
    url: str
    server: Any

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        # Resetting every region's backend (after `list --all-regions` touched them all)
        # takes seconds on a loaded machine.
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()


def seed_ubuntu_ami(region: str) -> str:
    """Make the public Ubuntu SSM parameter exist in moto and point at a moto Canonical AMI.

    moto refuses PutParameter under /aws/ (as AWS does), so the parameter is added to the
    in-process moto backend directly, the way moto itself loads its Amazon Linux parameters.
    """
    import boto3
    from moto.ssm.models import Parameter, ssm_backends

    ec2 = boto3.client("ec2", region_name=region)
    images = ec2.describe_images(Owners=[CANONICAL])["Images"]
    ami = sorted(i["ImageId"] for i in images if i.get("Architecture") == "x86_64")[0]
    params = ssm_backends[ACCOUNT][region]._parameters
    name = UBUNTU_PARAMETER.format(arch="amd64")
    params[name] = [
        Parameter(
            account_id=ACCOUNT,
            name=name,
            value=ami,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=dt.datetime.now(dt.UTC),
            version=1,
            data_type="aws:ec2:image",
        )
    ]
    return ami


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(f"http://{host}:{port}", server)
    finally:
        server.stop()


FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIATESTTESTTESTTEST",
    "AWS_SECRET_ACCESS_KEY": "test-secret-not-real",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials
}


@dataclass
class AwsEnv:
    """A clean moto plus what a test needs to drive the real CLI against it."""

    moto: MotoServer
    tmp: Path
    region: str = REGION
    ami: str = ""
    env: dict[str, str] = field(default_factory=dict)
    proxy: Any = None  # tests.aws.faultproxy.FaultProxy with a Strict layer

    @property
    def strict(self) -> Any:
        return self.proxy.strict

    @property
    def home(self) -> Path:
        return self.tmp / "nomadctl-home"

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.moto.url,
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )

    def child_env(self, endpoint: str | None = None, **extra: str | None) -> dict[str, str]:
        env = dict(self.env)
        env["AWS_ENDPOINT_URL"] = endpoint or self.proxy.url
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def nomadctl(
        self,
        *args: str,
        endpoint: str | None = None,
        timeout: float = 120,
        env: dict[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nomadctl", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            env=self.child_env(endpoint, **(env or {})),
            cwd=self.tmp,
        )

    def popen(
        self, *args: str, endpoint: str | None = None, env: dict[str, str | None] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "nomadctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.child_env(endpoint, **(env or {})),
            cwd=self.tmp,
        )


@pytest.fixture
def aws_env(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsEnv]:
    from tests.aws.faultproxy import FaultProxy
    from tests.aws.strict import Strict

    moto_server.reset()
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    ami = seed_ubuntu_ami(REGION)  # other regions: call seed_ubuntu_ami() in the test
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # The CLI under test is this checkout's (or PYTHONPATH's), not whatever is installed;
        # NOMADCTL_TEST_CLI_PATH runs another tree's CLI (to show a test fails on older code).
        "PYTHONPATH": os.environ.get("NOMADCTL_TEST_CLI_PATH")
        or os.environ.get("PYTHONPATH")
        or str(Path(__file__).parents[2] / "src"),
        "HOME": str(home),
        "NOMADCTL_HOME": str(tmp_path / "nomadctl-home"),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1,localhost",
        # Never the internet: an unanswered loopback port unless a test serves one.
        "NOMADCTL_MYIP_URL": "http://127.0.0.1:9/",
        # No SSH from these tests: moto's instances are not machines, and their public IPs are
        # not on loopback. Tests that configure nodes set this to None in `env=`.
        "NOMADCTL_UP_SKIP_CONFIGURE": "1",
        "COLUMNS": "250",
        "PYTHONUNBUFFERED": "1",
        **FAKE_AWS,
    }
    proxy = FaultProxy(moto_server.url, strict=Strict(moto_server.url)).start()
    try:
        yield AwsEnv(moto=moto_server, tmp=tmp_path, ami=ami, env=env, proxy=proxy)
    finally:
        proxy.stop()


@pytest.fixture
def fault_proxy(aws_env: AwsEnv) -> Any:
    """The strict layer's proxy, where a test also adds faults on chosen API actions."""
    return aws_env.proxy
