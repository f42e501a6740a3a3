"""Referees: public clients' own test suites run against the Nomad stand-in."""
