"""Benchmark scripts (never tests): run `python bench/intake.py --help` or `bench/e2e.py --help`."""
