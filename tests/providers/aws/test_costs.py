"""The plan's cost line (issue 25 point 4): the cluster's region's list prices from the table
kept in the package (named with its date), storage, public IPv4s, the load balancer, and what
unlimited CPU credits may add; an unknown region or type says so, never a us-east-1 guess."""

import pytest

from nomadctl.providers.aws.costs import (
    HOURS_PER_MONTH,
    PRICES_AS_OF,
    REGIONS,
    Machines,
    estimate,
)


def test_default_cluster_costs_instances_volumes_and_public_addresses() -> None:
    lines = [Machines("server", "t3.small", 3, 20), Machines("client", "t3.small", 3, 20)]
    est = estimate(lines, "us-east-1")
    per_instance = 0.0208 + 20 * 0.08 / HOURS_PER_MONTH + 0.005
    assert est.hourly == pytest.approx(6 * per_instance)
    assert est.monthly == pytest.approx(6 * per_instance * HOURS_PER_MONTH)
    text = est.text()
    assert "$0.17/hour" in text and "us-east-1" in text and PRICES_AS_OF in text
    assert "120 GiB gp3" in text and "6 public IPv4" in text and "unlimited" not in text
    assert est.to_dict()["usd_per_month"] == round(6 * per_instance * HOURS_PER_MONTH, 2)


def test_the_clusters_region_prices_it() -> None:
    lines = [Machines("server", "t3.small", 3, 20)]
    ireland, virginia = estimate(lines, "eu-west-1"), estimate(lines, "us-east-1")
    assert ireland.hourly == pytest.approx(3 * (0.0228 + 20 * 0.088 / HOURS_PER_MONTH + 0.005))
    assert ireland.hourly > virginia.hourly
    assert "eu-west-1 On-Demand list prices of " + PRICES_AS_OF in ireland.text()
    assert set(REGIONS) >= {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}


def test_an_unknown_region_says_so_and_guesses_nothing() -> None:
    est = estimate([Machines("server", "t3.small", 3, 20)], "ap-south-2")
    assert est.hourly is None and not est.known_region
    assert "no price table for ap-south-2" in est.text() and "$" not in est.text()
    assert est.to_dict()["price_region_known"] is False


def test_no_public_address_is_cheaper() -> None:
    with_ip = estimate([Machines("client", "t3.small", 2, 8)], "us-east-1")
    without = estimate([Machines("client", "t3.small", 2, 8, public_ip=False)], "us-east-1")
    assert with_ip.hourly - without.hourly == pytest.approx(2 * 0.005)
    assert "0 public IPv4" in without.text()


def test_the_load_balancer_hour_is_counted_when_there_is_one() -> None:
    lines = [Machines("server", "t3.small", 3, 20)]
    plain, with_nlb = estimate(lines, "us-east-1"), estimate(lines, "us-east-1", balancer=True)
    assert with_nlb.hourly - plain.hourly == pytest.approx(0.0225)
    assert "load balancer" in with_nlb.text() and "load balancer" not in plain.text()


def test_unlimited_credits_are_explained_with_what_they_may_add() -> None:
    lines = [Machines("server", "t3.small", 3, 20, cpu_credits="unlimited"),
             Machines("client", "m5.large", 2, 20, cpu_credits="unlimited")]  # fmt: skip
    est = estimate(lines, "us-east-1")
    assert est.unlimited == ("t3.small",)  # m5 has no credits
    assert est.surplus_hourly == pytest.approx(3 * 2 * 0.05)
    assert "unlimited CPU credits on t3.small" in est.text() and "$0.30/hour more" in est.text()
    standard = estimate([Machines("server", "t3.small", 3, 20)], "us-east-1")
    assert standard.surplus_hourly == 0 and "unlimited" not in standard.text()


def test_an_unknown_type_makes_the_whole_estimate_unknown_and_names_it() -> None:
    est = estimate(
        [Machines("server", "t3.small", 3, 20), Machines("client", "x9.huge", 1, 20)], "us-east-1"
    )
    assert est.hourly is None and est.monthly is None
    assert est.unknown_types == ("x9.huge",)
    assert est.text().startswith("unknown") and "x9.huge" in est.text()
    assert est.to_dict()["usd_per_hour"] is None


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        estimate([Machines("client", "t3.small", -1, 20)], "us-east-1")
