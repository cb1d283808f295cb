"""A Spark job through Spark Connect: the server that ships with pyspark, on localhost.

The job runs as `python -m spark_jobs.unify_ad_spend --remote sc://...`, the same
`main` a transform task or `spark-submit` runs; only the session differs. The
expected spend is worked out by hand from the micros below.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyspark
import pytest

from caravan.lake import Lake, Partition
from caravan.sources import Delivered
from caravan.sources.ingest import publish, stage
from caravan.sources.registry import load_registry
from spark_jobs.common.session import C1_ONLY
from tests.ports import answers, free_port

REPO = Path(__file__).resolve().parents[2]
DS = "2026-11-03"
STARTUP_TIMEOUT = 120
START_ATTEMPTS = 3


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory) -> str:
    """Start `start-connect-server.sh` from pyspark's own SPARK_HOME; stop it after.

    The port is a free one when chosen, but another process may take it before the
    server binds it (the suite runs on two workers): then the server gives up, and it is
    started again on another port, up to START_ATTEMPTS times.
    """
    spark_home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark_connect")
    logs = ""
    for _ in range(START_ATTEMPTS):
        port = free_port()
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home),
            "SPARK_LOG_DIR": str(work / "logs" / str(port)),
            "SPARK_PID_DIR": str(work / "pids"),
            "SPARK_IDENT_STRING": f"caravan-test-{port}",
            "PYSPARK_PYTHON": sys.executable,
        }
        start = [
            str(spark_home / "sbin" / "start-connect-server.sh"),
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.sql.session.timeZone=UTC",
            "--conf", "spark.sql.ansi.enabled=true",
            "--conf", "spark.ui.enabled=false",
            # What the local session sets for a day's small data (spark_jobs.common.session):
            # Spark's default of 200 shuffle partitions and C2's compiles cost more CPU than
            # the whole job here.
            "--conf", "spark.sql.shuffle.partitions=4",
            "--conf", "spark.sql.codegen.wholeStage=false",
            "--driver-java-options", C1_ONLY,
            "--driver-memory", "1g",
        ]  # fmt: skip
        subprocess.run(start, env=env, check=True, capture_output=True, timeout=60)
        stop = [str(spark_home / "sbin" / "stop-connect-server.sh")]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers(port) and time.monotonic() < deadline:
            logs = "".join(p.read_text() for p in (work / "logs" / str(port)).glob("*.out"))
            if "could not bind" in logs or "Failed to bind" in logs:
                break  # the port was taken meanwhile: another one
            time.sleep(1)
        if answers(port):
            try:
                yield f"sc://127.0.0.1:{port}"
            finally:
                subprocess.run(stop, env=env, capture_output=True, timeout=60)
            return
        subprocess.run(stop, env=env, capture_output=True, timeout=60)
    pytest.fail(f"Spark Connect did not listen after {START_ATTEMPTS} tries:\n{logs[-3000:]}")


def performance_row(campaign_id: str, day: str, cost_micros: str, clicks: str) -> dict:
    return {
        "campaign": {
            "resourceName": f"customers/123/campaigns/{campaign_id}",
            "id": campaign_id,
            "name": f"Campaign {campaign_id}",
        },
        "metrics": {
            "costMicros": cost_micros,
            "impressions": "1000",
            "clicks": clicks,
            "conversions": 2.5,
        },
        "segments": {"date": day},
    }


def campaign_row(campaign_id: str, status: str, channel_type: str) -> dict:
    """A Google Ads campaign as the search API answers `FROM campaign`."""
    return {
        "campaign": {
            "resourceName": f"customers/123/campaigns/{campaign_id}",
            "id": campaign_id,
            "name": f"Campaign {campaign_id}",
            "status": status,
            "advertisingChannelType": channel_type,
        }
    }


def meta_campaign_row(campaign_id: str, account_id: str, status: str, objective: str) -> dict:
    """A Meta campaign as the Graph `campaigns` edge answers."""
    return {
        "id": campaign_id, "account_id": account_id, "name": f"Meta {campaign_id}",
        "status": status, "effective_status": status, "objective": objective,
        "daily_budget": "5000", "created_time": "2026-10-01T02:00:00+0200",
    }  # fmt: skip


# The campaign snapshots both platforms' raw partitions hold in the single-job tests.
CAMPAIGNS = {
    ("google_ads", "campaigns"): [
        campaign_row("11", "ENABLED", "SEARCH"),
        campaign_row("12", "PAUSED", "PERFORMANCE_MAX"),
    ],
    ("meta_ads", "campaigns"): [meta_campaign_row("31", "1", "ACTIVE", "OUTCOME_SALES")],
}
# By hand: statuses and objectives lower-cased; 02:00 at UTC+2 is midnight UTC.
CURATED_CAMPAIGNS = [
    ("google_ads", "11", "Campaign 11", "123", "enabled", "search", None),
    ("google_ads", "12", "Campaign 12", "123", "paused", "performance_max", None),
    ("meta_ads", "31", "Meta 31", "1", "active", "outcome_sales", "2026-10-01 00:00:00"),
]


def staged_campaigns(lake: Lake) -> list[tuple]:
    staged = Path(lake.staging_path(Partition("curated", "marketing", "campaigns", DS)))
    return duckdb.sql(
        "select platform, campaign_id, campaign_name, account_id, status, objective,"
        f" created_at::varchar from read_parquet('{staged}/*.parquet') order by all"
    ).fetchall()


def test_unify_ad_spend_runs_through_spark_connect(connect_url, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    records = [
        performance_row("11", "2026-11-03", "12345678", "40"),  # 12.345678
        performance_row("12", "2026-11-03", "1000000", "3"),  # 1.000000
        performance_row("11", "2026-11-02", "990000", "1"),  # a lookback day: 0.990000
    ]
    registry = load_registry(REPO / "dags" / "sources.yaml")
    meta = [
        {
            "account_id": "1", "account_currency": "EUR", "campaign_id": "31",
            "campaign_name": "Meta 31", "spend": "10.05", "impressions": "100", "clicks": "7",
            "actions": [{"action_type": "purchase", "value": "2"}], "date_start": DS,
        }
    ]  # fmt: skip
    rates = [{"date": DS, "currency": "EUR", "quote_currency": "USD", "rate": "1.1000"}]
    for name, entity, rows in [
        ("google_ads", "campaign_performance", records),
        ("meta_ads", "insights", meta),
        ("fx_rates", "rates", rates),
        *((name, entity, rows) for (name, entity), rows in CAMPAIGNS.items()),
    ]:
        delivered = [Delivered(r, f"record {n}") for n, r in enumerate(rows, start=1)]
        spec = registry[name].entities[entity]
        publish(lake, stage(lake, name, spec, DS, delivered), run_id="test")

    env = {k: v for k, v in os.environ.items() if not k.startswith("CARAVAN_")}
    env["CARAVAN_HOME"] = str(tmp_path / "home")
    job = [sys.executable, "-m", "spark_jobs.unify_ad_spend", "--ds", DS, "--lake", lake.url]
    result = subprocess.run(
        [*job, "--remote", connect_url], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]

    staged = Path(lake.staging_path(Partition("curated", "marketing", "ad_spend_daily", DS)))
    rows = duckdb.sql(
        f"select spend_date::varchar, platform, campaign_id, currency, spend, clicks"
        f" from read_parquet('{staged}/*.parquet') order by spend_date, campaign_id"
    ).fetchall()
    assert rows == [
        ("2026-11-02", "google_ads", "11", "USD", Decimal("0.990000"), 1),
        ("2026-11-03", "google_ads", "11", "USD", Decimal("12.345678"), 40),
        ("2026-11-03", "google_ads", "12", "USD", Decimal("1.000000"), 3),
        # 10.05 EUR × 1.1 = 11.055 → 11.06 (half up)
        ("2026-11-03", "meta_ads", "31", "USD", Decimal("11.060000"), 7),
    ]
    assert staged_campaigns(lake) == CURATED_CAMPAIGNS


def simulated_raw_lake(tmp_path: Path, days: list[date]) -> Lake:
    """Every source's raw partitions for `days`, read from the simulator by the real
    extract → stage → publish path (a small company: scale 0.3)."""
    from caravan.runner import airflow_connection, simulator_connection_specs
    from caravan.settings import Settings
    from caravan.simulator import running_simulator
    from caravan.sources.extract import deliveries

    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path / "home")})
    registry = load_registry(REPO / "dags" / "sources.yaml")
    lake = Lake(f"file://{tmp_path / 'lake'}")
    with running_simulator(settings, days, scale=0.3) as simulator:
        specs = simulator_connection_specs(simulator)
        for source in registry.values():
            conn = airflow_connection(source.conn_id, specs[source.conn_id])
            for entity in source.entities.values():
                for day in days:
                    ds = day.isoformat()
                    delivered = deliveries(source, entity, conn, ds)
                    publish(lake, stage(lake, source.name, entity, ds, delivered), "test")
    return lake


def staged_rows(lake: Lake, partition: Partition) -> list[tuple]:
    staged = Path(lake.staging_path(partition))
    return duckdb.sql(f"select * from read_parquet('{staged}/*.parquet') order by all").fetchall()


def test_every_job_gives_the_same_rows_through_spark_connect_as_in_process(
    connect_url, tmp_path, spark, monkeypatch
):
    """Only DataFrame APIs that work over Connect: each job of a day, run both ways on the
    same raw partitions (the day before is there for the jobs that read history). Every
    output then passes its curated gate, as the transform DAG runs it, and is published."""
    from caravan.assets import TRANSFORM_JOBS
    from caravan.pipeline import transform_steps

    lake = simulated_raw_lake(tmp_path, [date(2026, 11, 2), date(2026, 11, 3)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARAVAN_")}
    env["CARAVAN_HOME"] = str(tmp_path / "home")
    monkeypatch.setenv("CARAVAN_LAKE_URL", lake.url)
    monkeypatch.setenv("CARAVAN_HOME", env["CARAVAN_HOME"])  # the gates' results go there
    for job, outputs in TRANSFORM_JOBS.items():  # in order: attribution reads the others
        command = [sys.executable, "-m", f"spark_jobs.{job}", "--ds", DS, "--lake", lake.url]
        result = subprocess.run(
            [*command, "--remote", connect_url], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-4000:]
        partitions = [Partition("curated", *output, DS) for output in outputs]
        over_connect = [staged_rows(lake, p) for p in partitions]
        importlib.import_module(f"spark_jobs.{job}").run(spark, lake, DS)
        assert [staged_rows(lake, p) for p in partitions] == over_connect, job
        assert all(over_connect), f"{job} wrote no rows"
        transform_steps.gate(job, [DS], "test")  # raises if an `error` check fails
        transform_steps.publish(job, [DS], "test")
