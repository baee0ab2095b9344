"""Support code for benchmarks/run.py: the side-by-side gitmodels / DVC / Git LFS harness."""
