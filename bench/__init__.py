"""Benchmarks: `python -m bench.run` (see docs/BENCHMARKS.md). Not part of the test suite."""
