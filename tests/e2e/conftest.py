"""The end-to-end files' shared fixture: the two-day demo (tests/e2e/two_day_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from tests.e2e.two_day_demo import build_demo


@pytest.fixture(scope="session")
def two_day_demo(tmp_path_factory, worker_id) -> Path:
    """The home of the two-day demo: read only (copy it to change it)."""
    # Under xdist, the run's folder common to its workers; without it, this run's own.
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    home = shared / "two_day_demo"
    with FileLock(str(shared / "two_day_demo.lock")):
        if not (home / "demo.out").exists():
            build_demo(home)
    return home
