"""The team-server deployment's process mode: which components `caravan up --celery`
runs, the settings they share, and how it keeps them up (tests/e2e/test_celery.py runs
it whole on PostgreSQL and Redis)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from caravan.airflow_env import airflow_environ
from caravan.deployment import COMPONENTS
from caravan.settings import Settings
from caravan.webserver import MAX_RESTARTS, components, wait_for_an_exit

DB = "postgresql+psycopg://postgres@127.0.0.1:5432/caravan_airflow"
BROKER = "redis://127.0.0.1:6379/0"


def settings(tmp_path, **more) -> Settings:
    return Settings.from_env({"CARAVAN_HOME": str(tmp_path), **more})


def test_celery_adds_the_worker_and_flower_only_when_asked():
    airflow = [sys.executable, "-m", "airflow"]
    standalone = components()
    assert set(standalone) == {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "log-server",
    }
    celery = components(celery=True)
    assert set(celery) == set(standalone) | {"worker"}
    # One log server for the machine: Airflow's own would take one port each.
    assert celery["worker"] == [*airflow, "celery", "worker", "--skip-serve-logs"]
    assert celery["scheduler"] == [*airflow, "scheduler", "--skip-serve-logs"]
    assert components(celery=True, flower=True)["flower"] == [*airflow, "celery", "flower"]
    assert "flower" not in components(flower=True)  # Flower watches Celery: none without it
    assert {name for name, c in COMPONENTS.items() if c.optional} == {"flower"}


def test_the_celery_settings_are_the_deployments_on_this_machines_servers(tmp_path):
    environ = airflow_environ(
        settings(tmp_path, CARAVAN_AIRFLOW_DB_URL=DB, CARAVAN_CELERY_BROKER_URL=BROKER)
    )
    assert environ["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == DB
    assert environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == DB
    assert environ["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{DB}"
    assert environ["AIRFLOW__CELERY__BROKER_URL"] == BROKER
    assert environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in environ  # SQLite's only
    # One JWT secret and Fernet key, made once per home, kept owner-only, read back alike.
    again = airflow_environ(
        settings(tmp_path, CARAVAN_AIRFLOW_DB_URL=DB, CARAVAN_CELERY_BROKER_URL=BROKER)
    )
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert environ[key] and environ[key] == again[key]
    kept = tmp_path / "airflow" / "deployment-secrets.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # Without a broker: LocalExecutor on SQLite, as `caravan up`.
    plain = airflow_environ(settings(tmp_path))
    assert "AIRFLOW__CORE__EXECUTOR" not in plain
    assert plain["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")


def test_the_celery_worker_imports_what_the_tasks_import_before_it_forks_its_pool(tmp_path):
    """Celery's own worker start (`loader.init_worker`, before the prefork pool), in a
    fresh process with the deployment's settings: GX's gates, Cosmos, dbt and PySpark are
    imported there, so every pool process and every task forked from one has them."""
    environ = airflow_environ(
        settings(tmp_path, CARAVAN_AIRFLOW_DB_URL=DB, CARAVAN_CELERY_BROKER_URL=BROKER)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "CARAVAN_"))}
    heavy = ["caravan.pipeline.gates", "cosmos.operators.local", "dbt.cli.main", "pyspark.sql"]
    code = (
        "import sys\n"
        "from airflow.providers.celery.executors.celery_executor_utils import app\n"
        f"heavy = {heavy!r}\n"
        "before = [name for name in heavy if name in sys.modules]\n"
        "app.loader.init_worker()\n"
        "print(before, [name for name in heavy if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**env, **environ}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == f"[] {heavy!r}"


def test_a_broker_without_a_metadata_database_is_refused(tmp_path):
    with pytest.raises(ValueError, match="CARAVAN_AIRFLOW_DB_URL is not"):
        airflow_environ(settings(tmp_path, CARAVAN_CELERY_BROKER_URL=BROKER))


def test_a_component_that_ends_is_started_again_a_bounded_number_of_times():
    started = []

    def restart(name: str) -> subprocess.Popen:
        started.append(name)
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    processes = {"worker": subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])}
    terminal = io.StringIO()
    assert wait_for_an_exit(processes, restart, terminal) == ("worker", 3)
    assert started == ["worker"] * MAX_RESTARTS
    assert terminal.getvalue().count("starting it again") == MAX_RESTARTS
    # Without restarts (`caravan up`), the first end is the end.
    once = {"scheduler": subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])}
    assert wait_for_an_exit(once) == ("scheduler", 9)
