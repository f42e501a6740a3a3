"""Shared pytest configuration. Fixtures live next to the parts they build."""

pytest_plugins = ["tests.testbed.fixtures", "tests.aws.fixtures"]
