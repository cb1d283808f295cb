"""The Snowflake target against a real fakesnow server (`fakesnow -s`, started by the
`fakesnow_server` fixture): loading published curated partitions, the gates' read of a
mart, publishing to `analytics`, and dbt building the project on it.

Curated partitions are Parquet files written here with pyarrow and published with
`Lake.publish`; expected rows are the ones written.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk import Connection

from caravan.lake import Lake, Partition
from caravan.settings import get_settings
from caravan.warehouse.dbt import DAILY_BUILD_FLAGS
from caravan.warehouse.snowflake import (
    SnowflakeConnection,
    SnowflakeWarehouse,
    external_copy_sql,
    landing_columns,
    snowflake_type,
)

SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("net_revenue", pa.decimal128(18, 2)),
        ("order_date", pa.date32()),
        ("placed_at", pa.timestamp("us")),
        ("units", pa.int64()),
    ]
)


def order(order_id: str, revenue: str, day: int, hour: int = 9, units: int = 1) -> dict:
    return {
        "order_id": order_id,
        "net_revenue": Decimal(revenue),
        "order_date": date(2026, 3, day),
        "placed_at": datetime(2026, 3, day, hour, 30),
        "units": units,
    }


DAY_1 = [order("1", "10.50", 1), order("2", "0.10", 1, hour=23, units=3)]
DAY_2 = [order("3", "99.99", 2)]


def expected(rows: list[dict], ds: date) -> list[tuple]:
    return [(*row.values(), ds) for row in rows]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


@pytest.fixture
def target(snowflake_target) -> SnowflakeWarehouse:
    return snowflake_target


@pytest.fixture
def con(snowflake_database, snowflake_connect):
    with snowflake_connect(snowflake_database) as connection:
        yield connection


@pytest.fixture
def publish_orders(lake, publish_curated):
    def publish(ds: str, *files: list[dict], schema: pa.Schema = SCHEMA) -> None:
        publish_curated(lake, "sales", "orders", ds, schema, *files)

    return publish


def query(con, sql: str, *params) -> list[tuple]:
    cursor = con.cursor()
    cursor.execute(sql, params or None)
    return cursor.fetchall()


def landed(con) -> list[tuple]:
    return query(
        con,
        "select order_id, net_revenue, order_date, placed_at, units, ds"
        " from landing.sales__orders order by order_id",
    )


# -- types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrow_type", "snowflake"),
    [
        (pa.string(), "varchar"),
        (pa.int32(), "number(38, 0)"),
        (pa.int64(), "number(38, 0)"),
        (pa.decimal128(18, 6), "number(18, 6)"),
        (pa.float64(), "float"),
        (pa.bool_(), "boolean"),
        (pa.date32(), "date"),
        (pa.timestamp("us"), "timestamp_ntz"),
        (pa.timestamp("us", tz="UTC"), "timestamp_tz"),
        (pa.list_(pa.string()), "array"),
    ],
)
def test_each_curated_parquet_type_has_its_snowflake_type(arrow_type, snowflake):
    assert snowflake_type(arrow_type) == snowflake


def test_the_landing_columns_are_the_files_then_ds():
    assert landing_columns(SCHEMA, "here") == [
        ("order_id", "varchar"),
        ("net_revenue", "number(18, 2)"),
        ("order_date", "date"),
        ("placed_at", "timestamp_ntz"),
        ("units", "number(38, 0)"),
        ("ds", "date"),
    ]


def test_a_column_name_snowflake_would_need_quoted_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"curated/x: column 'Order Id'"):
        landing_columns(pa.schema([("Order Id", pa.string())]), "curated/x")


# -- loading ---------------------------------------------------------------------------


def test_loading_a_partition_lands_its_rows_with_their_ds(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1[:1], DAY_1[1:])
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 2
    assert landed(con) == expected(DAY_1, date(2026, 3, 1))


def test_two_days_land_side_by_side(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    publish_orders("2026-03-02", DAY_2)
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 2
    assert target.load_partition(lake, "sales", "orders", "2026-03-02") == 1
    assert query(
        con,
        "select ds, count(*), cast(sum(net_revenue) as number(18, 2)) from landing.sales__orders"
        " group by ds order by ds",
    ) == [(date(2026, 3, 1), 2, Decimal("10.60")), (date(2026, 3, 2), 1, Decimal("99.99"))]


def test_reloading_a_ds_leaves_its_rows_once(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 2
    assert landed(con) == expected(DAY_1, date(2026, 3, 1))


def test_reloading_a_republished_ds_replaces_only_that_ds(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    publish_orders("2026-03-02", DAY_2)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    target.load_partition(lake, "sales", "orders", "2026-03-02")

    rerun = [order("1", "11.00", 1)]
    publish_orders("2026-03-01", rerun)
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 1
    assert landed(con) == expected(rerun, date(2026, 3, 1)) + expected(DAY_2, date(2026, 3, 2))


def test_money_stays_exact_to_the_cent(target, lake, con, publish_orders):
    cents = [order(str(n), f"0.{n:02d}", 1) for n in range(1, 11)]  # 0.01 … 0.10
    publish_orders("2026-03-01", cents)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    # (fakesnow returns an aggregate of NUMBER as a float: cast back to compare exactly.)
    [(total,)] = query(
        con, "select cast(sum(net_revenue) as number(18, 2)) from landing.sales__orders"
    )
    assert total == Decimal("0.55")
    by_id = sorted(cents, key=lambda order: order["order_id"])
    assert [row[1] for row in landed(con)] == [order["net_revenue"] for order in by_id]
    assert query(
        con,
        "select data_type, numeric_precision, numeric_scale from information_schema.columns"
        " where table_name = 'SALES__ORDERS' and column_name = 'NET_REVENUE'",
    ) == [("NUMBER", 18, 2)]


def test_only_the_files_the_manifest_lists_are_loaded(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    folder = Path(lake.path(Partition("curated", "sales", "orders", "2026-03-01")))
    # In the partition's folder, not in its manifest (a writer's leftover).
    pq.write_table(pa.Table.from_pylist(DAY_2, schema=SCHEMA), folder / "part-00001.parquet")

    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 2
    assert landed(con) == expected(DAY_1, date(2026, 3, 1))


def test_a_column_a_later_partition_brings_is_added(target, lake, con, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    wider = SCHEMA.append(pa.field("currency", pa.string()))
    publish_orders("2026-03-02", [{**DAY_2[0], "currency": "EUR"}], schema=wider)
    target.load_partition(lake, "sales", "orders", "2026-03-02")
    assert query(con, "select order_id, currency from landing.sales__orders order by order_id") == [
        ("1", None),
        ("2", None),
        ("3", "EUR"),
    ]


def test_a_lake_on_gcs_without_a_storage_integration_loads_through_the_upload_stage(
    target, gcs_lake, con, publish_curated
):
    publish_curated(gcs_lake, "sales", "orders", "2026-03-01", SCHEMA, DAY_1[:1], DAY_1[1:])
    assert target.load_partition(gcs_lake, "sales", "orders", "2026-03-01") == 2
    assert landed(con) == expected(DAY_1, date(2026, 3, 1))


def test_a_lake_on_gcs_with_a_storage_integration_is_copied_in_place_file_by_file():
    # Real Snowflake only (fakesnow cannot read a bucket): the statement, as sent.
    partition = Partition("curated", "sales", "orders", "2026-03-01")
    files = [f"gs://lake/prod/{partition.relpath}/part-0000{n}.parquet" for n in (0, 1)]
    assert external_copy_sql("landing.sales__orders", partition, files) == (
        "copy into landing.sales__orders from @landing.caravan_lake/"
        "curated/sales/orders/ds=2026-03-01/ files = ('part-00000.parquet', 'part-00001.parquet')"
        " file_format = (type = parquet use_logical_type = true)"
        " match_by_column_name = case_insensitive force = true"
    )


def test_an_unpublished_partition_raises_naming_it(target, lake, con, publish_orders):
    with pytest.raises(FileNotFoundError, match=r"curated/sales/orders/ds=2026-03-03"):
        target.load_partition(lake, "sales", "orders", "2026-03-03")


# -- the gates' read and publishing ----------------------------------------------------


def create_marts(con, revenue: str = "10.50") -> None:
    cursor = con.cursor()
    cursor.execute("create schema if not exists marts")
    cursor.execute(
        "create or replace table marts.fct_orders (order_id varchar, order_date date,"
        " net_revenue number(18, 2))"
    )
    cursor.execute(
        "insert into marts.fct_orders values"
        f" ('1', '2026-03-01', {revenue}), ('2', '2026-03-01', 0.10)"
    )
    cursor.execute(
        "create or replace table marts.fct_ad_spend_daily (spend_date date, platform varchar,"
        " campaign_id varchar, spend number(18, 2))"
    )
    cursor.execute(
        "insert into marts.fct_ad_spend_daily values"
        " ('2026-03-01', 'google_ads', '21000001', 57.11)"
    )


MARTS = ("fct_orders", "fct_ad_spend_daily")


def analytics_revenue(con) -> list[Decimal]:
    return [row[0] for row in query(con, "select net_revenue from analytics.fct_orders order by 1")]


def test_a_mart_reads_with_the_suites_lower_case_names(target, con):
    create_marts(con)
    frame = target.mart_frame("fct_orders", "order_id, net_revenue * 2 as doubled")
    assert list(frame.columns) == ["order_id", "doubled"]
    assert sorted(zip(frame["order_id"], frame["doubled"], strict=True)) == [
        ("1", 21.0),
        ("2", 0.2),
    ]


def test_publish_copies_every_mart(target, con):
    create_marts(con)
    target.publish_analytics(MARTS)
    assert query(con, "select * from analytics.fct_orders order by order_id") == [
        ("1", date(2026, 3, 1), Decimal("10.50")),
        ("2", date(2026, 3, 1), Decimal("0.10")),
    ]
    assert query(con, "select * from analytics.fct_ad_spend_daily") == [
        (date(2026, 3, 1), "google_ads", "21000001", Decimal("57.11"))
    ]


def test_publishing_again_replaces_the_analytics_rows(target, con):
    create_marts(con)
    target.publish_analytics(MARTS)
    create_marts(con, revenue="12.00")
    target.publish_analytics(MARTS)
    assert analytics_revenue(con) == [Decimal("0.10"), Decimal("12.00")]


def test_a_publish_with_a_mart_missing_changes_nothing(target, con):
    create_marts(con)
    target.publish_analytics(MARTS)
    create_marts(con, revenue="12.00")
    con.cursor().execute("drop table marts.fct_ad_spend_daily")
    with pytest.raises(LookupError, match=r"marts\.fct_ad_spend_daily not found"):
        target.publish_analytics(MARTS)
    assert analytics_revenue(con) == [Decimal("0.10"), Decimal("10.50")]


def test_a_publish_failing_midway_rolls_back_the_marts_it_had_copied(target, con):
    create_marts(con)
    # A mart that fails as it is read once it holds a row whose spend is no number.
    con.cursor().execute(
        "create or replace view marts.fct_ad_spend_daily_checked as select spend_date,"
        " platform, campaign_id, cast(case when platform = 'x' then 'not a number'"
        " else to_varchar(spend) end as number(18, 2)) as spend from marts.fct_ad_spend_daily"
    )
    marts = ("fct_orders", "fct_ad_spend_daily_checked")
    target.publish_analytics(marts)
    create_marts(con, revenue="12.00")
    con.cursor().execute("insert into marts.fct_ad_spend_daily values ('2026-03-02', 'x', 'y', 1)")
    # fct_orders is replaced inside the transaction, then reading the view fails.
    with pytest.raises(Exception, match="not a number"):
        target.publish_analytics(marts)
    assert analytics_revenue(con) == [Decimal("0.10"), Decimal("10.50")]
    assert query(con, "select spend from analytics.fct_ad_spend_daily_checked") == [
        (Decimal("57.11"),)
    ]


# -- the Airflow connection and the dispatch ---------------------------------------------


def airflow_connection_json(params: SnowflakeConnection) -> str:
    """The connection as `AIRFLOW_CONN_<ID>` holds it."""
    return json.dumps(
        {
            "conn_type": "snowflake",
            "login": params.user,
            "password": params.password,
            "host": params.host,
            "port": params.port,
            "extra": {
                "account": params.account,
                "database": params.database,
                "protocol": params.protocol,
            },
        }
    )


# The loader's connection as `AIRFLOW_CONN_<ID>` holds it.
LOADER = {
    "conn_type": "snowflake",
    "login": "loader",
    "password": "s3cret-value",
    "schema": "main",
    "extra": {"account": "xy12345.eu-west-1", "database": "caravan", "role": "loader"},
}


def test_the_airflow_connection_gives_the_connector_its_parameters():
    params = SnowflakeConnection.from_connection(
        Connection(
            conn_id="snowflake_default",
            conn_type="snowflake",
            login="loader",
            password="s3cret-value",
            schema="main",
            extra=json.dumps(LOADER["extra"]),
        )
    )
    assert params.connect_kwargs() == {
        "account": "xy12345.eu-west-1",
        "user": "loader",
        "password": "s3cret-value",
        "database": "caravan",
        "schema": "main",
        "role": "loader",
    }
    assert "s3cret-value" not in repr(params)


def test_the_airflow_connection_gives_dbt_its_profile_with_the_password_kept_out_of_it(
    monkeypatch, written_profile
):
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps(LOADER))
    profile, environ = written_profile(get_settings())
    assert profile == {
        "type": "snowflake",
        "account": "xy12345.eu-west-1",
        "user": "loader",
        # dbt scrubs a DBT_ENV_SECRET_ variable's value from its logs.
        "password": "{{ env_var('DBT_ENV_SECRET_SNOWFLAKE_PASSWORD') }}",
        "database": "caravan",
        "role": "loader",
        "schema": "main",
        "threads": 4,
    }
    assert environ == {"DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": "s3cret-value"}


def test_a_connection_with_a_key_file_gives_dbt_and_the_connector_the_file_and_no_password(
    monkeypatch, written_profile
):
    # The Snowflake provider's form of the extra; no schema: `main`.
    key_pair = {
        "conn_type": "snowflake",
        "login": "loader",
        "extra": {
            "extra__snowflake__account": "xy12345.eu-west-1",
            "extra__snowflake__database": "caravan",
            "extra__snowflake__private_key_file": "/keys/loader.p8",
        },
    }
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps(key_pair))
    settings = get_settings()
    profile, environ = written_profile(settings)
    assert profile == {
        "type": "snowflake",
        "account": "xy12345.eu-west-1",
        "user": "loader",
        "private_key_path": "/keys/loader.p8",
        "database": "caravan",
        "schema": "main",
        "threads": 4,
    }
    assert environ == {}
    assert SnowflakeWarehouse.from_settings(settings).connection.connect_kwargs() == {
        "account": "xy12345.eu-west-1",
        "user": "loader",
        "private_key_file": "/keys/loader.p8",
        "database": "caravan",
        "schema": "main",
    }


def test_a_connection_without_an_account_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"'snowflake_default': extra account, extra database"):
        SnowflakeConnection.from_connection(
            Connection(conn_id="snowflake_default", conn_type="snowflake", login="loader")
        )


def test_dbt_in_process_gets_its_profile_from_the_airflow_connection(tmp_path, monkeypatch):
    """As `caravan docs` and the bench run dbt: the profile's password variable (which dbt
    requires: it has no default) is set while dbt runs, and gone after."""
    from caravan.warehouse.dbt import invoke_dbt

    params = SnowflakeConnection(
        account="fakesnow", user="caravan", password="s3cret-value", database="caravan_9"
    )
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", airflow_connection_json(params))
    monkeypatch.delenv("DBT_ENV_SECRET_SNOWFLAKE_PASSWORD", raising=False)
    target = tmp_path / "target"
    invoke_dbt(get_settings(), "parse", "--target-path", str(target), "--log-path", str(tmp_path))
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "snowflake"
    assert manifest["nodes"]["model.caravan.fct_orders"]["database"] == "caravan_9"
    assert "DBT_ENV_SECRET_SNOWFLAKE_PASSWORD" not in os.environ


def test_the_warehouse_steps_load_through_the_snowflake_target(
    lake, snowflake_database, snowflake_connect, publish_orders, monkeypatch
):
    from caravan.pipeline import warehouse_steps
    from caravan.warehouse.targets import warehouse

    publish_orders("2026-03-01", DAY_1)
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv("CARAVAN_LAKE_URL", lake.url)
    monkeypatch.setenv("CARAVAN_SNOWFLAKE_CONN_ID", "caravan_snowflake")
    monkeypatch.setenv(
        "AIRFLOW_CONN_CARAVAN_SNOWFLAKE", airflow_connection_json(snowflake_database)
    )

    loaded = warehouse_steps.load("2026-03-01", entities=(("sales", "orders"),))
    assert loaded == {"ds": "2026-03-01", "rows": {"landing.sales__orders": 2}}
    assert warehouse(get_settings()) == SnowflakeWarehouse(snowflake_database)
    with snowflake_connect(snowflake_database) as con:
        assert landed(con) == expected(DAY_1, date(2026, 3, 1))


# -- dbt builds the project on the fakesnow server ---------------------------------------

DAY1, DAY2 = "2026-03-01", "2026-03-02"
MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
TS = pa.timestamp("us")
MONEY = pa.decimal128(18, 2)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


def curated(columns: dict[str, pa.DataType], *rows: tuple) -> tuple[pa.Schema, list[dict]]:
    return pa.schema(list(columns.items())), [dict(zip(columns, row, strict=True)) for row in rows]


CUSTOMER = {
    "customer_id": pa.string(),
    "customer_key": pa.string(),
    "region": pa.string(),
    "created_at": TS,
    "updated_at": TS,
}
IDENTITY = {
    "customer_key": pa.string(),
    "email": pa.string(),
    "id_type": pa.string(),
    "id_value": pa.string(),
    "linked_via": pa.string(),
}
SPEND = {
    "spend_date": pa.date32(),
    "platform": pa.string(),
    "account_id": pa.string(),
    "campaign_id": pa.string(),
    "campaign_name": pa.string(),
    "currency": pa.string(),
    "spend": pa.decimal128(18, 6),
    "impressions": pa.int64(),
    "clicks": pa.int64(),
    "conversions": pa.decimal128(18, 4),
}
CAMPAIGN = {
    "platform": pa.string(),
    "campaign_id": pa.string(),
    "campaign_name": pa.string(),
    "account_id": pa.string(),
    "status": pa.string(),
    "objective": pa.string(),
    "created_at": TS,
}
ATTRIBUTION = {
    "order_id": pa.string(),
    "customer_key": pa.string(),
    "order_date": pa.date32(),
    "placed_at": TS,
    "attribution_model": pa.string(),
    "touchpoint": pa.int32(),
    "touchpoints": pa.int32(),
    "session_id": pa.string(),
    "touch_at": TS,
    "channel": pa.string(),
    "utm_source": pa.string(),
    "utm_medium": pa.string(),
    "campaign_id": pa.string(),
    "weight": pa.float64(),
}
ORDER = {
    "order_id": pa.string(),
    "customer_id": pa.string(),
    "customer_key": pa.string(),
    "region": pa.string(),
    "customer_created_at": TS,
    "placed_at": TS,
    "order_date": pa.date32(),
    "status": pa.string(),
    "updated_at": TS,
    "currency": pa.string(),
    "gross_revenue": MONEY,
    "discount_amount": MONEY,
    "net_revenue": MONEY,
    "units": pa.int64(),
    "landing_site": pa.string(),
    "utm_source": pa.string(),
    "utm_medium": pa.string(),
    "utm_campaign": pa.string(),
}
ITEM = {
    "order_item_id": pa.string(),
    "order_id": pa.string(),
    "product_id": pa.string(),
    "quantity": pa.int64(),
    "unit_price": MONEY,
    "line_revenue": MONEY,
    "order_date": pa.date32(),
    "updated_at": TS,
}
PRODUCT = {
    "product_id": pa.string(),
    "sku": pa.string(),
    "product_name": pa.string(),
    "category": pa.string(),
    "price": MONEY,
    "created_at": TS,
    "updated_at": TS,
}
EVENT = {
    "order_id": pa.string(),
    "event_type": pa.string(),
    "occurred_at": TS,
    "amount": MONEY,
    "currency": pa.string(),
    "customer_id": pa.string(),
    "first_message_id": pa.string(),
    "first_app": pa.string(),
    "first_sent_at": TS,
    "messages": pa.int64(),
    "apps": pa.list_(pa.string()),
}
SESSION = {
    "session_id": pa.string(),
    "user_pseudo_id": pa.string(),
    "user_id": pa.string(),
    "session_start": TS,
    "session_end": TS,
    "session_date": pa.date32(),
    "duration_seconds": pa.float64(),
    "events": pa.int64(),
    "events_on_ds": pa.int64(),
    "page_views": pa.int64(),
    "landing_page": pa.string(),
    "utm_source": pa.string(),
    "utm_medium": pa.string(),
    "utm_campaign": pa.string(),
    "channel": pa.string(),
    "campaign_id": pa.string(),
    "device": pa.string(),
    "has_add_to_cart": pa.bool_(),
    "has_begin_checkout": pa.bool_(),
    "has_purchase": pa.bool_(),
    "transaction_ids": pa.list_(pa.string()),
}

# The typed copies of the registry's text entities (timestamps as instants, in UTC) and
# the enrich DAG's labels.
TSZ = pa.timestamp("us", tz="UTC")
REVIEW = {
    "review_id": pa.string(),
    "order_id": pa.string(),
    "product_id": pa.string(),
    "customer_id": pa.string(),
    "rating": pa.int64(),
    "body": pa.string(),
    "updated_at": TSZ,
    "created_at": TSZ,
    "title": pa.string(),
}
REVIEW_LABEL = {
    "review_id": pa.string(),
    "sentiment": pa.string(),
    "topics": pa.string(),
    "primary_topic": pa.string(),
    "language": pa.string(),
    "labelled_by": pa.string(),
    "prompt_version": pa.string(),
    "text_sha256": pa.string(),
    "source_ds": pa.date32(),
}
ISSUE_COLUMNS = (
    "id number title state updated_at comments created_at closed_at labels user"
    " author_association body comments_url html_url locked repository_url state_reason url"
).split()
ISSUE = {
    name: {"number": pa.int64(), "comments": pa.int64()}.get(
        name, TSZ if name.endswith("_at") else pa.string()
    )
    for name in ISSUE_COLUMNS
}
COMMENT_COLUMNS = "id issue_url body updated_at created_at user author_association html_url url"
COMMENT = {name: TSZ if name.endswith("_at") else pa.string() for name in COMMENT_COLUMNS.split()}
ISSUE_LABEL = {**REVIEW_LABEL, "issue_number": pa.int64()}
del ISSUE_LABEL["review_id"]
CHUNK = {
    name: pa.string() for name in ("chunk_id", "path", "anchor", "heading", "doc_kind", "text")
}
TRACKER = "https://tracker.test/repos/shop/data/issues"


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def issue(number: int, day: int, labels: list[str], closed_day: int | None = None) -> tuple:
    values = {
        "id": f"i{number}",
        "number": number,
        "title": f"Issue {number}",
        "state": "closed" if closed_day else "open",
        "updated_at": utc(closed_day or day, 10),
        "comments": 0,
        "created_at": utc(day, 9),
        "closed_at": utc(closed_day, 10) if closed_day else None,
        "labels": json.dumps([{"name": label} for label in labels]),
        "body": f"Body of issue {number}",
    }
    return tuple(values.get(name) for name in ISSUE_COLUMNS)


def comment(comment_id: str, number: int, day: int) -> tuple:
    values = {
        "id": comment_id,
        "issue_url": f"{TRACKER}/{number}",
        "body": "A comment",
        "updated_at": utc(day, 12),
        "created_at": utc(day, 12),
    }
    return tuple(values.get(name) for name in COMMENT_COLUMNS.split())


C1 = ("c1", "k1", "west", at(1, 8), at(1, 8))
C2 = ("c2", "k2", "east", datetime(2026, 2, 10, 12), datetime(2026, 2, 10, 12))
C3 = ("c3", "k3", "west", at(2, 7), at(2, 7))
P1 = ("p1", "SKU-1", "Tent", "outdoor", Decimal("20.00"), at(1, 0), at(1, 0))
P2 = ("p2", "SKU-2", "Lamp", "home", Decimal("10.00"), at(1, 0), at(1, 0))
G1 = ("google_ads", "g1", "Search", "111", "enabled", "search", None)
M1 = ("meta_ads", "m1", "Spring", "act_2", "active", "outcome_sales", at(1, 0))


def o1(status: str, updated: datetime) -> tuple:
    return (
        "o1",
        "c1",
        "k1",
        "west",
        at(1, 8),
        at(1, 9),
        date(2026, 3, 1),
        status,
        updated,
        "USD",
        Decimal("30.00"),
        Decimal("5.00"),
        Decimal("25.00"),
        2,
        "/?utm_source=google",
        "google",
        "cpc",
        "g1",
    )


O2 = (
    "o2",
    "c2",
    "k2",
    "east",
    datetime(2026, 2, 10, 12),
    at(1, 12),
    date(2026, 3, 1),
    "cancelled",
    at(1, 13),
    "USD",
    Decimal("10.00"),
    Decimal("0.00"),
    Decimal("10.00"),
    1,
    "/",
    None,
    None,
    None,
)
O3 = (
    "o3",
    "c3",
    "k3",
    "west",
    at(2, 7),
    at(2, 8),
    date(2026, 3, 2),
    "placed",
    at(2, 8),
    "USD",
    Decimal("15.50"),
    Decimal("0.50"),
    Decimal("15.00"),
    1,
    "/?utm_source=google",
    "google",
    "cpc",
    "g1",
)


def attribution_o1() -> list[tuple]:
    return [
        (
            "o1",
            "k1",
            date(2026, 3, 1),
            at(1, 9),
            model,
            1,
            1,
            "s1",
            at(1, 8, 50),
            "google_ads",
            "google",
            "cpc",
            "g1",
            1.0,
        )
        for model in MODELS
    ]


def attribution_o3() -> list[tuple]:
    """Two touches: Meta on day 1, Google just before the order on day 2."""
    weights = {
        "first_touch": (1.0, 0.0),
        "last_touch": (0.0, 1.0),
        "linear": (0.5, 0.5),
        "time_decay": (0.25, 0.75),
        "position_based": (0.5, 0.5),
    }
    touches = (
        ("s2", at(1, 20), "meta_ads", "facebook", "paid_social", "m1"),
        ("s3", at(2, 7, 50), "google_ads", "google", "cpc", "g1"),
    )
    return [
        ("o3", "k3", date(2026, 3, 2), at(2, 8), model, n, 2, *touch[:2], *touch[2:], weight)
        for model, shares in weights.items()
        for n, (touch, weight) in enumerate(zip(touches, shares, strict=True), start=1)
    ]


def session(sid, user, day, hour, channel, source, medium, campaign, purchase, orders=()):
    return (
        sid,
        f"v-{user}",
        user,
        at(day, hour),
        at(day, hour, 20),
        date(2026, 3, day),
        1200.0,
        5,
        5,
        3,
        "/",
        source,
        medium,
        campaign,
        channel,
        campaign,
        "desktop",
        purchase,
        purchase,
        purchase,
        list(orders),
    )


# (domain, entity) → {ds: (schema, rows)}: a small company over two days whose facts
# agree with each other (every order's customer, lines, attribution; every spend's
# campaign), so that every dbt test holds.
LANDING = {
    ("customers", "customers"): {
        DAY1: curated(CUSTOMER, C1, C2),
        DAY2: curated(CUSTOMER, ("c1", "k1", "north", at(1, 8), at(2, 10)), C2, C3),
    },
    ("customers", "identity_map"): {
        DAY1: curated(
            IDENTITY,
            ("k1", "a@x.test", "shop_customer", "c1", "email"),
            ("k1", "a@x.test", "web_visitor", "v-c1", "purchase"),
            ("k2", "b@x.test", "shop_customer", "c2", "email"),
        ),
        DAY2: curated(
            IDENTITY,
            ("k3", "c@x.test", "shop_customer", "c3", "email"),
            ("k3", "c@x.test", "crm_contact", "crm-3", "email"),
        ),
    },
    ("marketing", "ad_spend_daily"): {
        DAY1: curated(
            SPEND,
            (
                date(2026, 3, 1),
                "google_ads",
                "111",
                "g1",
                "Search",
                "USD",
                Decimal("12.345678"),
                1000,
                40,
                Decimal("2.0000"),
            ),
            (
                date(2026, 3, 1),
                "meta_ads",
                "act_2",
                "m1",
                "Spring",
                "USD",
                Decimal("3.000000"),
                500,
                10,
                Decimal("0.5000"),
            ),
        ),
        # The platform restated day 1 (12.40 holds) and spent again on day 2.
        DAY2: curated(
            SPEND,
            (
                date(2026, 3, 1),
                "google_ads",
                "111",
                "g1",
                "Search",
                "USD",
                Decimal("12.400000"),
                1000,
                40,
                Decimal("2.0000"),
            ),
            (
                date(2026, 3, 2),
                "google_ads",
                "111",
                "g1",
                "Search",
                "USD",
                Decimal("7.500000"),
                800,
                30,
                Decimal("1.0000"),
            ),
            (
                date(2026, 3, 2),
                "meta_ads",
                "act_2",
                "m1",
                "Spring",
                "USD",
                Decimal("4.250000"),
                400,
                8,
                Decimal("0.0000"),
            ),
        ),
    },
    ("marketing", "campaigns"): {DAY1: curated(CAMPAIGN, G1, M1), DAY2: curated(CAMPAIGN, G1, M1)},
    ("marketing", "order_attribution"): {
        DAY1: curated(ATTRIBUTION, *attribution_o1()),
        DAY2: curated(ATTRIBUTION, *attribution_o3()),
    },
    ("sales", "orders"): {
        DAY1: curated(ORDER, o1("placed", at(1, 9)), O2),
        DAY2: curated(ORDER, o1("delivered", at(2, 15)), O3),
    },
    ("sales", "order_items"): {
        DAY1: curated(
            ITEM,
            ("i1", "o1", "p1", 1, Decimal("20.00"), Decimal("20.00"), date(2026, 3, 1), at(1, 9)),
            ("i2", "o1", "p2", 1, Decimal("10.00"), Decimal("10.00"), date(2026, 3, 1), at(1, 9)),
            ("i3", "o2", "p2", 1, Decimal("10.00"), Decimal("10.00"), date(2026, 3, 1), at(1, 12)),
        ),
        DAY2: curated(
            ITEM,
            ("i4", "o3", "p2", 1, Decimal("15.50"), Decimal("15.50"), date(2026, 3, 2), at(2, 8)),
        ),
    },
    ("sales", "products"): {DAY1: curated(PRODUCT, P1, P2), DAY2: curated(PRODUCT, P1, P2)},
    ("sales", "order_events"): {
        DAY1: curated(
            EVENT,
            (
                "o1",
                "order_placed",
                at(1, 9),
                Decimal("25.00"),
                "USD",
                "c1",
                "m-1",
                "sales",
                at(1, 9, 1),
                2,
                ["sales", "accounting"],
            ),
        ),
        DAY2: curated(
            EVENT,
            (
                "o1",
                "order_shipped",
                at(2, 10),
                None,
                None,
                "c1",
                "m-2",
                "shipping",
                at(2, 10, 1),
                1,
                ["shipping"],
            ),
            (
                "o3",
                "order_placed",
                at(2, 8),
                Decimal("15.00"),
                "USD",
                "c3",
                "m-3",
                "sales",
                at(2, 8, 1),
                1,
                ["sales"],
            ),
        ),
    },
    ("shop_db", "reviews"): {
        DAY1: curated(
            REVIEW,
            ("r1", "o1", "p1", "c1", 5, "Love it", utc(1, 23), utc(1, 23), "Great tent"),
            ("r2", "o2", "p2", "c2", 1, "Broke", utc(1, 10), utc(1, 10), "Bad lamp"),
        ),
        DAY2: curated(REVIEW, ("r3", "o1", "p1", "c1", 3, "Fine", utc(2, 9), utc(2, 9), "OK")),
    },
    ("enrichment", "review_labels"): {
        DAY1: curated(
            REVIEW_LABEL,
            ("r1", "positive", "quality", "quality", "en", "offline", "v1", "h1", date(2026, 3, 1)),
            ("r2", "negative", "quality", "quality", "en", "offline", "v1", "h2", date(2026, 3, 1)),
        ),
        DAY2: curated(
            REVIEW_LABEL,
            ("r3", "neutral", "", None, "en", "gpt-4o-mini", "v1", "h3", date(2026, 3, 2)),
        ),
    },
    ("issue_tracker", "issues"): {
        # 2026-03-01 is a Sunday: issue 1 is in the ISO week of Monday 02-23, 2 and 3 in
        # the week of 03-02 (issue 1 closed then).
        DAY1: curated(ISSUE, issue(1, 1, ["tracking", "bug"])),
        DAY2: curated(
            ISSUE,
            issue(1, 1, ["tracking", "bug"], closed_day=2),
            issue(2, 2, ["tracking"]),
            issue(3, 2, []),
        ),
    },
    ("issue_tracker", "comments"): {
        DAY1: curated(COMMENT, comment("m1", 1, 1)),
        DAY2: curated(COMMENT, comment("m2", 1, 2), comment("m3", 2, 2)),
    },
    ("enrichment", "issue_labels"): {
        DAY1: curated(
            ISSUE_LABEL,
            ("negative", "tracking", "tracking", "en", "offline", "v1", "h4", date(2026, 3, 1), 1),
        ),
        DAY2: curated(
            ISSUE_LABEL,
            ("neutral", "tracking", "tracking", "en", "offline", "v1", "h5", date(2026, 3, 2), 2),
        ),
    },
    ("docs", "chunks"): {
        DAY1: curated(CHUNK, ("d1", "docs/a.md", "setup", "Setup", "doc", "Run make demo.")),
        DAY2: curated(CHUNK, ("d1", "docs/a.md", "setup", "Setup", "doc", "Run make demo.")),
    },
    ("web", "sessions"): {
        DAY1: curated(
            SESSION,
            session("s1", "c1", 1, 8, "google_ads", "google", "cpc", "g1", True, ["o1"]),
            session("s2", "c3", 1, 20, "meta_ads", "facebook", "paid_social", "m1", False),
        ),
        DAY2: curated(
            SESSION,
            session("s3", "c3", 2, 7, "google_ads", "google", "cpc", "g1", True, ["o3"]),
            session("s4", None, 2, 11, "direct", None, None, None, False),
        ),
    },
}


def server_errors(server) -> int:
    """Statements fakesnow failed with HTTP 500 (which the connector retries)."""
    return server.log.read_bytes().count(b"500 Internal Server Error")


def assert_green(result: subprocess.CompletedProcess) -> None:
    summary = [line for line in result.stdout.splitlines() if "Done. PASS=" in line]
    assert result.returncode == 0 and summary and "ERROR=0" in summary[-1], (
        result.stdout[-12000:] + result.stderr[-3000:]
    )


def test_dbt_builds_the_project_on_the_snowflake_target(
    target,
    lake,
    con,
    snowflake_database,
    fakesnow_server,
    publish_curated,
    run_dbt,
    written_profile,
    monkeypatch,
):
    from caravan import catalog
    from caravan.quality import marts as mart_suites

    for (domain, entity), days in LANDING.items():
        for ds, (schema, rows) in days.items():
            publish_curated(lake, domain, entity, ds, schema, rows)
            assert target.load_partition(lake, domain, entity, ds) == len(rows)
    # dbt's profile gets its values from the Airflow connection, as in the warehouse DAG:
    # the fakesnow server's address and protocol too.
    monkeypatch.setenv("CARAVAN_TARGET", "snowflake")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT", airflow_connection_json(snowflake_database)
    )
    settings = get_settings()
    profile, _ = written_profile(settings)
    assert (profile["host"], profile["port"], profile["protocol"]) == (
        "127.0.0.1",
        fakesnow_server.port,
        "http",
    )
    assert profile["database"] == snowflake_database.database
    errors_before = server_errors(fakesnow_server)

    assert_green(run_dbt(settings, "build"))
    # The warehouse DAG's run of day 2: incremental models and the snapshot merge, the unit
    # tests left to the build above as the DAG leaves them (DAILY_BUILD_FLAGS). One thread:
    # fakesnow runs every MERGE through one scratch table, which merges running side by
    # side can both create ("duplicate key ... MERGE_CANDIDATES").
    day2 = ("--vars", f"{{ds: '{DAY2}'}}", "--threads", "1", *DAILY_BUILD_FLAGS)
    assert_green(run_dbt(settings, "build", *day2))
    # No statement failed inside fakesnow and passed only on the connector's retry.
    assert server_errors(fakesnow_server) == errors_before

    # Worked out by hand from LANDING: o1's latest version, and every model splitting
    # the revenue orders' 25.00 + 15.00 whole; day 1's spend as restated.
    assert query(con, "select order_id, status, net_revenue from marts.fct_orders order by 1") == [
        ("o1", "delivered", Decimal("25.00")),
        ("o2", "cancelled", Decimal("10.00")),
        ("o3", "placed", Decimal("15.00")),
    ]
    assert query(
        con,
        "select attribution_model, cast(sum(attributed_revenue) as number(18, 2))"
        " from marts.mart_marketing_roi group by 1 order by 1",
    ) == [(model, Decimal("40.00")) for model in sorted(MODELS)]
    assert query(
        con,
        "select spend_date, platform, spend from marts.fct_ad_spend_daily order by 1, 2",
    ) == [
        (date(2026, 3, 1), "google_ads", Decimal("12.40")),
        (date(2026, 3, 1), "meta_ads", Decimal("3.00")),
        (date(2026, 3, 2), "google_ads", Decimal("7.50")),
        (date(2026, 3, 2), "meta_ads", Decimal("4.25")),
    ]
    # The text marts, worked out by hand from LANDING: labels joined to reviews, issues
    # counted per ISO week (Monday) and label (issue 1 under both of its labels), the
    # knowledge chunks citing doc sections and issues.
    assert query(
        con,
        "select review_date, product_id, reviews, positive_reviews, neutral_reviews,"
        " negative_reviews, labelled_by from marts.mart_review_sentiment_daily order by 1, 2",
    ) == [
        (date(2026, 3, 1), "p1", 1, 1, 0, 0, "offline"),
        (date(2026, 3, 1), "p2", 1, 0, 0, 1, "offline"),
        (date(2026, 3, 2), "p1", 1, 0, 1, 0, "gpt-4o-mini"),
    ]
    assert query(
        con,
        "select week_start, label, issues_opened, issues_closed, comments, neutral_issues,"
        " negative_issues, unlabelled_issues from marts.mart_issues_weekly order by 1, 2",
    ) == [
        (date(2026, 2, 23), "bug", 1, 0, 1, 0, 1, 0),
        (date(2026, 2, 23), "tracking", 1, 0, 1, 0, 1, 0),
        (date(2026, 3, 2), "bug", 0, 1, 1, 0, 0, 0),
        (date(2026, 3, 2), "tracking", 1, 1, 2, 1, 0, 0),
        (date(2026, 3, 2), "unlabelled", 1, 0, 0, 0, 0, 1),
    ]
    assert query(con, "select kind, ref from marts.mart_knowledge_chunks order by chunk_id") == [
        ("comment", "issue #1"),
        ("comment", "issue #1"),
        ("comment", "issue #2"),
        ("doc", "docs/a.md#setup"),
        ("issue", "issue #1"),
        ("issue", "issue #2"),
        ("issue", "issue #3"),
    ]
    # The marts gate's projections run on Snowflake SQL too, and the publish takes them all.
    for (_, mart), suite in mart_suites.SUITES.items():
        assert len(target.mart_frame(mart, suite.projection)) > 0, mart
    target.publish_analytics(catalog.published_marts(get_settings()))
    assert query(con, "select count(*) from analytics.fct_orders") == [(3,)]
