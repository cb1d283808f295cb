"""A Spark job through spark-submit: the provider's operator and hook, a real `spark-submit`.

The operator `submit_operator` builds is rendered and executed as the task runner
would: its hook starts pyspark's own `spark-submit` against an Airflow `spark`
connection with master `local[2]`, shipping the job code as `--py-files`. The
expected rows are worked out by hand from the raw records below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowNotFoundException
from test_spark_connect import (
    CAMPAIGNS,
    CURATED_CAMPAIGNS,
    DS,
    REPO,
    performance_row,
    staged_campaigns,
)

from caravan.lake import Lake, Partition
from caravan.pipeline.spark_submit import build_py_files, submit_operator
from caravan.sources import Delivered
from caravan.sources.ingest import publish, stage
from caravan.sources.registry import load_registry

CONN_ID = "caravan_spark_test"
EST = timezone(timedelta(hours=-5))


@pytest.fixture
def caravan_env(tmp_path, monkeypatch) -> Lake:
    """Caravan's settings for a lake in tmp_path, and a `spark` connection to `local[2]`."""
    for name in ("CARAVAN_SPARK_REMOTE", "CARAVAN_SPARK_SUBMIT_CONN_ID", "CARAVAN_LAKE_URL"):
        monkeypatch.delenv(name, raising=False)
    lake = Lake(f"file://{tmp_path / 'lake'}")
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARAVAN_LAKE_URL", lake.url)
    connection = {"conn_type": "spark", "host": "local[2]"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    # The hook runs `spark-submit` from PATH: pyspark's pip package puts it beside python.
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    return lake


def meta_row(account: str, currency: str, campaign: str, spend: str, clicks: str) -> dict:
    return {
        "account_id": account, "account_currency": currency, "campaign_id": campaign,
        "campaign_name": f"Meta {campaign}", "spend": spend, "impressions": "100",
        "clicks": clicks, "actions": [], "date_start": DS,
    }  # fmt: skip


def publish_raw(lake: Lake, entities: dict[tuple[str, str], list[dict]]) -> None:
    registry = load_registry(REPO / "dags" / "sources.yaml")
    for (name, entity), rows in entities.items():
        delivered = [Delivered(r, f"record {n}") for n, r in enumerate(rows, start=1)]
        spec = registry[name].entities[entity]
        publish(lake, stage(lake, name, spec, DS, delivered), run_id="test")


def staged_rows(lake: Lake, zone: str, columns: str) -> list[tuple]:
    staged = Path(lake.staging_path(Partition(zone, "marketing", "ad_spend_daily", DS)))
    return duckdb.sql(
        f"select {columns} from read_parquet('{staged}/*.parquet') order by campaign_id"
    ).fetchall()


def dag_run(conf=None, partition_key=None) -> SimpleNamespace:
    """Stands for Airflow's DagRun: the attributes the ds is taken from."""
    return SimpleNamespace(conf=conf, partition_key=partition_key, run_id="test__1")


def rendered_args(context: dict) -> list[str]:
    """application_args as the task runner renders them: with the DAG's Jinja environment."""
    with DAG("spark_submit_test", schedule=None) as dag:
        operator = submit_operator("unify_ad_spend", "run_unify_ad_spend", CONN_ID)
    operator.render_template_fields(context, dag.get_template_env())
    return operator.application_args


def test_unify_ad_spend_runs_through_spark_submit(caravan_env, tmp_path):
    lake = caravan_env
    publish_raw(
        lake,
        {
            ("google_ads", "campaign_performance"): [
                performance_row("21", DS, "2500000", "5"),  # 2.500000
                performance_row("22", DS, "333333", "1"),  # 0.333333
            ],
            ("meta_ads", "insights"): [
                meta_row("1", "EUR", "41", "20.10", "7"),  # × 1.0850 = 21.8085 → 21.81
                meta_row("2", "GBP", "42", "5.00", "3"),  # no GBP rate: quarantined
                meta_row("3", "USD", "43", "7.25", "2"),  # already USD
            ],
            ("fx_rates", "rates"): [
                {"date": DS, "currency": "EUR", "quote_currency": "USD", "rate": "1.0850"}
            ],
            **CAMPAIGNS,
        },
    )

    operator = submit_operator("unify_ad_spend", "run_unify_ad_spend", CONN_ID)
    context = {"dag_run": dag_run(conf={"ds": DS}), "data_interval_start": None}
    operator.render_template_fields(context)
    assert operator.application_args == ["--ds", DS, "--end", DS, "--lake", lake.url]
    assert not Path(operator.py_files).exists()  # nothing is built before the task runs
    operator.execute(context)  # raises if spark-submit exits non-zero

    assert staged_rows(
        lake, "curated", "spend_date::varchar, platform, campaign_id, currency, spend, clicks"
    ) == [
        ("2026-11-03", "google_ads", "21", "USD", Decimal("2.500000"), 5),
        ("2026-11-03", "google_ads", "22", "USD", Decimal("0.333333"), 1),
        ("2026-11-03", "meta_ads", "41", "USD", Decimal("21.810000"), 7),
        ("2026-11-03", "meta_ads", "43", "USD", Decimal("7.250000"), 2),
    ]
    assert staged_rows(lake, "quarantine", "reason, campaign_id") == [
        ("no rate from GBP to USD for 2026-11-03", "42")
    ]
    assert staged_campaigns(lake) == CURATED_CAMPAIGNS
    # The zip it shipped was built when the task ran, under CARAVAN_HOME.
    assert operator.py_files == str(tmp_path / "home" / "spark" / "caravan_spark_jobs.zip")
    assert zipfile.is_zipfile(operator.py_files)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # An explicit ds in the run's conf wins, normalised to a date.
        (
            {
                "dag_run": dag_run(conf={"ds": "2026-11-03T10:00:00"}, partition_key="2026-11-01"),
                "data_interval_start": datetime(2026, 10, 30, tzinfo=UTC),
            },
            "2026-11-03",
        ),
        # Then the partition key of a run triggered by partitioned asset events.
        (
            {
                "dag_run": dag_run(conf={}, partition_key="2026-11-02"),
                "data_interval_start": datetime(2026, 10, 30, tzinfo=UTC),
            },
            "2026-11-02",
        ),
        # Then the data interval's start, as a UTC date: 23:30 at UTC−5 is 04:30 next day.
        (
            {
                "dag_run": dag_run(),
                "data_interval_start": datetime(2026, 11, 1, 23, 30, tzinfo=EST),
            },
            "2026-11-02",
        ),
    ],
    ids=["conf_ds", "partition_key", "data_interval"],
)
def test_the_ds_argument_is_the_partition_the_run_processes(caravan_env, context, expected):
    args = ["--ds", expected, "--end", expected, "--lake", caravan_env.url]
    assert rendered_args(context) == args


def test_a_range_run_passes_its_last_day_as_end(caravan_env):
    context = {"dag_run": dag_run(conf={"ds": "2026-11-01", "ds_end": "2026-11-07"})}
    assert rendered_args(context) == [
        *("--ds", "2026-11-01", "--end", "2026-11-07", "--lake", caravan_env.url)
    ]


def test_a_run_without_any_ds_is_refused_when_rendered(caravan_env):
    with pytest.raises(ValueError, match="no ds in conf, no partition key, no data interval"):
        rendered_args({"dag_run": dag_run(), "data_interval_start": None})


def test_the_zip_alone_holds_every_job_and_what_it_imports(tmp_path):
    zipped = build_py_files(tmp_path / "jobs.zip")
    names = zipfile.ZipFile(zipped).namelist()
    assert "spark_jobs/unify_ad_spend.py" in names
    assert "caravan/lake/store.py" in names
    assert not [n for n in names if "__pycache__" in n or not n.endswith(".py")]
    # Import every module of spark_jobs with only the zip on the path (and site-packages):
    # this repository's modules must all come from the zip.
    probe = (
        "import importlib, json, pkgutil, sys, spark_jobs\n"
        "for m in pkgutil.walk_packages(spark_jobs.__path__, 'spark_jobs.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps({n: m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] in ('spark_jobs', 'caravan')}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(zipped), "PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    modules = json.loads(result.stdout)
    assert {"spark_jobs.unify_ad_spend", "spark_jobs.curate_orders"} <= modules.keys()
    assert {"caravan.lake.store", "caravan.settings"} <= modules.keys()
    assert {n: f for n, f in modules.items() if not f.startswith(f"{zipped}/")} == {}


def test_the_zip_is_the_same_bytes_for_the_same_source(tmp_path):
    first = build_py_files(tmp_path / "a" / "jobs.zip").read_bytes()
    second = build_py_files(tmp_path / "b" / "jobs.zip").read_bytes()
    assert first == second
    assert not [p.name for p in (tmp_path / "a").iterdir() if p.name != "jobs.zip"]


def test_spark_connect_and_spark_submit_together_are_refused(caravan_env, monkeypatch):
    monkeypatch.setenv("CARAVAN_SPARK_REMOTE", "sc://spark.example:15002")
    operator = submit_operator("unify_ad_spend", "run_unify_ad_spend", CONN_ID)
    with pytest.raises(ValueError, match="CARAVAN_SPARK_REMOTE is set as well"):
        operator.execute({})


def test_a_missing_connection_is_an_error_not_a_fallback_to_yarn(caravan_env, tmp_path):
    operator = submit_operator("unify_ad_spend", "run_unify_ad_spend", "no_such_spark")
    with pytest.raises(AirflowNotFoundException, match="no_such_spark"):
        operator.execute({})
    assert not (tmp_path / "home" / "spark").exists()  # refused before building anything


def test_an_unknown_job_is_refused_when_the_dag_is_built(caravan_env):
    with pytest.raises(ValueError, match="no Spark job 'no_such_job'"):
        submit_operator("no_such_job", "run_no_such_job", CONN_ID)
