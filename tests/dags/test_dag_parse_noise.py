"""Parsing the DAG folder on a fresh CARAVAN_HOME, before any `caravan manifest` or dbt
build, prints no import error, no error-level log line and no traceback.

Issue 15: before the dbt manifest existed, the warehouse DAG's import error was printed on
every run. The catalogue now reads dbt's manifest when a task asks for the marts, never
at parse time. Parsed here as `caravan up`'s DAG processor and `caravan run` parse it
(Airflow's DagBag over dags/), in a fresh interpreter with its own Airflow home, every
line it prints kept.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.dags.test_dag_integrity import DAGS, environ

PARSE = textwrap.dedent(
    """
    import sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    print("IMPORT ERRORS", dict(bag.import_errors))
    print("DAGS", len(bag.dags))
    """
)


def test_a_fresh_home_parses_the_dag_folder_without_error_noise(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAGS)],
        env=environ(home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "IMPORT ERRORS {}" in result.stdout, output[-3000:]
    assert "DAGS 0" not in result.stdout
    noise = [
        line
        for line in output.splitlines()
        if "[error" in line or "[critical" in line or "Traceback" in line or "Error:" in line
    ]
    assert noise == []
    # Parsing built nothing: no dbt manifest (a dbt parse takes seconds), no warehouse.
    assert not (home / "dbt" / "manifest.json").exists()
    assert not (home / "warehouse.duckdb").exists()
