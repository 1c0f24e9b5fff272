"""The gateway's benchmark: ``python -m bench`` (or ``make bench``); see bench/run.py and docs/benchmarks.md."""
