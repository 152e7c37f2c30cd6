"""Benchmarks of the engine service; `python -m engine_svc.bench` runs them."""
