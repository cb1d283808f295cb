"""The team-server deployment as processes (`caravan up --celery`), on this machine's real
PostgreSQL and Redis: one `ds` of the chain triggered through the REST API with a token,
every task run by the Celery worker, the worker SIGKILLed in the middle of a task and
started again, and the marts showing the simulator's records of the day.

Needs PostgreSQL (trust auth) and Redis on localhost, as `.ci/run` provides; skipped
without them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb
import psutil
import pytest
import requests
import sqlalchemy
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from caravan.lake import Lake, Partition
from caravan.settings import get_settings
from caravan.simulator.world import World
from caravan.sources.registry import load_registry
from tests.ports import answers, free_port
from tests.processes import command_line

pytestmark = pytest.mark.e2e

DS = "2026-11-01"
SEED = 42
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(load_registry(REPO / "dags" / "sources.yaml"))
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS_DB = 7  # a database of its own on the machine's Redis, emptied first


def clean_environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CARAVAN_"))}
    return env | {"CARAVAN_HOME": str(home), "CARAVAN_SEED": str(SEED), "DO_NOT_TRACK": "1"}


def caravan_command() -> str:
    return str(Path(sys.executable).with_name("caravan"))


def query(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class Api:
    """Airflow's REST API with a token, as an operator's script would use it."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        # On two cores under the suite's load the API server has been seen not to answer a
        # GET within 30 s: urllib3 asks a GET, which changes nothing, again on a timeout.
        self.http = requests.Session()
        retry = Retry(total=2, connect=0, status=0, read=2, allowed_methods={"GET"})
        self.http.mount(url, HTTPAdapter(max_retries=retry))
        answer = self.http.post(f"{url}/auth/token", json={"username": user, "password": password})
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def get(self, path: str) -> dict:
        answer = self.http.get(f"{self.url}/api/v2/{path}", headers=self.headers, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def send(self, method: str, path: str, body: dict) -> dict:
        answer = self.http.request(
            method, f"{self.url}/api/v2/{path}", headers=self.headers, json=body, timeout=30
        )
        answer.raise_for_status()
        return answer.json()

    def run_of(self, dag_id: str) -> dict | None:
        """The DAG's run for DS: the triggered one, or the one DS's Asset events made."""
        for run in self.get(f"dags/{dag_id}/dagRuns?limit=100")["dag_runs"]:
            if run["dag_run_id"] == f"rest__{DS}" or run.get("partition_key") == DS:
                return run
        return None


def worker_of(up: subprocess.Popen) -> psutil.Process:
    for child in psutil.Process(up.pid).children():
        # Celery retitles its process (`[celeryd: celery@host:MainProcess] …`); the only
        # Celery component here is the worker (no Flower). A killed worker is a zombie
        # until caravan up reaps it: it has no command line, and is not the worker.
        if "celery" in command_line(child):
            return child
    raise AssertionError("no Celery worker under caravan up")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not (answers(5432) and answers(6379)):
        pytest.skip("PostgreSQL and Redis on localhost are needed (.ci/run starts them)")
    import redis

    root = tmp_path_factory.mktemp("celery")
    database = f"caravan_celery_{uuid.uuid4().hex[:8]}"
    redis.Redis(db=REDIS_DB).flushdb()

    home = root / "celery"
    api_port = free_port()
    env = clean_environ(home) | {
        "CARAVAN_AIRFLOW_DB_URL": f"{POSTGRES}/{database}",
        "CARAVAN_CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "CARAVAN_API_PORT": str(api_port),
        "CARAVAN_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
    }
    out = (root / "up.out").open("w")
    up = subprocess.Popen(
        [caravan_command(), "up", "--celery", "--start", DS, "--days", "1"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while "Ctrl-C stops Airflow" not in (root / "up.out").read_text():
            assert up.poll() is None and time.monotonic() < deadline, (
                root / "up.out"
            ).read_text() + (home / "logs" / "standalone.log").read_text()[-5000:]
            time.sleep(2)
        password = json.loads((home / "airflow" / "passwords.json").read_text())["admin"]
        yield {
            "api": Api(f"http://127.0.0.1:{api_port}", "admin", password),
            "up": up,
            "home": home,
            "database": database,
            "out": root / "up.out",
        }
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        out.close()
        admin = sqlalchemy.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as con:
            con.execute(sqlalchemy.text(f'drop database if exists "{database}" with (force)'))
        admin.dispose()


def wait_for(check, what: str, timeout: float, deployment) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(3)
    log = (deployment["home"] / "logs" / "standalone.log").read_text()[-8000:]
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{log}")


@pytest.fixture(scope="module")
def chain(deployment):
    """The chain for DS, triggered through the REST API; the worker killed with SIGKILL
    while the warehouse's dbt build runs, and started again by `caravan up`."""
    api = deployment["api"]
    # Each run takes the logical date of the run unpausing would schedule (the DAG's next),
    # so the scheduler creates none: on 2 cores the worker would run every source twice.
    for source in SOURCES:
        dag_id = f"ingest_{source}"
        logical_date = api.get(f"dags/{dag_id}")["next_dagrun_logical_date"]
        api.send(
            "POST",
            f"dags/{dag_id}/dagRuns",
            {"dag_run_id": f"rest__{DS}", "logical_date": logical_date, "conf": {"ds": DS}},
        )
    for dag in api.get("dags?limit=100")["dags"]:
        api.send("PATCH", f"dags/{dag['dag_id']}", {"is_paused": False})

    def dbt_build_running():
        run = api.run_of("warehouse")
        if run is None:
            return None
        task = api.get(f"dags/warehouse/dagRuns/{run['dag_run_id']}/taskInstances/dbt_build")
        return task if task["state"] == "running" else None

    wait_for(dbt_build_running, "the warehouse's dbt_build running", 900, deployment)
    killed = worker_of(deployment["up"])
    for process in [*killed.children(recursive=True), killed]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:  # a child that ended on its own since it was listed
            pass

    def worker_again():
        try:
            worker = worker_of(deployment["up"])
        except AssertionError:  # not started again yet
            return None
        return worker if worker.pid != killed.pid else None

    restarted = wait_for(worker_again, "the worker started again", 60, deployment)

    def warehouse_done():
        run = api.run_of("warehouse")
        return run if run and run["state"] in ("success", "failed") else None

    run = wait_for(warehouse_done, "the warehouse run ending", 900, deployment)
    return {"warehouse": run, "killed": killed.pid, "restarted": restarted.pid}


def test_the_chain_runs_through_the_rest_api_and_succeeds(chain, deployment):
    api = deployment["api"]
    assert chain["warehouse"]["state"] == "success"
    for dag_id in [*(f"ingest_{s}" for s in SOURCES), "enrich", "transform", "warehouse"]:
        assert api.run_of(dag_id)["state"] == "success", dag_id


def test_every_task_was_run_by_the_celery_worker(chain, deployment):
    """Each task instance of the chain's runs went to Celery: its external executor id is
    a Celery task with a result in the backend (the metadata database)."""
    engine = sqlalchemy.create_engine(f"{POSTGRES}/{deployment['database']}")
    with engine.connect() as con:
        rows = con.execute(
            sqlalchemy.text(
                "select ti.dag_id, ti.task_id, ti.state, ti.try_number, meta.status"
                " from task_instance as ti"
                " left join celery_taskmeta as meta on meta.task_id = ti.external_executor_id"
                " where ti.run_id not like 'scheduled__%'"
            )
        ).fetchall()
    engine.dispose()
    # Each source's 3 tasks, the enrich DAG's 3 per kind of text, the transform's 15 and
    # the warehouse's 4.
    assert len(rows) == len(SOURCES) * 3 + 2 * 3 + 15 + 4
    assert {state for _, _, state, _, _ in rows} == {"success"}
    # Each has its Celery task's row (the worker writes STARTED, then SUCCESS a moment after
    # the task instance's own state: the last task may still show STARTED).
    assert {status for *_, status in rows} <= {"STARTED", "SUCCESS"}
    # The task the kill stopped ran again, in a later try.
    [dbt_build] = [row for row in rows if row[:2] == ("warehouse", "dbt_build")]
    assert dbt_build.try_number >= 2
    assert chain["restarted"] != chain["killed"]


def test_the_marts_show_the_simulators_records_of_the_day(chain, deployment):
    """The day's orders, ad spend and attributed revenue as the simulator computes them
    from its own records (as tests/e2e/test_chain.py checks the chain without Celery)."""
    truth = World(seed=SEED).ground_truth([date.fromisoformat(DS)])
    home = deployment["home"]
    assert query(
        home,
        "select count(*), count(*) filter (where is_revenue),"
        " sum(net_revenue) filter (where is_revenue) from analytics.fct_orders",
    ) == [(truth.orders, truth.revenue_orders, truth.net_revenue)]
    # Ad platforms re-read their lookback: the marts also hold the days before DS.
    spend = query(
        home,
        "select platform, campaign_id, sum(spend) from analytics.fct_ad_spend_daily"
        f" where spend_date = '{DS}' group by all",
    )
    assert {c: s for p, c, s in spend if p == "google_ads"} == truth.spend_by_campaign
    assert {c: s for p, c, s in spend if p == "meta_ads" and s} == {
        c: s for c, s in truth.meta_spend_reporting_by_campaign.items() if s
    }
    last_touch = query(
        home,
        "select channel, campaign_id, sum(attributed_revenue) from analytics.mart_marketing_roi"
        " where attribution_model = 'last_touch' group by all having sum(attributed_revenue) > 0",
    )
    assert {(ch, c): r for ch, c, r in last_touch} == {
        **{("google_ads", c): r for c, r in truth.attributed_revenue_by_campaign.items() if r},
        **{("meta_ads", c): r for c, r in truth.meta_attributed_revenue_by_campaign.items() if r},
        ("direct", "(none)"): truth.direct_revenue,
    }
    # Every attribution model credits the day's net revenue in full.
    assert set(
        query(
            home,
            "select attribution_model, sum(attributed_revenue)"
            " from analytics.mart_marketing_roi group by 1",
        )
    ) == {(model, truth.net_revenue) for model in ATTRIBUTION_MODELS}
    assert query(
        home, "select order_date, sum(net_revenue) from analytics.mart_sales_daily group by 1"
    ) == [(date.fromisoformat(DS), truth.net_revenue)]


def test_no_partition_is_partial_or_doubled_after_the_kill(chain, deployment):
    """Every curated partition of DS is whole (its files match its manifest) and each
    landing table holds its manifest's rows for DS, once."""
    from caravan import catalog

    home = deployment["home"]
    lake = Lake(f"file://{home / 'lake'}")
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for dataset in catalog.warehouse_loads(get_settings()):
            manifest, _ = lake.published(Partition("curated", dataset.domain, dataset.name, DS))
            [(rows,)] = con.execute(
                f"select count(*) from landing.{dataset.domain}__{dataset.name} where ds = ?", [DS]
            ).fetchall()
            assert rows == manifest.rows, dataset.id
    finally:
        con.close()
