"""The pieces of the speed benchmark run by ``benchmarks/harness.py`` (issue 6)."""
