"""`caravan airflow ...`: Airflow's CLI on Caravan's Airflow home, as `caravan up` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from caravan.airflow_env import TASK_PRELOAD

REPO = Path(__file__).resolve().parents[2]


def test_airflow_commands_see_caravans_dags_and_metadata_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "CARAVAN_"))}
    env["CARAVAN_HOME"] = str(tmp_path)
    caravan = Path(sys.executable).with_name("caravan")

    def config(section: str, key: str) -> str:
        result = subprocess.run(
            [str(caravan), "airflow", "config", "get-value", section, key],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip()

    assert config("core", "dags_folder") == str(REPO / "dags")
    assert (
        config("database", "sql_alchemy_conn") == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    )
    # The scheduler's workers start from a forkserver that has imported what tasks need.
    assert config("scheduler", "mp_start_method") == "forkserver"
    assert config("scheduler", "mp_forkserver_preload") == ",".join(TASK_PRELOAD)


def test_every_module_the_scheduler_preloads_imports():
    """The forkserver skips a preload module that fails to import, silently: import them
    here, in a fresh interpreter as the forkserver does (the traceback names the module)."""
    code = "\n".join(f"import {module}" for module in TASK_PRELOAD)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
