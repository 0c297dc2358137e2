"""Benchmarks: each `benchmarks/bench_*.py` module has `main()` that prints one JSON object."""
