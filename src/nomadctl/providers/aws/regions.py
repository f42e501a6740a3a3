"""`list --all-regions`: the clusters in every region this account has enabled.

The regions come from EC2 `DescribeRegions` (without AllRegions: only the regions enabled for
the account, opted-in ones included; the others refuse every call). The call goes to the
region given (or configured), else to us-east-1, which every account has. Each region is then
searched by tag as `list` searches one (infra.list_clusters), a few at a time; a region that
cannot be searched is named with its reason, and the others are still listed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nomadctl.errors import NomadctlError
from nomadctl.providers.aws import infra
from nomadctl.providers.aws.errors import translated
from nomadctl.providers.aws.session import Aws

ASKED_FIRST = "us-east-1"  # where DescribeRegions goes when no region is given or configured
PARALLEL = 8


@dataclass
class Everywhere:
    regions: list[str]  # every region looked in, sorted
    clusters: list[Any] = field(default_factory=list)  # infra.ClusterSummary
    failed: dict[str, str] = field(default_factory=dict)  # region -> why it was not searched

    def to_dict(self) -> dict[str, Any]:
        return {
            "regions": self.regions,
            "clusters": [c.to_dict() for c in self.clusters],
            "failed": self.failed,
        }


def enabled_regions(region: str | None, profile: str | None) -> list[str]:
    try:
        aws = Aws(region, profile)
    except NomadctlError:
        if region:
            raise
        aws = Aws(ASKED_FIRST, profile)
    with translated(aws):
        found = aws.ec2.describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in found)


def list_everywhere(
    region: str | None, profile: str | None, progress: Callable[[str], None]
) -> Everywhere:
    regions = enabled_regions(region, profile)
    result = Everywhere(regions)
    progress(f"looking in {len(regions)} regions")

    def one(name: str) -> tuple[str, list[Any] | str]:
        try:
            return name, infra.list_clusters(name, profile)
        except NomadctlError as exc:
            return name, exc.message

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for name, found in pool.map(one, regions):
            if isinstance(found, str):
                result.failed[name] = found
            else:
                result.clusters.extend(found)
    result.clusters.sort(key=lambda c: (c.cluster, c.region))
    return result
