"""The two-day demo that tests/e2e/test_chain.py and test_faults.py both start from
(its fixture, `two_day_demo`, is in tests/e2e/conftest.py).

Each file used to run the same `caravan demo` of two days itself: about 200 s of CPU each
under CI's load. It is now built once per test run and shared by the pytest-xdist workers,
as xdist's documentation does for a session fixture: a lock file in the run's common
temporary folder, the first worker to take it builds the home, the others find it built.
The built home is never changed: a file that changes it works on its own copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEMO_DAYS = ("2026-11-01", "2026-11-02")
DEMO_SEED = 42
CARAVAN = str(Path(sys.executable).with_name("caravan"))


def demo_environ(home: Path) -> dict[str, str]:
    """The caller's environment without its Caravan settings or Airflow connections (the
    simulator serves the sources), on `home` with DEMO_SEED."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW_CONN_", "CARAVAN_")) and name != "AIRFLOW_HOME"
    }
    return env | {"CARAVAN_HOME": str(home), "CARAVAN_SEED": str(DEMO_SEED)}


def build_demo(home: Path) -> None:
    """`caravan demo` of DEMO_DAYS into `home`, its output kept as `demo.out`, written last:
    a home without it is a build that did not finish."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    result = subprocess.run(
        [CARAVAN, "demo", "--start", DEMO_DAYS[0], "--days", str(len(DEMO_DAYS))],
        env=demo_environ(home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = home / "logs" / "run.log"
    assert result.returncode == 0, (
        result.stdout + result.stderr + (log.read_text()[-20000:] if log.exists() else "")
    )
    (home / "demo.out").write_text(result.stdout)
