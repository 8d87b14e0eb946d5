"""Benchmarks run by `nox -s bench -- <name>`: each compares ratios measured side by side in one run."""

__all__: list[str] = []
