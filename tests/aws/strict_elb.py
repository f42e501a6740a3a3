"""Elastic Load Balancing (elbv2) semantics that moto skips, for the strict layer (strict.py).

moto makes a new load balancer `active` on the first DescribeLoadBalancers, reports a newly
registered target `healthy` at once, and deletes a load balancer and everything it held in
one instant. Real AWS does none of these. Sources, cited below by their letters:

[ELB-ST] Elastic Load Balancing API Reference, `LoadBalancerState`: Code is one of
         `active | provisioning | active_impaired | failed`; "CreateLoadBalancer ... the
         state of the load balancer is provisioning" until it can route traffic, typically a
         few minutes for a Network Load Balancer. botocore's elbv2 waiters-2.json defines
         `LoadBalancerAvailable` as DescribeLoadBalancers polled until every
         `LoadBalancers[].State.Code` is `active` (retrying while `provisioning`).
[ELB-TH] API Reference, `TargetHealth`: State `initial` with Reason
         `Elb.RegistrationInProgress` ("Target registration is in progress") after
         RegisterTargets, until the target passes the health check threshold; `unused`
         with `Target.InvalidState` for a stopped instance (moto models that one).
[ELB-DL] API Reference, DeleteLoadBalancer: "Deleting a load balancer does not affect its
         registered targets"; the call returns while the load balancer's network interfaces
         are released, and until then DeleteTargetGroup answers `ResourceInUse` ("The target
         group ... is currently in use by a listener or a rule") and EC2's DeleteSubnet
         answers `DependencyViolation` for the subnets it was in (terraform-provider-aws
         waits for the load balancer's ENIs before deleting its subnets and retries
         DeleteTargetGroup on ResourceInUse).
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StrictElb:
    """State the elbv2 rules need: when each load balancer was made, each target registered,
    each load balancer deleted (with its target groups and subnets)."""

    upstream: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    born: dict[str, float] = field(default_factory=dict)  # load balancer ARN -> created
    registered: dict[tuple[str, str], float] = field(default_factory=dict)  # (tg, id) -> t
    draining: dict[str, float] = field(default_factory=dict)  # target group ARN -> since

    def _client(self, region: str) -> Any:
        import boto3

        return boto3.client(
            "elbv2",
            region_name=region,
            endpoint_url=self.upstream,
            aws_access_key_id="AKIATESTTESTTESTTEST",
            aws_secret_access_key="strict-layer",
        )

    # ---- before moto ---------------------------------------------------------------------

    def before(
        self, strict: Any, action: str, params: dict[str, list[str]], region: str
    ) -> Any | None:
        if action == "DeleteLoadBalancer":
            self._remember_deletion(strict, params, region)
            return None
        if action == "DeleteTargetGroup":  # [ELB-DL]
            arn = (params.get("TargetGroupArn") or [""])[0]
            with self.lock:
                since = self.draining.get(arn)
            if strict._young(since, strict.windows.lb_drain):
                return strict._refuse(
                    action,
                    400,
                    "ResourceInUse",
                    f"The target group '{arn}' is currently in use by a listener or a rule",
                )
        return None

    def _remember_deletion(self, strict: Any, params: dict[str, list[str]], region: str) -> None:
        """[ELB-DL] the target groups behind its listeners, and its subnets, stay busy."""
        arn = (params.get("LoadBalancerArn") or [""])[0]
        elb = self._client(region)
        try:
            lbs = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
            listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        except Exception:  # not there: AWS answers the delete without doing anything
            return
        now = time.monotonic()
        groups = {
            a["TargetGroupArn"]
            for x in listeners
            for a in x.get("DefaultActions", [])
            if a.get("TargetGroupArn")
        }
        with self.lock:
            for group in groups:
                self.draining[group] = now
        with strict.lock:
            for lb in lbs:
                for zone in lb.get("AvailabilityZones", []):
                    if zone.get("SubnetId"):
                        strict.busy[zone["SubnetId"]] = now

    # ---- after moto ----------------------------------------------------------------------

    def after(self, strict: Any, action: str, params: dict[str, list[str]], data: bytes) -> bytes:
        now = time.monotonic()
        if action == "CreateLoadBalancer":
            for arn in re.findall(rb"<LoadBalancerArn>([^<]+)</LoadBalancerArn>", data):
                with self.lock:
                    self.born.setdefault(arn.decode(), now)
        elif action == "RegisterTargets":
            group = (params.get("TargetGroupArn") or [""])[0]
            ids = [
                v[0]
                for k, v in params.items()
                if k.startswith("Targets.member.") and k.endswith(".Id")
            ]
            with self.lock:
                for target in ids:
                    self.registered[(group, target)] = now
        elif action == "DescribeLoadBalancers":
            return self._provisioning(strict, data)
        elif action == "DescribeTargetHealth":
            group = (params.get("TargetGroupArn") or [""])[0]
            return self._initial(strict, group, data)
        return data

    def _provisioning(self, strict: Any, data: bytes) -> bytes:
        """[ELB-ST] `provisioning` for the first lb_provisioning seconds."""
        with self.lock:
            young = {
                arn
                for arn, t in self.born.items()
                if strict._young(t, strict.windows.lb_provisioning)
            }
        if not young:
            return data
        root, ns = _parse(data)
        for member in root.iter(f"{ns}member"):
            arn = member.findtext(f"{ns}LoadBalancerArn")
            code = member.find(f"{ns}State/{ns}Code")
            if arn in young and code is not None and code.text == "active":
                code.text = "provisioning"
                strict.refused.append(("DescribeLoadBalancers", "provisioning", arn))
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _initial(self, strict: Any, group: str, data: bytes) -> bytes:
        """[ELB-TH] a target registered a moment ago is `initial`, not `healthy`."""
        with self.lock:
            young = {
                target
                for (g, target), t in self.registered.items()
                if g == group and strict._young(t, strict.windows.target_initial)
            }
        if not young:
            return data
        root, ns = _parse(data)
        for member in root.iter(f"{ns}member"):
            target = member.findtext(f"{ns}Target/{ns}Id")
            health = member.find(f"{ns}TargetHealth")
            state = health.find(f"{ns}State") if health is not None else None
            if target in young and state is not None and state.text == "healthy":
                state.text = "initial"
                for tag, text in (
                    ("Reason", "Elb.RegistrationInProgress"),
                    ("Description", "Target registration is in progress"),
                ):
                    element = health.find(f"{ns}{tag}")  # type: ignore[union-attr]
                    if element is None:
                        element = ET.SubElement(health, f"{ns}{tag}")  # type: ignore[arg-type]
                    element.text = text
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _parse(data: bytes) -> tuple[ET.Element, str]:
    found = re.match(rb'.*?xmlns="([^"]+)"', data, re.S)
    uri = found.group(1).decode() if found else ""
    ET.register_namespace("", uri)
    return ET.fromstring(data), (f"{{{uri}}}" if uri else "")
