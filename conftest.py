"""The suite runs on a worker per core and one more (pytest-xdist, one file per worker at
a time: a module's shared fixtures, such as the demo chain of tests/e2e/test_chain.py,
run once).

The end-to-end files take minutes each and the rest seconds, so they are collected
first: each worker starts on one of them and the short files fill in around them."""

from __future__ import annotations

import os


def pytest_collection_modifyitems(config, items) -> None:
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)  # stable: e2e first


def pytest_xdist_auto_num_workers(config) -> int:
    """One worker per core and one more: the end-to-end files spend minutes waiting on
    their servers (a scheduler's heartbeat timeout, Airflow starting up), cores another
    file can use. On 2 cores, CI's pytest took 877 s with 3 workers, 1,098 s with 2 and
    996 s with 4 (README: Budget)."""
    return (os.cpu_count() or 1) + 1
