"""Running the chain of DAGs for a range of dates through Airflow itself (`dag.test()`).

No scheduler is needed: each DAG runs in this process, in the order the Assets
chain them, with the `ds` passed in the run's conf.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import pendulum

from caravan import airflow_env
from caravan.settings import Settings, environment

if TYPE_CHECKING:
    from caravan.simulator import Faults, RunningSimulator

log = logging.getLogger(__name__)

# After the ingest DAGs (one per registry entry), in the order the Assets chain them:
# `enrich` reads only typed copies, so it runs beside `transform`, before `warehouse`.
DOWNSTREAM = ("enrich", "transform", "warehouse")
# Tokens the simulator's APIs accept (it checks only that one is sent).
SIMULATOR_TOKEN = "simulator-access-token"


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    ds: str  # "first..last" for a range run
    state: str
    seconds: float
    failed_tasks: tuple[str, ...] = ()


class ChainFailed(RuntimeError):
    pass


# A DAG run with no task instance (a date outside the DAG's start_date/end_date: Airflow
# makes the run and schedules nothing in it) is reported in this state, never as success.
NO_TASKS = "no_tasks"


def dates_before_start(
    runs: list[tuple[str, list[str]]], start_dates: Mapping[str, date | None]
) -> list[str]:
    """What a chain cannot run: per DAG, the dates of `runs` before its start date (Airflow
    would make the run and no task in it), each DAG's said once with how many and which."""
    early: dict[str, list[str]] = {}
    for dag_id, days in runs:
        start = start_dates.get(dag_id)
        early.setdefault(dag_id, []).extend(
            ds for ds in days if start and date.fromisoformat(ds) < start
        )
    return [
        f"{dag_id} starts on {start_dates[dag_id]}, so it has nothing to run for"
        f" {len(days)} date(s): {_span(days)}"
        for dag_id, days in early.items()
        if days
    ]


def _span(days: list[str]) -> str:
    ordered = sorted(set(days))
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} .. {ordered[-1]}"


def window(start: str, days: int) -> list[str]:
    """`days` consecutive dates from `start`."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    first = date.fromisoformat(start)
    return [(first + timedelta(days=n)).isoformat() for n in range(days)]


def chain(settings: Settings) -> tuple[str, ...]:
    """Every source's ingest DAG, then the downstream DAGs (`enrich` only when the registry
    lands texts to label)."""
    from caravan.catalog import enriched
    from caravan.sources.registry import load_registry

    sources = load_registry(settings.dags_dir / "sources.yaml")
    downstream = [dag_id for dag_id in DOWNSTREAM if dag_id != "enrich" or enriched(settings)]
    return (*(f"ingest_{name}" for name in sources), *downstream)


def connection_variable(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def simulator_connections(simulator: RunningSimulator) -> dict[str, str]:
    """Airflow connections (as environment variables) pointing at the simulator's systems."""
    return {
        connection_variable(conn_id): json.dumps(spec)
        for conn_id, spec in simulator_connection_specs(simulator).items()
    }


def airflow_connection(conn_id: str, spec: dict):
    """An Airflow Connection from a spec of `simulator_connection_specs`, for code that
    extracts without Airflow's lookup (benchmarks, tests)."""
    from airflow.sdk import Connection

    return Connection(
        conn_id=conn_id,
        conn_type=spec["conn_type"],
        host=spec.get("host"),
        password=spec.get("password"),
        extra=json.dumps(spec.get("extra", {})),
    )


def simulator_connection_specs(simulator: RunningSimulator) -> dict[str, dict]:
    """Each source's connection (conn_type, host, password, extra) to the simulator."""
    from caravan.simulator.issue_tracker_api import OWNER as ISSUE_TRACKER_OWNER
    from caravan.simulator.issue_tracker_api import REPO as ISSUE_TRACKER_REPO
    from caravan.simulator.meta_ads_api import API_VERSION as META_API_VERSION

    world = simulator.world
    return {
        "google_ads_default": {
            "conn_type": "http",
            "host": simulator.google_ads_url,
            "password": SIMULATOR_TOKEN,
            "extra": {
                "customer_id": world.google_ads_customer_id,
                "developer_token": "simulator",
            },
        },
        "meta_ads_default": {
            "conn_type": "http",
            "host": f"{simulator.meta_ads_url}/{META_API_VERSION}",
            "password": SIMULATOR_TOKEN,
            "extra": {"account_ids": [a.account_id for a in world.meta_ad_accounts()]},
        },
        "crm_default": {
            "conn_type": "http",
            "host": simulator.crm_url,
            "password": SIMULATOR_TOKEN,
        },
        "shop_db_default": {
            "conn_type": "generic",
            "extra": {"sqlalchemy_url": simulator.shop_db_url},
        },
        "web_analytics_default": {
            "conn_type": "fs",
            "extra": {"path": str(simulator.web_analytics_dir)},
        },
        "sales_ops_default": {"conn_type": "fs", "extra": {"path": str(simulator.sales_ops_dir)}},
        "fx_rates_default": {"conn_type": "fs", "extra": {"path": str(simulator.fx_rates_dir)}},
        "issue_tracker_default": {
            "conn_type": "http",
            "host": simulator.issue_tracker_url,
            "password": SIMULATOR_TOKEN,
            "extra": {"owner": ISSUE_TRACKER_OWNER, "repo": ISSUE_TRACKER_REPO},
        },
        "docs_default": {"conn_type": "fs", "extra": {"path": str(simulator.docs_dir)}},
    }


@contextmanager
def embedded_sources(
    settings: Settings, dates: list[str], faults: Faults | None = None
) -> Iterator[bool]:
    """Start the simulator (with `faults`, if given) and point the connections at it, unless
    real ones are configured.

    Yields True when the simulator is in use.
    """
    from caravan.sources.registry import load_registry

    registry = load_registry(settings.dags_dir / "sources.yaml")
    if all(connection_variable(s.conn_id) in os.environ for s in registry.values()):
        yield False
        return
    from caravan.simulator import running_simulator
    from caravan.simulator.faults import NO_FAULTS

    days = [date.fromisoformat(ds) for ds in dates]
    with running_simulator(settings, days, faults=faults or NO_FAULTS) as simulator:
        connections = {
            name: value
            for name, value in simulator_connections(simulator).items()
            if name not in os.environ  # a connection configured for real stays as it is
        }
        with environment(connections):
            yield True


@contextmanager
def output_to_file(log_file: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr (Airflow's task logs, Spark's JVM) to a file;
    yields a stream to the terminal for progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    log_file.parent.mkdir(parents=True, exist_ok=True)
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


def reported(
    work: Callable[[], object],
    terminal: TextIO,
    log_file: Path,
    expected: tuple[type[Exception], ...],
) -> int:
    """Run `work` under `output_to_file`; returns the exit code. A failure it `expected`
    (a chain or a load that did not pass) is one FAILED line on the terminal; anything
    else an ERROR line there and its traceback in the log."""
    import traceback

    try:
        work()
    except expected as failed:
        print(f"\nFAILED: {failed}", file=terminal)
        return 1
    except Exception as error:
        traceback.print_exc()
        print(f"\nERROR: {type(error).__name__}: {error}\n(traceback in {log_file})", file=terminal)
        return 1
    return 0


def run_chain(
    settings: Settings,
    dates: list[str],
    dag_ids: tuple[str, ...] | None = None,
    on_result: Callable[[DagRunResult, int, int], None] | None = None,
    faults: Faults | None = None,
    spark_range: bool = False,
) -> list[DagRunResult]:
    """Run each DAG of the chain for each date, in order; stop at the first failed run.

    With `spark_range`, the `transform` DAG runs once for all the dates (a range run, conf
    `ds` … `ds_end`: one Spark job per job output), after every date's ingest and before
    every date's warehouse. `faults` go to the simulator (when it serves the sources),
    e.g. planted bad records.
    """
    dag_ids = dag_ids or chain(settings)
    airflow_env.ensure_database(settings, preload=airflow_env.CHAIN_PRELOAD)

    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(settings.dags_dir))
    # A file that fails to import matters when it holds a DAG this run needs.
    missing = [dag_id for dag_id in dag_ids if dag_id not in dagbag.dags]
    if missing:
        errors = "".join(f"\n{path}: {error}" for path, error in dagbag.import_errors.items())
        raise ChainFailed(
            f"DAGs not found: {missing}; known: {sorted(dagbag.dags)}."
            + (f" DAG files failed to import:{errors}" if errors else "")
        )
    # Everything imported so far (Airflow, GX, dbt, Cosmos, PySpark, pandas: millions of
    # objects) lives as long as the process: out of the garbage collector's walks, which
    # otherwise cost about 8 % of a chain's time (bench/README.md).
    gc.freeze()
    runs = chain_runs(dag_ids, dates, spark_range)
    start_dates = {dag_id: _start_date(dagbag.get_dag(dag_id)) for dag_id in dag_ids}
    early = dates_before_start(runs, start_dates)
    if early:
        raise ChainFailed(
            "; ".join(early)
            + " (a DAG runs from its start_date: an ingest DAG's is its source's start_date in"
            " dags/sources.yaml, any other's caravan.dag_support.START_DATE)"
        )
    results: list[DagRunResult] = []
    spark_in_process = "transform" in dag_ids and not settings.spark_submit_conn_id
    with (
        dags_synced_once(),
        embedded_sources(settings, dates, faults),
        spark_started_early(settings, spark_in_process) as start_spark,
    ):
        for dag_id, days in runs:
            result = _run_dag(dagbag.get_dag(dag_id), days)
            start_spark()
            results.append(result)
            if on_result:
                on_result(result, len(results), len(runs))
            if result.state == NO_TASKS:
                raise ChainFailed(f"{dag_id} ran no task for ds={result.ds}")
            if result.state != "success":
                raise ChainFailed(
                    f"{dag_id} failed for ds={result.ds} (tasks: {', '.join(result.failed_tasks)});"
                    f" see {settings.logs_dir / 'run.log'}"
                )
    return results


def chain_runs(
    dag_ids: tuple[str, ...], dates: list[str], spark_range: bool = False
) -> list[tuple[str, list[str]]]:
    """The DAG runs of a chain, in order, each with the dates it processes: every DAG for
    each date in turn; with `spark_range`, `transform` once over all the dates, after
    every date's ingest and before every date's warehouse."""
    if not spark_range or "transform" not in dag_ids:
        return [(dag_id, [ds]) for ds in dates for dag_id in dag_ids]
    at = dag_ids.index("transform")
    before, after = dag_ids[:at], dag_ids[at + 1 :]
    return [
        *[(dag_id, [ds]) for ds in dates for dag_id in before],
        ("transform", list(dates)),
        *[(dag_id, [ds]) for ds in dates for dag_id in after],
    ]


@contextmanager
def dags_synced_once() -> Iterator[None]:
    """Within the block, `dag.test()` parses the DAG folder and writes its DAGs to the
    metadata DB on its first call only.

    On every call, `dag.test()` parses the folder of the DAG's bundle again (about 0.08 s:
    nine DAGs and the registry) and writes all of its DAGs back (`sync_bag_to_db`, 0.2 to
    0.4 s), so that a sibling DAG changed between two calls is current
    (apache/airflow#64884); 57 calls in the demo. A chain runs the DAG objects it parsed
    once at its start, so the first call's parse and write already describe every run of
    it; the later ones only repeat them.
    """
    from airflow.dag_processing import dagbag

    bundle_dag_bag, sync_bag_to_db = dagbag.BundleDagBag, dagbag.sync_bag_to_db
    parsed: dict[tuple, object] = {}
    synced: set[str] = set()

    def parse_once(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))  # the same folder, bundle and options
        if key not in parsed:
            parsed[key] = bundle_dag_bag(*args, **kwargs)
        return parsed[key]

    def sync_once(bag, bundle_name: str, bundle_version: str | None, **kwargs) -> None:
        if bundle_name not in synced:
            sync_bag_to_db(bag, bundle_name, bundle_version, **kwargs)
            synced.add(bundle_name)

    # dag.test() imports both from the module at each call.
    dagbag.BundleDagBag, dagbag.sync_bag_to_db = parse_once, sync_once
    try:
        yield
    finally:
        dagbag.BundleDagBag, dagbag.sync_bag_to_db = bundle_dag_bag, sync_bag_to_db


@contextmanager
def spark_started_early(settings: Settings, start_early: bool) -> Iterator[Callable[[], None]]:
    """Yield `start`: it starts the Spark session the transform tasks will reuse, in a
    thread, and warms it up with a small job (a local session), while the ingest DAGs run
    (the JVM works on the core they leave idle). Stops the session at the end.

    Call `start` after the first DAG run: started with it, the JVM's own start-up slows
    the imports that run (Airflow's execution API, dlt, GX) by several seconds.
    """
    started: list = []
    starters: list[threading.Thread] = []

    def start() -> None:
        if not start_early or starters:
            return
        from spark_jobs.common.session import get_session, warm_up

        def boot() -> None:
            try:
                started.append(get_session("caravan-transform", settings.spark_remote))
                if not settings.spark_remote:  # a Spark Connect server is warm already
                    warm_up(started[0])
            except Exception:  # the first transform task starts it again and says why
                log.warning("Could not start Spark ahead of the transform", exc_info=True)

        starters.append(threading.Thread(target=boot, name="spark-start", daemon=True))
        starters[0].start()

    try:
        yield start
    finally:
        for starter in starters:
            starter.join()
        if "pyspark.sql" in sys.modules:
            from pyspark.sql import SparkSession

            for session in {*started, SparkSession.getActiveSession()} - {None}:
                session.stop()


def _start_date(dag) -> date | None:
    start = dag.start_date or dag.default_args.get("start_date")
    return start.date() if start else None


def _run_dag(dag, dates: list[str]) -> DagRunResult:
    """One DAG run for `dates`: one `ds`, or a range run (`ds` … `ds_end` in its conf)."""
    started = time.monotonic()
    conf = {"ds": dates[0]} | ({"ds_end": dates[-1]} if len(dates) > 1 else {})
    logical_date = pendulum.parse(dates[0], tz="UTC")
    dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    task_instances = dag_run.get_task_instances()
    failed = tuple(
        sorted(ti.task_id for ti in task_instances if ti.state in ("failed", "upstream_failed"))
    )
    state = getattr(dag_run.state, "value", dag_run.state) if task_instances else NO_TASKS
    ds = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return DagRunResult(dag.dag_id, ds, str(state), time.monotonic() - started, failed)
