"""Gates on the Snowflake target, against a real fakesnow server: the marts suites run by
GX's SQL engine in the warehouse (SQLAlchemy's snowflake dialect over the connector's
protocol), and every gate's results recorded in Snowflake's quality.validation_results.

Marts are small tables written here by SQL; the expected outcomes are worked out by hand
from their rows.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime

import great_expectations.expectations as gxe
import pandas as pd
import pytest

from caravan.quality.gate import Check, GateFailed, SqlBatch, run_gate, validate_batch
from caravan.quality.marts import SUITES
from caravan.quality.report import report
from caravan.quality.suites import Suite
from caravan.settings import get_settings
from caravan.warehouse.snowflake import SnowflakeWarehouse
from tests.caravan.warehouse.test_snowflake import airflow_connection_json

NETWORK_TIMEOUT = 60  # as conftest's connections: a failing statement fails in seconds
DS = "2026-03-02"
FCT_ORDERS = SUITES[("marts", "fct_orders")]
ROI = SUITES[("marts", "mart_marketing_roi")]

GOOD_ORDERS = [
    # order_id, customer_key, order_date, status, gross, discount, net, ds
    ("o1", "c1", "2026-03-01", "delivered", "30.00", "5.00", "25.00", "2026-03-01"),
    ("o2", "c2", "2026-03-01", "cancelled", "10.00", "0.00", "10.00", "2026-03-01"),
    ("o3", "c1", "2026-03-02", "placed", "15.00", "0.00", "15.00", "2026-03-02"),
]
BAD_ORDERS = [
    ("o3", "c3", "2026-03-02", "placed", "15.00", "0.00", "15.00", "2026-03-02"),  # o3 twice
    # Dated after the partition that delivered it.
    ("o4", "c4", "2026-03-05", "placed", "8.00", "0.00", "8.00", "2026-03-02"),
    # 1.00 lost: 20.00 - 1.00 is not 18.00.
    ("o5", "c5", "2026-03-01", "placed", "20.00", "1.00", "18.00", "2026-03-01"),
]
# One attribution model splitting the revenue orders' 25.00 + 15.00 = 40.00 whole.
ROI_ROWS = [
    # report_date, channel, campaign_id, model, spend, attributed_revenue, roas
    ("2026-03-01", "google_ads", "g100", "first_touch", "10.00", "25.00", "2.50"),
    ("2026-03-02", "meta_ads", "m200", "first_touch", "5.00", "15.00", "3.00"),
]


@pytest.fixture
def con(snowflake_database, snowflake_connect):
    with snowflake_connect(snowflake_database) as connection:
        yield connection


def query(con, sql: str) -> list[tuple]:
    cursor = con.cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def insert_orders(con, rows) -> None:
    values = ", ".join(
        f"('{oid}', '{ck}', '{day}', '{status}', {gross}, {discount}, {net}, '{ds}')"
        for oid, ck, day, status, gross, discount, net, ds in rows
    )
    con.cursor().execute(f"insert into marts.fct_orders values {values}")


def create_marts(con) -> None:
    cursor = con.cursor()
    cursor.execute("create schema if not exists marts")
    cursor.execute(
        "create or replace table marts.fct_orders (order_id varchar, customer_key varchar,"
        " order_date date, status varchar, gross_revenue number(18, 2),"
        " discount_amount number(18, 2), net_revenue number(18, 2), ds date)"
    )
    insert_orders(con, GOOD_ORDERS)
    cursor.execute(
        "create or replace table marts.fct_ad_spend_daily (spend_date date, platform varchar,"
        " campaign_id varchar, spend number(18, 2), ds date)"
    )
    cursor.execute(
        "insert into marts.fct_ad_spend_daily values"
        " ('2026-03-01', 'google_ads', 'g100', 10.00, '2026-03-01'),"
        " ('2026-03-02', 'meta_ads', 'm200', 5.00, '2026-03-02')"
    )
    cursor.execute(
        "create or replace table marts.mart_marketing_roi (report_date date, channel varchar,"
        " campaign_id varchar, attribution_model varchar, spend number(18, 2),"
        " attributed_revenue number(18, 2), roas number(18, 4))"
    )
    values = ", ".join(
        f"('{day}', '{channel}', '{campaign}', '{model}', {spend}, {revenue}, {roas})"
        for day, channel, campaign, model, spend, revenue, roas in ROI_ROWS
    )
    cursor.execute(f"insert into marts.mart_marketing_roi values {values}")


def validate(params, suite: Suite, run_id: str = "run-1"):
    return validate_batch(
        SnowflakeWarehouse(params, network_timeout=NETWORK_TIMEOUT).mart_batch(
            suite.entity, suite.projection
        ),
        suite.checks(DS),
        stage=suite.stage,
        source=suite.source,
        entity=suite.entity,
        ds=DS,
        run_id=run_id,
        key_columns=suite.key_columns,
    )


def failures(result) -> dict[tuple[str, str], tuple[int, list]]:
    """(expectation, column) -> (unexpected count, sample keys sorted)."""
    return {
        (row["expectation"], row["column_name"]): (
            row["unexpected_count"],
            sorted(json.loads(row["sample_keys"]), key=json.dumps),
        )
        for row in result.failures
    }


# -- the marts gates, run by GX in the warehouse -------------------------------------------


def test_the_batch_names_no_secret_and_runs_the_suites_projection(snowflake_database):
    batch = SnowflakeWarehouse(snowflake_database).mart_batch("fct_orders", "order_id, net_revenue")
    assert batch.connection_string == "snowflake://"
    assert batch.query == "select order_id, net_revenue from marts.fct_orders as source_rows"
    assert batch.connect_args["password"] == "fakesnow-test"
    assert "fakesnow-test" not in repr(batch)


def test_the_fct_orders_gate_passes_on_good_orders(con, snowflake_database):
    create_marts(con)
    result = validate(snowflake_database, FCT_ORDERS)
    assert result.passed, result.summary()
    assert result.failures == []
    assert len(result.rows) == len(FCT_ORDERS.checks(DS))


def test_planted_bad_orders_fail_naming_the_check_column_and_order_ids(con, snowflake_database):
    create_marts(con)
    insert_orders(con, BAD_ORDERS)
    result = validate(snowflake_database, FCT_ORDERS)
    assert not result.passed
    # o3 twice and o5's lost 1.00 are dbt's tests to catch (unique, net = gross - discount).
    assert failures(result) == {
        ("expect_column_pair_values_a_to_be_greater_than_b", "partition_day,order_day"): (
            1,
            [{"order_id": "o4"}],
        ),
    }
    assert (
        "expect_column_pair_values_a_to_be_greater_than_b on column partition_day,order_day:"
        ' 1 unexpected, sample keys: {"order_id": "o4"}'
    ) in result.summary()


def test_a_roi_day_after_the_facts_loaded_fails_the_roi_gate_naming_its_row(
    con, snowflake_database
):
    create_marts(con)
    assert validate(snowflake_database, ROI).passed
    # Both facts are loaded through 2026-03-02 (greatest of their latest ds).
    con.cursor().execute(
        "update marts.mart_marketing_roi set report_date = '2026-03-04' where channel = 'meta_ads'"
    )
    result = validate(snowflake_database, ROI)
    key = {
        "report_day": "2026-03-04",
        "channel": "meta_ads",
        "campaign_id": "m200",
        "attribution_model": "first_touch",
    }
    assert failures(result) == {
        ("expect_column_pair_values_a_to_be_greater_than_b", "loaded_through,report_day"): (
            1,
            [key],
        )
    }


def test_an_empty_roi_mart_fails_its_gate(con, snowflake_database):
    create_marts(con)
    con.cursor().execute("delete from marts.mart_marketing_roi")
    result = validate(snowflake_database, ROI)
    assert not result.passed
    errors = [row for row in result.failures if row["severity"] == "error"]
    assert [(row["expectation"], json.loads(row["observed_value"])) for row in errors] == [
        ("expect_table_row_count_to_be_between", 0)
    ]


def test_a_projection_the_warehouse_refuses_fails_every_check_with_its_error(
    con, snowflake_database
):
    create_marts(con)
    result = validate(snowflake_database, replace(FCT_ORDERS, projection="order_id, no_such_col"))
    assert not result.passed
    assert len(result.failures) == len(result.rows) == len(FCT_ORDERS.checks(DS))
    for row in result.rows:
        assert "NO_SUCH_COL" in json.loads(row["observed_value"])["error"].upper()


def test_a_batch_is_a_frame_or_a_query():
    with pytest.raises(TypeError, match="marts gate marts/fct_orders ds=2026-03-02: expected a"):
        validate_batch(
            "select order_id from marts.fct_orders",  # a query without where it runs
            FCT_ORDERS.checks(DS),
            stage="marts",
            source="marts",
            entity="fct_orders",
            ds=DS,
            run_id="run-1",
            key_columns=["order_id"],
        )
    assert SqlBatch("snowflake://", "select 1").dialect == "snowflake"


# -- results recorded in Snowflake ----------------------------------------------------------

# Three checks, so that the counts below are worked out from this file alone.
ORDERS_SUITE = Suite(
    stage="marts",
    source="marts",
    entity="fct_orders",
    projection="order_id, gross_revenue - discount_amount - net_revenue as net_revenue_gap",
    key_columns=["order_id"],
    checks=lambda ds: [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
        Check(
            gxe.ExpectColumnValuesToBeBetween(column="net_revenue_gap", min_value=0, max_value=0)
        ),
    ],
)


def recorded(con) -> list[tuple]:
    return query(
        con,
        "select run_id, expectation, column_name, success, unexpected_count"
        " from quality.validation_results order by run_id, expectation, column_name",
    )


def test_results_land_in_snowflakes_quality_table_and_a_retry_replaces_them(
    con, snowflake_database
):
    create_marts(con)
    insert_orders(con, BAD_ORDERS)
    target = SnowflakeWarehouse(snowflake_database, network_timeout=NETWORK_TIMEOUT)

    def gate(run_id: str):
        return run_gate(
            target.mart_batch("fct_orders", ORDERS_SUITE.projection),
            ORDERS_SUITE.checks(DS),
            stage="marts",
            source="marts",
            entity="fct_orders",
            ds=DS,
            run_id=run_id,
            key_columns=ORDERS_SUITE.key_columns,
            target=target,
        )

    with pytest.raises(GateFailed, match="net_revenue_gap: 1 unexpected"):
        gate("run-1")
    # o3 twice and o5's lost 1.00 fail; the order ids are all there.
    assert recorded(con) == [
        ("run-1", "expect_column_values_to_be_between", "net_revenue_gap", False, 1),
        ("run-1", "expect_column_values_to_be_unique", "order_id", False, 2),
        ("run-1", "expect_column_values_to_not_be_null", "order_id", True, 0),
    ]
    [(ds, stage, samples, validated_at)] = query(
        con,
        "select ds, stage, sample_keys, validated_at from quality.validation_results"
        " where column_name = 'net_revenue_gap'",
    )
    assert (ds, stage, json.loads(samples)) == (date(2026, 3, 2), "marts", [{"order_id": "o5"}])
    assert isinstance(validated_at, datetime)

    # The retry of the same run, after the bad orders were fixed, replaces its 3 rows.
    con.cursor().execute(
        "delete from marts.fct_orders where order_id in ('o4', 'o5') or customer_key = 'c3'"
    )
    assert gate("run-1").passed
    assert recorded(con) == [
        ("run-1", "expect_column_values_to_be_between", "net_revenue_gap", True, 0),
        ("run-1", "expect_column_values_to_be_unique", "order_id", True, 0),
        ("run-1", "expect_column_values_to_not_be_null", "order_id", True, 0),
    ]
    # Another run adds its own 3.
    gate("run-2")
    assert query(
        con, "select run_id, count(*) from quality.validation_results group by 1 order by 1"
    ) == [("run-1", 3), ("run-2", 3)]


def test_with_the_snowflake_target_every_gate_records_in_snowflake(
    con, snowflake_database, tmp_path, monkeypatch
):
    """A raw gate (a pandas frame from the lake) and the marts gate task, as the DAGs run
    them: both record in Snowflake, nothing in the DuckDB file."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.pipeline import warehouse_steps
    from caravan.pipeline.gates import gate_batch

    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT", airflow_connection_json(snowflake_database)
    )
    create_marts(con)
    insert_orders(con, BAD_ORDERS[1:2])  # o4, dated after the partition that delivered it

    raw = Suite(
        stage="raw",
        source="google_ads",
        entity="campaign_performance",
        projection="*",
        key_columns=["campaign_id"],
        checks=lambda ds: [Check(gxe.ExpectColumnValuesToBeBetween(column="cost", min_value=0))],
    )
    frame = pd.DataFrame({"campaign_id": ["g100", "g200"], "cost": [1.5, 0.0]})
    assert gate_batch(raw, frame, DS, "run-1").passed

    with pytest.raises(AirflowFailException, match="order_day: 1 unexpected") as failed:
        warehouse_steps.gate(DS, "run-1", marts_to_gate=("fct_orders",))
    # The run in Snowflake has its Data Docs page, as a frame's does, named after the mart.
    page = failed.value.__cause__.result.docs_url
    assert page.startswith((tmp_path / "data_docs" / "validations").as_uri())
    assert page.endswith("/marts.marts-fct_orders.ds%3D2026-03-02.html")

    assert query(
        con,
        "select stage, source, entity, count(*), count_if(not success)"
        " from quality.validation_results group by 1, 2, 3 order by 1",
    ) == [
        ("marts", "marts", "fct_orders", len(FCT_ORDERS.checks(DS)), 1),
        ("raw", "google_ads", "campaign_performance", 1, 0),
    ]
    assert not get_settings().warehouse_path.exists()

    # `caravan quality` reads them there: o4 fails fct_orders, raw passed.
    out = io.StringIO()
    assert report(get_settings(), failures=True, out=out) == 1
    lines = [line.split() for line in out.getvalue().splitlines()]
    assert [line[:8] for line in lines if line[:1] in (["raw"], ["marts"])] == [
        ["raw", "google_ads", "campaign_performance", DS, "1", "0", "0", "PASS"],
        ["marts", "marts", "fct_orders", DS, str(len(FCT_ORDERS.checks(DS))), "1", "0", "FAIL"],
    ]
    assert "in Snowflake" in out.getvalue()
    assert (
        "expect_column_pair_values_a_to_be_greater_than_b on column partition_day,order_day:"
        " 1 unexpected" in out.getvalue()
    )
