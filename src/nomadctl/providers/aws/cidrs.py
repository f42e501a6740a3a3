"""CIDR blocks as the user writes them: --vpc-cidr, --subnet-cidr, --allow-cidr."""

from __future__ import annotations

import ipaddress

from nomadctl.errors import UsageError


def parse_network(value: str, option: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR block as the user wrote it; a bare address means that one address."""
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        hint = ""
        try:
            loose = ipaddress.ip_network(value.strip(), strict=False)
            hint = f"; did you mean {loose}?"
        except ValueError:
            pass
        raise UsageError(f"malformed CIDR for {option}: {value!r} ({exc}){hint}") from None


def parse_vpc_cidrs(
    vpc_cidr: str | None, subnet_cidr: str | None
) -> tuple[ipaddress.IPv4Network | None, ipaddress.IPv4Network | None]:
    """Validate --vpc-cidr/--subnet-cidr (both optional: None means 'as it exists, or default')."""
    vpc = _ipv4(vpc_cidr, "--vpc-cidr") if vpc_cidr else None
    subnet = _ipv4(subnet_cidr, "--subnet-cidr") if subnet_cidr else None
    for net, option in ((vpc, "--vpc-cidr"), (subnet, "--subnet-cidr")):
        if net is not None and not 16 <= net.prefixlen <= 28:
            raise UsageError(f"{option} {net} must have a prefix between /16 and /28 (AWS limit)")
    if vpc is not None and subnet is not None and not subnet.subnet_of(vpc):
        raise UsageError(f"--subnet-cidr {subnet} is not inside --vpc-cidr {vpc}")
    return vpc, subnet


def default_subnet_cidr(vpc: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    """The first /24 of the VPC (or the whole VPC when it is smaller)."""
    if vpc.prefixlen >= 24:
        return vpc
    return next(vpc.subnets(new_prefix=24))


def _ipv4(value: str, option: str) -> ipaddress.IPv4Network:
    net = parse_network(value, option)
    if not isinstance(net, ipaddress.IPv4Network):
        raise UsageError(f"{option} {value!r} must be an IPv4 CIDR block")
    return net
