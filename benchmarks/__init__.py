"""Benchmarks of airflow-provider-rtk: ``make bench`` (``python -m benchmarks``); see benchmarks/README.md."""
