"""The suite runs on every core (pytest-xdist, one file per worker at a time: a module's
shared fixtures, such as the demo chain of tests/e2e/test_chain.py, run once).

The end-to-end files take minutes each and the rest seconds, so they are collected
first: each worker starts on one of them and the short files fill in around them."""

from __future__ import annotations


def pytest_collection_modifyitems(config, items) -> None:
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)  # stable: e2e first
