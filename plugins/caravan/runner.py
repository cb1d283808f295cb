"""Running the chain of DAGs for a range of dates through Airflow itself (`dag.test()`).

No scheduler is needed: each DAG runs in this process, in the order the Assets
chain them, with the `ds` passed in the run's conf.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

import pendulum

from caravan import airflow_env
from caravan.settings import Settings

CHAIN = ("ingest_google_ads", "ingest_shop_db", "transform", "warehouse")
SOURCE_CONNECTIONS = ("AIRFLOW_CONN_GOOGLE_ADS_DEFAULT", "AIRFLOW_CONN_SHOP_DB_DEFAULT")


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    ds: str
    state: str
    seconds: float
    failed_tasks: tuple[str, ...] = ()


class ChainFailed(RuntimeError):
    pass


def date_range(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def window(start: str, days: int) -> list[str]:
    """`days` consecutive dates from `start`."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    first = date.fromisoformat(start)
    return [(first + timedelta(days=n)).isoformat() for n in range(days)]


def simulator_connections(
    google_ads_url: str, shop_db_url: str, customer_id: str
) -> dict[str, str]:
    """Airflow connections (as environment variables) pointing at the simulator."""
    return {
        "AIRFLOW_CONN_GOOGLE_ADS_DEFAULT": json.dumps(
            {
                "conn_type": "http",
                "host": google_ads_url,
                "password": "simulator-access-token",
                "extra": {"customer_id": customer_id, "developer_token": "simulator"},
            }
        ),
        "AIRFLOW_CONN_SHOP_DB_DEFAULT": json.dumps(
            {
                "conn_type": "generic",
                "extra": {"sqlalchemy_url": shop_db_url},
            }
        ),
    }


@contextmanager
def embedded_sources(settings: Settings, dates: list[str]) -> Iterator[bool]:
    """Start the simulator and point the connections at it, unless real ones are configured.

    Yields True when the simulator is in use.
    """
    if all(name in os.environ for name in SOURCE_CONNECTIONS):
        yield False
        return
    from caravan.simulator import running_simulator

    days = [date.fromisoformat(ds) for ds in dates]
    with running_simulator(settings, days) as simulator:
        connections = simulator_connections(
            simulator.google_ads_url, simulator.shop_db_url, simulator.world.google_ads_customer_id
        )
        saved = {name: os.environ.get(name) for name in connections}
        os.environ.update(connections)
        try:
            yield True
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def ensure_manifest(settings: Settings) -> None:
    """Build dbt's manifest when it is missing or older than the project's files."""
    from caravan.warehouse.dbt import manifest_path

    manifest = manifest_path(settings)
    project = settings.dbt_project_dir
    sources = [
        p
        for p in project.rglob("*")
        if p.is_file() and p.relative_to(project).parts[0] not in ("target", "logs")
    ]
    if manifest.exists() and manifest.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return
    build_manifest(settings)


def build_manifest(settings: Settings) -> None:
    from dbt.cli.main import dbtRunner

    airflow_env.apply(settings)
    result = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            str(settings.dbt_project_dir),
            "--profiles-dir",
            str(settings.dbt_project_dir),
        ]
    )
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")


@contextmanager
def output_to_file(log_file: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr (Airflow's task logs, Spark's JVM) to a file;
    yields a stream to the terminal for progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    with open(log_file, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()


def run_chain(
    settings: Settings,
    dates: list[str],
    dag_ids: tuple[str, ...] = CHAIN,
    on_result: Callable[[DagRunResult, int, int], None] | None = None,
) -> list[DagRunResult]:
    """Run each DAG of the chain for each date, in order; stop at the first failed run."""
    airflow_env.ensure_database(settings)
    ensure_manifest(settings)

    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(settings.dags_dir))
    if dagbag.import_errors:
        raise ChainFailed(
            "DAG files failed to import:\n"
            + "\n".join(f"{path}: {error}" for path, error in dagbag.import_errors.items())
        )
    results: list[DagRunResult] = []
    total = len(dates) * len(dag_ids)
    with embedded_sources(settings, dates), _spark_stopped_after():
        for ds in dates:
            for dag_id in dag_ids:
                result = _run_dag(dagbag.get_dag(dag_id), ds)
                results.append(result)
                if on_result:
                    on_result(result, len(results), total)
                if result.state != "success":
                    raise ChainFailed(
                        f"{dag_id} failed for ds={ds} (tasks: {', '.join(result.failed_tasks)});"
                        f" see {settings.logs_dir / 'run.log'}"
                    )
    return results


@contextmanager
def _spark_stopped_after() -> Iterator[None]:
    """Stop the Spark session the transform tasks started in this process, if any."""
    try:
        yield
    finally:
        if "pyspark.sql" in sys.modules:
            from pyspark.sql import SparkSession

            session = SparkSession.getActiveSession()
            if session is not None:
                session.stop()


def _run_dag(dag, ds: str) -> DagRunResult:
    started = time.monotonic()
    logical_date = pendulum.parse(ds, tz="UTC")
    dag_run = dag.test(logical_date=logical_date, run_conf={"ds": ds})
    failed = tuple(
        sorted(
            ti.task_id
            for ti in dag_run.get_task_instances()
            if ti.state in ("failed", "upstream_failed")
        )
    )
    state = getattr(dag_run.state, "value", dag_run.state)
    return DagRunResult(dag.dag_id, ds, str(state), time.monotonic() - started, failed)
