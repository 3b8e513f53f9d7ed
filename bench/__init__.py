"""Benchmarks: `make bench` prints each figure as one JSON line."""
