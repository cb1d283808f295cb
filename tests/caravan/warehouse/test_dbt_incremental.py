"""The incremental facts, run by dbt for real on DuckDB: keyed by ds, idempotent, order-proof.

Order 1 is placed on 2026-03-01 (10.00) and delivered on 2026-03-02, when the shop's
partition carries it again; order 2 is placed on 2026-03-02. Whatever the order the
partitions are run in, and however often, fct_orders holds each order once, in its
latest version.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from caravan.settings import Settings
from caravan.warehouse.dbt import DS_ENV_VAR, invoke_dbt

ORDER_COLUMNS = (
    "order_id, customer_id, customer_key, region, customer_created_at, placed_at, order_date,"
    " status, updated_at, currency, gross_revenue, discount_amount, net_revenue, units,"
    " utm_source, utm_medium, utm_campaign, ds"
)
DAY_1 = (
    "('1', '7', 'k7', 'EU', timestamp '2026-01-01 00:00:00', timestamp '2026-03-01 10:00:00',"
    " date '2026-03-01', 'placed', timestamp '2026-03-01 10:00:00', 'USD', 10.00, 0.00, 10.00,"
    " 1::bigint, null::varchar, null::varchar, null::varchar, date '2026-03-01')"
)
DAY_2 = [
    "('1', '7', 'k7', 'EU', timestamp '2026-01-01 00:00:00', timestamp '2026-03-01 10:00:00',"
    " date '2026-03-01', 'delivered', timestamp '2026-03-02 09:00:00', 'USD', 10.00, 0.00, 10.00,"
    " 1::bigint, null::varchar, null::varchar, null::varchar, date '2026-03-02')",
    "('2', '8', 'k8', 'EU', timestamp '2026-03-02 08:00:00', timestamp '2026-03-02 08:30:00',"
    " date '2026-03-02', 'placed', timestamp '2026-03-02 08:30:00', 'USD', 25.00, 5.00, 20.00,"
    " 2::bigint, null::varchar, null::varchar, null::varchar, date '2026-03-02')",
]
LATEST = [("1", "delivered", Decimal("10.00"), date(2026, 3, 2)),
          ("2", "placed", Decimal("20.00"), date(2026, 3, 2))]  # fmt: skip


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    settings = Settings.from_env()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema landing")
        con.execute(
            f"create table landing.sales__orders as select * from (values {DAY_1}, {DAY_2[0]},"
            f" {DAY_2[1]}) as t({ORDER_COLUMNS})"
        )
    return settings


def build_fct_orders(settings: Settings, ds: str | None = None, full_refresh=False) -> None:
    args = ["--select", "+fct_orders", "--target-path", str(settings.home / "dbt_target")]
    if ds:
        args += ["--vars", f"{{ds: '{ds}'}}"]
    if full_refresh:
        args.append("--full-refresh")
    invoke_dbt(settings, "run", "--quiet", *args)


def fct_orders(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(
            "select order_id, status, net_revenue, ds from marts.fct_orders order by order_id"
        ).fetchall()


def test_a_full_build_holds_each_orders_latest_version(settings):
    build_fct_orders(settings)
    assert fct_orders(settings) == LATEST


def test_rerunning_a_ds_and_backfilling_an_older_one_change_nothing(settings):
    build_fct_orders(settings)
    build_fct_orders(settings, "2026-03-02")
    build_fct_orders(settings, "2026-03-02")
    build_fct_orders(settings, "2026-03-01")  # a backfill cannot bring back "placed"
    assert fct_orders(settings) == LATEST


@pytest.mark.parametrize("ds_from", ["vars", "environment"])
def test_a_ds_run_upserts_only_the_orders_of_that_partition(settings, monkeypatch, ds_from):
    build_fct_orders(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "update landing.sales__orders set status = 'refunded',"
            " updated_at = timestamp '2026-03-03 12:00:00', ds = date '2026-03-03'"
            " where order_id = '2'"
        )
        # A change in another partition is not this run's to pick up.
        con.execute("update landing.sales__orders set net_revenue = 99.00 where order_id = '1'")
    if ds_from == "environment":  # how the warehouse DAG passes its run's ds
        monkeypatch.setenv(DS_ENV_VAR, "2026-03-03")
        build_fct_orders(settings)
    else:
        build_fct_orders(settings, "2026-03-03")
    assert fct_orders(settings) == [
        LATEST[0],
        ("2", "refunded", Decimal("20.00"), date(2026, 3, 3)),
    ]
