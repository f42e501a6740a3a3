"""Benchmarks of nomadctl (issue 8): CLI start, configuration at distance, round trips per
host, end to end on moto + testbed. Run `python3 benchmarks/run.py --help`; results and how
to read them are in docs/benchmarks.md. Nothing here is a test: no timed assertions."""
