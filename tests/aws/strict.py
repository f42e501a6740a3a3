"""EC2 and IAM semantics that moto skips, modelled between boto3 and moto (see faultproxy.py).

moto ignores `ClientToken`, is consistent at once after every create, and propagates IAM
instantly. Real AWS does none of these, so every AWS test runs through this layer. Each rule
below names where the behaviour comes from. Windows are short (fractions of a second) so the
suite stays fast, and each test may widen or narrow them through `Strict.windows`.

Sources, cited below by their letters:

[EC2-EC] EC2 API Reference, "Eventual consistency in the Amazon EC2 API"
         https://docs.aws.amazon.com/AWSEC2/latest/APIReference/eventual-consistency.html
         (a create's ID may be NotFound to following calls for a while; describes may not list
         a new resource yet; terraform-provider-aws wraps reads after a create in
         `tfresource.RetryWhenNewResourceNotFound` with `ec2PropagationTimeout` = 5 min).
[EC2-ID] EC2 API Reference, "Ensuring idempotency in Amazon EC2 API requests"
         https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html, and the
         error codes page https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
         (`IdempotentParameterMismatch`, `IdempotentInstanceTerminated`); botocore's ec2 model
         gives `ClientToken` to RunInstances and CreateRouteTable (not CreateVpc/CreateSubnet/
         CreateSecurityGroup/CreateInternetGateway).
[IAM-EC] IAM User Guide, "Changes that I make are not always immediately visible"
         https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency;
         terraform-provider-aws `iamPropagationTimeout` = 2 min; its aws_instance create
         retries RunInstances on `Invalid IAM Instance Profile` and ` has no associated IAM
         Roles`; its `instanceProfileAddRole` retries NoSuchEntity; kops (upup/pkg/fi/cloudup
         and its swarm example) quotes `IAM Instance Profile "arn:..." has no associated IAM
         Roles` after adding a role to a profile.
[IAM-DC] terraform-provider-aws `deleteRole`: `RetryWhenAWSErrCodeEquals(propagationTimeout,
         DeleteRole, DeleteConflict)`; NoSuchEntity on the final DeleteRole means done.
[EC2-DV] EC2 "DependencyViolation" on DeleteSecurityGroup/DeleteSubnet/DeleteVpc/
         DetachInternetGateway while the network interfaces of terminated instances detach;
         terraform's aws_security_group and aws_subnet deletes retry DependencyViolation.
[EC2-OF] zone offerings: see strict_zones.py (RunInstances refuses a type the zone lacks).
[ELB-*]  Elastic Load Balancing: see strict_elb.py (load balancer states, target health,
         what a deleted load balancer still holds).
[SQ]     Service Quotas API `GetServiceQuota` (ServiceCode ec2, QuotaCode L-1216C47A "Running
         On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", in vCPUs).
[CON]    EC2 API Reference `GetConsoleOutput` (Output is base64); cloud-init's cc_keys_to_console
         runs /usr/lib/cloud-init/write-ssh-key-fingerprints, which prints the
         "SSH HOST KEY FINGERPRINTS" block and the "SSH HOST KEY KEYS" block to the console.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"

# Created IDs, by the create action and the response element that carries them.
CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateSecurityGroup": "groupId",
    "CreateInternetGateway": "internetGatewayId",
    "CreateRouteTable": "routeTableId",
    "RunInstances": "instanceId",
}
# [EC2-EC] the NotFound code and message EC2 gives for an ID it does not see (yet).
NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "igw-": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "i-": ("InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
}
# Filtered describes and the element naming each listed resource.
SEARCHES = {
    "DescribeVpcs": "vpcId",
    "DescribeSubnets": "subnetId",
    "DescribeSecurityGroups": "groupId",
    "DescribeInternetGateways": "internetGatewayId",
    "DescribeRouteTables": "routeTableId",
    "DescribeInstances": "instanceId",
}
# Actions with a ClientToken whose replay this layer answers itself [EC2-ID].
IDEMPOTENT = {"RunInstances", "CreateRouteTable"}
NOT_PARAMS = {"Action", "Version", "ClientToken"}


@dataclass
class Windows:
    """Seconds each behaviour lasts after the call that starts it; 0 turns it off."""

    ec2_id: float = 0.1  # [EC2-EC] calls naming a new EC2 ID get NotFound
    ec2_search: float = 0.1  # [EC2-EC] filtered describes do not list a new resource
    iam_entity: float = 0.1  # [IAM-EC] AddRoleToInstanceProfile: the new role is NoSuchEntity
    iam_profile: float = 0.15  # [IAM-EC] RunInstances: "Invalid IAM Instance Profile name"
    iam_role: float = 0.3  # [IAM-EC] RunInstances: "... has no associated IAM Roles"
    iam_stale: float = 0.15  # [IAM-EC] list calls still show a just-deleted inline policy
    delete_conflict: float = 0.15  # [IAM-DC] DeleteRole refused after its policy/profile went
    eni_detach: float = 0.15  # [EC2-DV] deletes refused while terminated instances' ENIs detach
    assoc_detach: float = 0.15  # [EC2-EC] DeleteRouteTable refused after DisassociateRouteTable
    lb_provisioning: float = 0.3  # [ELB-ST] strict_elb.py: a new load balancer is provisioning
    target_initial: float = 0.3  # [ELB-TH] a newly registered target is `initial`
    lb_drain: float = 0.15  # [ELB-DL] a deleted load balancer's target group and subnets busy
    # The IAM propagation windows also hold for the first call that meets them, however late
    # it comes: a test that must see the wait passes on a loaded machine too (AWS promises no
    # lower bound either way, so refusing that first call is within what it may do).
    at_least_once: bool = False

    def only(self, **windows: float) -> None:
        """Every window off but these: a test that isolates one behaviour."""
        for name in vars(self):
            setattr(self, name, 0.0)
        for name, value in windows.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)


@dataclass
class Answer:
    status: int
    code: str = ""
    message: str = ""
    body: bytes | None = None  # a full answer (an idempotent replay), not an error


@dataclass
class _Launch:
    params: str  # digest of the request's parameters, ClientToken excluded
    body: bytes
    ids: list[str]


@dataclass
class Strict:
    upstream: str
    windows: Windows = field(default_factory=Windows)
    quota_vcpus: int | None = None  # [SQ] None: ask moto (which has no ec2 quotas)
    lock: threading.Lock = field(default_factory=threading.Lock)
    born: dict[str, float] = field(default_factory=dict)  # new EC2 ID -> created at
    met: set[tuple[str, str]] = field(default_factory=set)  # Windows.at_least_once: seen once
    tokens: dict[tuple[str, str, str], _Launch] = field(default_factory=dict)
    iam_times: dict[tuple[str, str], float] = field(default_factory=dict)  # (event, name) -> t
    deleted_policies: dict[tuple[str, str], float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)  # sg/subnet/vpc/rtb id -> since
    assoc_tables: dict[str, str] = field(default_factory=dict)  # association -> route table
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (action, code, message)
    # [CON] console output by private IP, set by a test (else the testbed host's real key)
    consoles: dict[str, str] = field(default_factory=dict)
    credits: dict[str, str] = field(default_factory=dict)  # instance -> CPU credit mode
    elb: Any = None  # tests.aws.strict_elb.StrictElb: the elbv2 rules

    def __post_init__(self) -> None:
        from tests.aws.strict_elb import StrictElb

        if self.elb is None:
            self.elb = StrictElb(self.upstream)

    # ---- helpers -----------------------------------------------------------------------------

    def _young(
        self, when: float | None, window: float, first: tuple[str, str] | None = None
    ) -> bool:
        if when is None:
            return False
        if time.monotonic() - when < window:
            return True
        if first is None or not self.windows.at_least_once or not window:
            return False
        with self.lock:
            if first in self.met:
                return False
            self.met.add(first)
        return True

    def _ec2(self, region: str) -> Any:
        import boto3

        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.upstream,
            aws_access_key_id="AKIATESTTESTTESTTEST",
            aws_secret_access_key="strict-layer",
        )

    def _refuse(self, action: str, status: int, code: str, message: str) -> Answer:
        self.refused.append((action, code, message))
        return Answer(status, code, message)

    # ---- before moto -------------------------------------------------------------------------

    def before(
        self, service: str, action: str, params: dict[str, list[str]], region: str, body: bytes
    ) -> Answer | None:
        if service == "ec2":
            return self._before_ec2(action, params, region)
        if service == "iam":
            return self._before_iam(action, params)
        if service == "servicequotas" and action == "GetServiceQuota":
            return self._quota(body)
        if service == "elasticloadbalancing":
            return self.elb.before(self, action, params, region)
        return None

    def _before_ec2(self, action: str, params: dict[str, list[str]], region: str) -> Answer | None:
        w = self.windows
        if action == "TerminateInstances":
            self.before_terminate(params, region)
        elif action == "DisassociateRouteTable":
            self.remember_association(params, region)
        if action in IDEMPOTENT and params.get("ClientToken"):
            replay = self._replay(action, params, region)
            if replay is not None:
                return replay
        with self.lock:
            for key, values in params.items():  # [EC2-EC] a new ID is not visible yet
                if key.startswith("Filter."):
                    continue
                for value in values:
                    if self._young(self.born.get(value), w.ec2_id):
                        code, text = next(v for p, v in NOT_FOUND.items() if value.startswith(p))
                        return self._refuse(action, 400, code, text.format(value))
        # RunInstances API reference: with a network interface, the subnet and security groups
        # go on the interface (moto accepts both places).
        eni = any(k.startswith("NetworkInterface.") for k in params)
        if (
            action == "RunInstances"
            and eni
            and ("SubnetId" in params or any(k.startswith("SecurityGroupId.") for k in params))
        ):
            return self._refuse(
                action,
                400,
                "InvalidParameterCombination",
                "Network interfaces and an instance-level subnet ID or security groups may "
                "not be specified on the same request",
            )
        if action == "RunInstances":
            from tests.aws.strict_zones import unsupported

            refused = self._profile_not_ready(params) or unsupported(self, params, region)
            if refused is not None:
                return refused
        if action == "GetConsoleOutput":
            return self._console(params, region)
        from tests.aws import strict_ec2

        refused = strict_ec2.before(self, action, params, region)
        if refused is not None:
            return refused
        return self._dependencies(action, params)

    def _console(self, params: dict[str, list[str]], region: str) -> Answer | None:
        """[CON] moto's console output is a fixed Xen boot log; a real instance's holds what
        cloud-init's keys_to_console printed: its SSH host keys and their fingerprints. The
        instance at a testbed host's address prints that host's real key."""
        import base64
        import datetime as dt
        import json

        from tests.testbed.core import BASE_DIR

        instance_id = params["InstanceId"][0]
        found = self._ec2(region).describe_instances(InstanceIds=[instance_id])
        ip = found["Reservations"][0]["Instances"][0].get("PrivateIpAddress")
        text = self.consoles.get(ip or "")
        if text is None:
            for state in BASE_DIR.glob("*/state.json"):
                try:
                    hosts = json.loads(state.read_text()).get("hosts") or []
                except (OSError, ValueError):
                    continue
                key = next((h["host_public_key"] for h in hosts if h.get("address") == ip), None)
                if key:
                    text = cloud_init_console(key, f"ip-{ip.replace('.', '-')}")
                    break
        if text is None:
            return None  # moto's own sample: no keys printed (yet)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>"
            f"<instanceId>{instance_id}</instanceId>"
            f"<timestamp>{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.000Z}</timestamp>"
            f"<output>{base64.b64encode(text.encode()).decode()}</output>"
            "</GetConsoleOutputResponse>"
        )
        return Answer(200, body=body.encode())

    def _replay(self, action: str, params: dict[str, list[str]], region: str) -> Answer | None:
        """[EC2-ID] same token: the original answer, or the documented refusals."""
        key = (region, action, params["ClientToken"][0])
        with self.lock:
            launch = self.tokens.get(key)
        if launch is None:
            return None
        if launch.params != _digest(params):
            return self._refuse(
                action,
                400,
                "IdempotentParameterMismatch",
                "Arguments on this idempotent request are inconsistent with arguments used in "
                "previous request(s).",
            )
        if action == "RunInstances":
            found = self._ec2(region).describe_instances(InstanceIds=launch.ids)
            states = {i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}
            if states & {"shutting-down", "terminated"}:
                return self._refuse(
                    action,
                    400,
                    "IdempotentInstanceTerminated",
                    "The client token you have provided is associated with a resource that is "
                    "already deleted. Please use a different client token.",
                )
        return Answer(200, body=launch.body)

    def _profile_not_ready(self, params: dict[str, list[str]]) -> Answer | None:
        """[IAM-EC] EC2 sees a new profile, and a role added to it, only after a while."""
        name = (params.get("IamInstanceProfile.Name") or [""])[0]
        arn = (params.get("IamInstanceProfile.Arn") or [""])[0]
        name = name or arn.rsplit("/", 1)[-1]
        if not name:
            return None
        w = self.windows
        with self.lock:
            created = self.iam_times.get(("profile", name))
            added = self.iam_times.get(("role-added", name))
        if self._young(created, w.iam_profile, ("profile", name)):
            return self._refuse(
                "RunInstances",
                400,
                "InvalidParameterValue",
                f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
            )
        if self._young(added, w.iam_role):
            return self._refuse(
                "RunInstances",
                400,
                "InvalidParameterValue",
                f'IAM Instance Profile "arn:aws:iam::{ACCOUNT}:instance-profile/{name}" '
                "has no associated IAM Roles",
            )
        return None

    def _dependencies(self, action: str, params: dict[str, list[str]]) -> Answer | None:
        """[EC2-DV] ENIs of just-terminated instances, a just-removed route table association."""
        w = self.windows
        first = {
            "DeleteSecurityGroup": "GroupId",
            "DeleteSubnet": "SubnetId",
            "DeleteVpc": "VpcId",
            "DetachInternetGateway": "VpcId",
            "DeleteRouteTable": "RouteTableId",
        }.get(action)
        if first is None:
            return None
        rid = (params.get(first) or [""])[0]
        with self.lock:
            since = self.busy.get(rid)
        if not self._young(since, w.assoc_detach if rid.startswith("rtb-") else w.eni_detach):
            return None
        if action == "DetachInternetGateway":
            message = (
                f"Network {rid} has some mapped public address(es). Please unmap those public "
                "address(es) before detaching the gateway."
            )
        elif action == "DeleteSecurityGroup":
            message = f"resource {rid} has a dependent object"
        else:
            kind = {"subnet-": "subnet", "vpc-": "vpc", "rtb-": "routeTable"}[
                rid.split("-")[0] + "-"
            ]
            message = f"The {kind} '{rid}' has dependencies and cannot be deleted."
        return self._refuse(action, 400, "DependencyViolation", message)

    def _before_iam(self, action: str, params: dict[str, list[str]]) -> Answer | None:
        w = self.windows
        role = (params.get("RoleName") or [""])[0]
        with self.lock:
            created = self.iam_times.get(("role", role))
            emptied = self.iam_times.get(("role-emptied", role))
        if action == "AddRoleToInstanceProfile" and self._young(
            created, w.iam_entity, ("entity", role)
        ):
            return self._refuse(
                action, 404, "NoSuchEntity", f"The role with name {role} cannot be found."
            )
        if action == "DeleteRole" and self._young(emptied, w.delete_conflict):
            return self._refuse(
                action,
                409,
                "DeleteConflict",
                "Cannot delete entity, must remove roles from instance profile first.",
            )
        return None

    def _quota(self, body: bytes) -> Answer | None:
        asked = json.loads(body or b"{}")
        if self.quota_vcpus is None or asked.get("QuotaCode") != "L-1216C47A":
            return None
        quota = {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaCode": "L-1216C47A",
            "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
            "Value": float(self.quota_vcpus),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }
        return Answer(200, body=json.dumps({"Quota": quota}).encode())

    # ---- after moto --------------------------------------------------------------------------

    def after(
        self,
        service: str,
        action: str,
        params: dict[str, list[str]],
        region: str,
        status: int,
        data: bytes,
    ) -> bytes:
        if status != 200:
            return data
        now = time.monotonic()
        if service == "iam":
            return self._after_iam(action, params, data, now)
        if service == "elasticloadbalancing":
            return bytes(self.elb.after(self, action, params, data))
        if service != "ec2":
            return data
        from tests.aws import strict_ec2

        strict_ec2.after(self, action, params, data)
        if action in CREATES:
            ids = re.findall(rf"<{CREATES[action]}>([^<]+)</{CREATES[action]}>".encode(), data)
            if action != "RunInstances":
                ids = ids[:1]
            with self.lock:
                for rid in ids:
                    self.born[rid.decode()] = now
                token = (params.get("ClientToken") or [""])[0]
                if action in IDEMPOTENT and token:
                    self.tokens[(region, action, token)] = _Launch(
                        _digest(params), data, [i.decode() for i in ids]
                    )
        elif action == "DisassociateRouteTable":
            table = self.assoc_tables.get((params.get("AssociationId") or [""])[0])
            if table:
                with self.lock:
                    self.busy[table] = now
        elif action in SEARCHES and any(k.startswith("Filter.") for k in params):
            return self._hide_new(SEARCHES[action], data)
        return data

    def before_terminate(self, params: dict[str, list[str]], region: str) -> None:
        """Remember the network of instances about to terminate [EC2-DV]."""
        ids = [v[0] for k, v in params.items() if k.startswith("InstanceId.")]
        if not ids:
            return
        try:
            found = self._ec2(region).describe_instances(InstanceIds=ids)["Reservations"]
        except Exception:  # unknown IDs: AWS refuses the terminate too
            return
        now = time.monotonic()
        with self.lock:
            for reservation in found:
                for inst in reservation["Instances"]:
                    for rid in (inst.get("SubnetId"), inst.get("VpcId")):
                        if rid:
                            self.busy[rid] = now
                    for group in inst.get("SecurityGroups", []):
                        self.busy[group["GroupId"]] = now
                    for eni in inst.get("NetworkInterfaces", []):
                        for group in eni.get("Groups", []):
                            self.busy[group["GroupId"]] = now

    def remember_association(self, params: dict[str, list[str]], region: str) -> None:
        assoc = (params.get("AssociationId") or [""])[0]
        if not assoc:
            return
        for table in self._ec2(region).describe_route_tables()["RouteTables"]:
            for a in table.get("Associations", []):
                if a.get("RouteTableAssociationId") == assoc:
                    with self.lock:
                        self.assoc_tables[assoc] = table["RouteTableId"]

    def _hide_new(self, id_tag: str, data: bytes) -> bytes:
        """[EC2-EC] a filtered describe does not list what was created a moment ago."""
        with self.lock:
            young = {k for k, t in self.born.items() if self._young(t, self.windows.ec2_search)}
        if not young or not any(y.encode() in data for y in young):
            return data
        ns = re.match(rb'.*?xmlns="([^"]+)"', data, re.S)
        uri = ns.group(1).decode() if ns else ""
        ET.register_namespace("", uri)
        root = ET.fromstring(data)
        tag = f"{{{uri}}}{id_tag}" if uri else id_tag
        item = f"{{{uri}}}item" if uri else "item"
        hidden = False
        for parent in list(root.iter()):
            for child in list(parent):
                if child.tag == item and (child.findtext(tag) or "") in young:
                    parent.remove(child)
                    hidden = True
        if id_tag == "instanceId":  # reservations left without instances
            for parent in list(root.iter()):
                for child in list(parent):
                    inner = child.find(f"{{{uri}}}instancesSet" if uri else "instancesSet")
                    if child.tag == item and inner is not None and len(inner) == 0:
                        parent.remove(child)
        if hidden:
            self.refused.append(("search", id_tag, ""))
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _after_iam(
        self, action: str, params: dict[str, list[str]], data: bytes, now: float
    ) -> bytes:
        role = (params.get("RoleName") or [""])[0]
        profile = (params.get("InstanceProfileName") or [""])[0]
        with self.lock:
            if action == "CreateRole":
                self.iam_times[("role", role)] = now
            elif action == "CreateInstanceProfile":
                self.iam_times[("profile", profile)] = now
            elif action == "AddRoleToInstanceProfile":
                self.iam_times[("role-added", profile)] = now
            elif action == "RemoveRoleFromInstanceProfile":
                self.iam_times[("role-emptied", role)] = now
            elif action == "DeleteRolePolicy":
                policy = (params.get("PolicyName") or [""])[0]
                self.deleted_policies[(role, policy)] = now
                self.iam_times[("role-emptied", role)] = now
            elif action == "ListRolePolicies":
                stale = [
                    p
                    for (r, p), t in self.deleted_policies.items()
                    if r == role and self._young(t, self.windows.iam_stale)
                ]
                return _add_members(data, "PolicyNames", stale)
        return data


def cloud_init_console(public_key: str, hostname: str, fingerprint_of: str | None = None) -> str:
    """What cloud-init's keys_to_console writes (write-ssh-key-fingerprints): the
    fingerprints block, then the keys block. `fingerprint_of` prints another key's
    fingerprint instead (a console that contradicts itself)."""
    import base64
    import hashlib

    kind, blob = public_key.split()[:2]
    shown = (fingerprint_of or public_key).split()[1]
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(shown)).digest()).decode()
    name = {"ssh-ed25519": "ED25519", "ecdsa-sha2-nistp256": "ECDSA"}.get(kind, "RSA")
    return (
        "[   12.345678] cloud-init[1012]: Cloud-init v. 24.1 running 'modules:final'\n"
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        f"256 SHA256:{digest.rstrip('=')} root@{hostname} ({name})\n"
        "-----END SSH HOST KEY FINGERPRINTS-----\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{kind} {blob} root@{hostname}\n"
        "-----END SSH HOST KEY KEYS-----\n"
    )


def _digest(params: dict[str, list[str]]) -> str:
    kept = sorted((k, v) for k, v in params.items() if k not in NOT_PARAMS)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def _add_members(data: bytes, element: str, names: list[str]) -> bytes:
    """[IAM-EC] a stale read: names IAM has just deleted are still listed."""
    if not names:
        return data
    members = "".join(f"<member>{n}</member>" for n in names).encode()
    empty = f"<{element}/>".encode()
    if empty in data:
        return data.replace(empty, f"<{element}>".encode() + members + f"</{element}>".encode())
    opening = f"<{element}>".encode()
    return data.replace(opening, opening + members, 1)
