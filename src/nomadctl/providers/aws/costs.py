"""What a planned AWS cluster costs while it runs: a small price table, not a billing API.

The plan shows this before anything is created, so that nobody is surprised by a bill. The
figures are AWS's published On-Demand list prices for Linux in US East (N. Virginia), in USD;
other regions differ (most by 0-30 %), so every estimate says which prices it used and counts
a type missing from the table as "unknown" rather than guessing. A month is 730 hours, the
figure AWS's own pricing calculator uses.

Sources: https://aws.amazon.com/ec2/pricing/on-demand/ (instances),
https://aws.amazon.com/ebs/pricing/ (gp3 storage), and
https://aws.amazon.com/vpc/pricing/ (public IPv4 addresses, charged since February 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOURS_PER_MONTH = 730
PRICE_REGION = "us-east-1"

# USD per instance-hour, Linux On-Demand, us-east-1.
INSTANCE_HOURLY: dict[str, float] = {
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
GP3_GB_MONTH = 0.08  # USD per GiB-month of gp3 storage
PUBLIC_IPV4_HOURLY = 0.005  # USD per public IPv4 address-hour
# USD per Network Load Balancer-hour, us-east-1 (https://aws.amazon.com/elasticloadbalancing/
# pricing/); traffic adds $0.006 per NLCU-hour, next to nothing for the API of one cluster.
NLB_HOURLY = 0.0225


@dataclass(frozen=True)
class Machines:
    """One line of the plan: ``count`` instances of one type, each with a root volume."""

    role: str
    instance_type: str
    count: int
    volume_gib: int
    public_ip: bool = True


@dataclass(frozen=True)
class Estimate:
    """Hourly and monthly cost of what the plan keeps running; ``None`` when unknown."""

    hourly: float | None
    unknown_types: tuple[str, ...]
    region: str = PRICE_REGION
    load_balancer_hourly: float = 0.0  # included in `hourly`

    @property
    def monthly(self) -> float | None:
        return None if self.hourly is None else self.hourly * HOURS_PER_MONTH

    def text(self) -> str:
        """One line for the plan, e.g. ``about $0.17/hour, $124/month (us-east-1 list prices)``."""
        if self.hourly is None:
            missing = ", ".join(self.unknown_types)
            return f"unknown (no price known for {missing}; see the EC2 pricing page)"
        monthly = self.monthly or 0.0
        lb = (
            f"; the load balancer ${self.load_balancer_hourly:.4f}/hour of it, plus traffic"
            if self.load_balancer_hourly
            else ""
        )
        return (
            f"about ${self.hourly:.2f}/hour, ${monthly:,.0f}/month "
            f"({self.region} On-Demand list prices; other regions differ{lb})"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "usd_per_hour": None if self.hourly is None else round(self.hourly, 4),
            "usd_per_month": None if self.monthly is None else round(self.monthly, 2),
            "unknown_instance_types": list(self.unknown_types),
            "price_region": self.region,
            "load_balancer_usd_per_hour": self.load_balancer_hourly,
        }


def estimate(lines: Sequence[Machines], load_balancers: int = 0) -> Estimate:
    """The cost per hour of ``lines`` running, storage and public addresses included, and of
    ``load_balancers`` Network Load Balancers (their hours; traffic is extra)."""
    unknown = sorted({m.instance_type for m in lines if m.instance_type not in INSTANCE_HOURLY})
    if unknown:
        return Estimate(hourly=None, unknown_types=tuple(unknown))
    hourly = 0.0
    for m in lines:
        if m.count < 0 or m.volume_gib < 0:
            raise ValueError(f"negative count or volume in {m}")
        storage = m.volume_gib * GP3_GB_MONTH / HOURS_PER_MONTH
        per_instance = INSTANCE_HOURLY[m.instance_type] + storage
        if m.public_ip:
            per_instance += PUBLIC_IPV4_HOURLY
        hourly += m.count * per_instance
    lb = load_balancers * NLB_HOURLY
    return Estimate(hourly=hourly + lb, unknown_types=(), load_balancer_hourly=lb)
