"""What a planned AWS cluster costs while it runs, as AWS bills it: a price table, not an API.

The plan shows this before anything is created, so that nobody is surprised by a bill. The
figures are AWS's published On-Demand list prices for Linux, in USD, per region, from the
table below (`PRICES_AS_OF` says when it was taken); the plan names the region and the table's
date. A region the table does not have is "unknown" and says so: never a silent us-east-1
figure. A type missing from the region's table is "unknown" too, never a guess. A month is 730
hours, the figure AWS's own pricing calculator uses.

What is billed, per line: each instance's hour; its gp3 root volume (per GiB-month); each
public IPv4 address (USD 0.005/hour since 1 February 2024, in every region: "New AWS public
IPv4 address charge", AWS News Blog, July 2023); the Network Load Balancer's hour when the
cluster has one (its LCU usage is traffic-dependent and not included; the plan says so). T2,
T3, T3a and T4g are launched with standard CPU credits (no surplus charge) unless
`--cpu-credits unlimited`: then sustained use above the baseline is billed at USD 0.05 per
vCPU-hour (Linux) on top, which the plan spells out ("Unlimited mode for burstable performance
instances", EC2 User Guide; "T2/T3 Unlimited" on the EC2 On-Demand pricing page).

Sources: https://aws.amazon.com/ec2/pricing/on-demand/ (instances, CPU credits),
https://aws.amazon.com/ebs/pricing/ (gp3 storage), https://aws.amazon.com/vpc/pricing/ (public
IPv4), https://aws.amazon.com/elasticloadbalancing/pricing/ (NLB hour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

HOURS_PER_MONTH = 730
PRICES_AS_OF = "2025-01"  # when the table below was read from AWS's pricing pages
PUBLIC_IPV4_HOURLY = 0.005  # USD per public IPv4 address-hour, every region
SURPLUS_CREDIT_VCPU_HOURLY = 0.05  # USD per vCPU-hour of surplus credits (Linux, T2/T3/T4g)
BURSTABLE = ("t2.", "t3.", "t3a.", "t4g.")

# vCPUs of the burstable types (EC2 User Guide, "Key concepts for burstable instances").
VCPUS = {
    **{f"t2.{s}": n for s, n in (("micro", 1), ("small", 1), ("medium", 2), ("large", 2))},
    **{f"{f}.{s}": 2 for f in ("t3", "t3a", "t4g") for s in ("nano", "micro", "small")},
    **{f"{f}.{s}": 2 for f in ("t3", "t3a", "t4g") for s in ("medium", "large")},
    **{f"{f}.xlarge": 4 for f in ("t3", "t3a", "t4g")},
    **{f"{f}.2xlarge": 8 for f in ("t3", "t3a", "t4g")},
}

# USD per instance-hour, Linux On-Demand, US East (N. Virginia); US East (Ohio) and US West
# (Oregon) list the same prices for these types.
_US: dict[str, float] = {
    "t2.micro": 0.0116,
    "t2.small": 0.023,
    "t2.medium": 0.0464,
    "t2.large": 0.0928,
    "t3.nano": 0.0052,
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3.2xlarge": 0.3328,
    "t3a.micro": 0.0094,
    "t3a.small": 0.0188,
    "t3a.medium": 0.0376,
    "t3a.large": 0.0752,
    "t4g.micro": 0.0084,
    "t4g.small": 0.0168,
    "t4g.medium": 0.0336,
    "t4g.large": 0.0672,
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m6g.large": 0.077,
    "m7i.large": 0.1008,
    "m7g.large": 0.0816,
    "c5.large": 0.085,
    "c6i.large": 0.085,
    "c6g.large": 0.068,
    "c7g.large": 0.0725,
    "r5.large": 0.126,
    "r6i.large": 0.126,
}
_EU_WEST_1: dict[str, float] = {  # Europe (Ireland)
    "t2.micro": 0.0126,
    "t2.small": 0.025,
    "t2.medium": 0.05,
    "t2.large": 0.1008,
    "t3.nano": 0.0057,
    "t3.micro": 0.0114,
    "t3.small": 0.0228,
    "t3.medium": 0.0456,
    "t3.large": 0.0912,
    "t3.xlarge": 0.1824,
    "t3.2xlarge": 0.3648,
    "t3a.micro": 0.0102,
    "t3a.small": 0.0204,
    "t3a.medium": 0.0408,
    "t3a.large": 0.0816,
    "t4g.micro": 0.0092,
    "t4g.small": 0.0184,
    "t4g.medium": 0.0368,
    "t4g.large": 0.0736,
    "m5.large": 0.107,
    "m5.xlarge": 0.214,
    "m6i.large": 0.107,
    "m6i.xlarge": 0.214,
    "c5.large": 0.096,
    "c6i.large": 0.096,
    "r5.large": 0.141,
    "r6i.large": 0.141,
}
_EU_CENTRAL_1: dict[str, float] = {  # Europe (Frankfurt)
    "t2.micro": 0.0134,
    "t2.small": 0.0268,
    "t2.medium": 0.0536,
    "t2.large": 0.1072,
    "t3.nano": 0.006,
    "t3.micro": 0.012,
    "t3.small": 0.024,
    "t3.medium": 0.048,
    "t3.large": 0.096,
    "t3.xlarge": 0.192,
    "t3.2xlarge": 0.384,
    "t3a.micro": 0.0108,
    "t3a.small": 0.0216,
    "t3a.medium": 0.0432,
    "t3a.large": 0.0864,
    "t4g.micro": 0.0096,
    "t4g.small": 0.0192,
    "t4g.medium": 0.0384,
    "t4g.large": 0.0768,
    "m5.large": 0.115,
    "m5.xlarge": 0.23,
    "m6i.large": 0.115,
    "c5.large": 0.097,
    "c6i.large": 0.097,
    "r5.large": 0.152,
}


@dataclass(frozen=True)
class RegionPrices:
    instance_hourly: dict[str, float]
    gp3_gb_month: float  # USD per GiB-month of gp3 storage
    nlb_hourly: float  # USD per Network Load Balancer-hour (LCUs not included)


REGIONS: dict[str, RegionPrices] = {
    "us-east-1": RegionPrices(_US, 0.08, 0.0225),
    "us-east-2": RegionPrices(_US, 0.08, 0.0225),
    "us-west-2": RegionPrices(_US, 0.08, 0.0225),
    "eu-west-1": RegionPrices(_EU_WEST_1, 0.088, 0.0252),
    "eu-central-1": RegionPrices(_EU_CENTRAL_1, 0.0952, 0.027),
}


def burstable(instance_type: str) -> bool:
    return instance_type.startswith(BURSTABLE)


@dataclass(frozen=True)
class Machines:
    """One line of the plan: ``count`` instances of one type, each with a root volume."""

    role: str
    instance_type: str
    count: int
    volume_gib: int
    public_ip: bool = True
    cpu_credits: str = "standard"  # burstable types only: "standard" or "unlimited"


@dataclass(frozen=True)
class Estimate:
    """Hourly and monthly cost of what the plan keeps running; ``None`` when unknown."""

    hourly: float | None
    unknown_types: tuple[str, ...]
    region: str = "us-east-1"
    known_region: bool = True
    public_ips: int = 0
    volume_gib: int = 0
    balancer: bool = False
    balancer_hourly: float = 0.0  # the NLB's hourly charge, included in `hourly`
    surplus_hourly: float = 0.0  # the most unlimited credits can add per hour
    unlimited: tuple[str, ...] = field(default=())  # the burstable types in unlimited mode

    @property
    def monthly(self) -> float | None:
        return None if self.hourly is None else self.hourly * HOURS_PER_MONTH

    def source(self) -> str:
        return f"{self.region} On-Demand list prices of {PRICES_AS_OF}, nomadctl's table"

    def text(self) -> str:
        """One line for the plan, e.g. ``about $0.17/hour, $124/month (eu-west-1 ...)``."""
        if not self.known_region:
            return (
                f"unknown: nomadctl has no price table for {self.region} (it has "
                f"{', '.join(REGIONS)}); see https://aws.amazon.com/ec2/pricing/on-demand/"
            )
        if self.hourly is None:
            missing = ", ".join(self.unknown_types)
            return f"unknown (no {self.region} price known for {missing}; see the EC2 pricing page)"
        monthly = self.monthly or 0.0
        parts = [f"{self.volume_gib} GiB gp3", f"{self.public_ips} public IPv4"]
        if self.balancer:
            parts.append("the load balancer's hours (its LCUs not counted)")
        line = (
            f"about ${self.hourly:.2f}/hour, ${monthly:,.0f}/month ({self.source()}; "
            f"instances, {', '.join(parts)})"
        )
        if self.unlimited:
            line += (
                f"; unlimited CPU credits on {', '.join(self.unlimited)}: sustained use above "
                f"the baseline adds up to ${self.surplus_hourly:.2f}/hour more "
                f"(${SURPLUS_CREDIT_VCPU_HOURLY}/vCPU-hour)"
            )
        return line

    def to_dict(self) -> dict[str, object]:
        return {
            "usd_per_hour": None if self.hourly is None else round(self.hourly, 4),
            "usd_per_month": None if self.monthly is None else round(self.monthly, 2),
            "unknown_instance_types": list(self.unknown_types),
            "price_region": self.region,
            "price_region_known": self.known_region,
            "prices_as_of": PRICES_AS_OF,
            "public_ipv4": self.public_ips,
            "volume_gib": self.volume_gib,
            "load_balancer": self.balancer,
            "load_balancer_usd_per_hour": self.balancer_hourly,
            "unlimited_credits_usd_per_hour_at_most": round(self.surplus_hourly, 4),
        }


def estimate(lines: Sequence[Machines], region: str, balancer: bool = False) -> Estimate:
    """The cost per hour of ``lines`` running in ``region``: instances, their volumes and
    public addresses, and (``balancer``) the cluster's Network Load Balancer."""
    for m in lines:
        if m.count < 0 or m.volume_gib < 0:
            raise ValueError(f"negative count or volume in {m}")
    ips = sum(m.count for m in lines if m.public_ip)
    gib = sum(m.count * m.volume_gib for m in lines)
    unlimited = sorted(
        {m.instance_type for m in lines if m.count and m.cpu_credits == "unlimited"}
        & {m.instance_type for m in lines if burstable(m.instance_type)}
    )
    surplus = sum(
        m.count * VCPUS.get(m.instance_type, 2) * SURPLUS_CREDIT_VCPU_HOURLY
        for m in lines
        if m.instance_type in unlimited and m.cpu_credits == "unlimited"
    )
    common = {
        "region": region,
        "public_ips": ips,
        "volume_gib": gib,
        "balancer": balancer,
        "surplus_hourly": surplus,
        "unlimited": tuple(unlimited),
    }
    prices = REGIONS.get(region)
    if prices is None:
        return Estimate(hourly=None, unknown_types=(), known_region=False, **common)  # type: ignore[arg-type]
    table = prices.instance_hourly
    unknown = sorted({m.instance_type for m in lines if m.count and m.instance_type not in table})
    if unknown:
        return Estimate(hourly=None, unknown_types=tuple(unknown), **common)  # type: ignore[arg-type]
    hourly = sum(m.count * table[m.instance_type] for m in lines if m.count)
    hourly += gib * prices.gp3_gb_month / HOURS_PER_MONTH
    hourly += ips * PUBLIC_IPV4_HOURLY
    nlb = prices.nlb_hourly if balancer else 0.0  # the API's NLB (issue 25 point 2)
    hourly += nlb
    return Estimate(hourly=hourly, unknown_types=(), balancer_hourly=nlb, **common)  # type: ignore[arg-type]
