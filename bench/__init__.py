"""Benchmarks: Cirrus against Orthanc and an nginx roof (see run.py)."""
