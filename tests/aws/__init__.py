"""Test helpers for the AWS provider: a moto server reached over real HTTP, a fault proxy."""
