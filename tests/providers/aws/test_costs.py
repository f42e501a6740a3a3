"""The plan's cost line: list prices summed per instance, storage and public IPv4 included."""

import pytest

from nomadctl.providers.aws.costs import HOURS_PER_MONTH, Machines, estimate


def test_default_cluster_costs_instances_volumes_and_public_addresses() -> None:
    lines = [Machines("server", "t3.small", 3, 20), Machines("client", "t3.small", 3, 20)]
    est = estimate(lines)
    per_instance = 0.0208 + 20 * 0.08 / HOURS_PER_MONTH + 0.005
    assert est.hourly == pytest.approx(6 * per_instance)
    assert est.monthly == pytest.approx(6 * per_instance * HOURS_PER_MONTH)
    assert "$0.17/hour" in est.text() and "us-east-1" in est.text()
    assert est.to_dict()["usd_per_month"] == round(6 * per_instance * HOURS_PER_MONTH, 2)


def test_no_public_address_is_cheaper() -> None:
    with_ip = estimate([Machines("client", "t3.small", 2, 8)])
    without = estimate([Machines("client", "t3.small", 2, 8, public_ip=False)])
    assert with_ip.hourly - without.hourly == pytest.approx(2 * 0.005)


def test_an_unknown_type_makes_the_whole_estimate_unknown_and_names_it() -> None:
    est = estimate([Machines("server", "t3.small", 3, 20), Machines("client", "x9.huge", 1, 20)])
    assert est.hourly is None and est.monthly is None
    assert est.unknown_types == ("x9.huge",)
    assert est.text().startswith("unknown") and "x9.huge" in est.text()
    assert est.to_dict()["usd_per_hour"] is None


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        estimate([Machines("client", "t3.small", -1, 20)])
