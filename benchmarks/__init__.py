"""Benchmarks of the scoring platform: each module is a script (``python -m benchmarks.<name>``)."""
