"""The end-to-end files' shared fixture: the two-day demo (tests/e2e/two_day_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from tests.e2e.two_day_demo import build_demo


@pytest.fixture(scope="session")
def two_day_demo(tmp_path_factory, worker_id) -> Path:
    """The home of the two-day demo: read only (copy it to change it)."""
    if worker_id == "master":  # no xdist: this run's own folder
        home = tmp_path_factory.getbasetemp() / "two_day_demo"
        if not (home / "demo.out").exists():
            build_demo(home)
        return home
    shared = tmp_path_factory.getbasetemp().parent  # this run's, common to its workers
    home = shared / "two_day_demo"
    with FileLock(str(shared / "two_day_demo.lock")):
        if not (home / "demo.out").exists():
            build_demo(home)
    return home
