"""Loading published curated partitions into a real DuckDB file, and publishing the marts.

Curated partitions are Parquet files written here with pyarrow and published with
`Lake.publish`; expected rows are the ones written.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caravan.lake import Lake, Partition, PartitionCorrupt
from caravan.warehouse.duckdb import DuckDBWarehouse

SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("net_revenue", pa.decimal128(18, 2)),
        ("order_date", pa.date32()),
    ]
)
DAY_1 = [("1", Decimal("10.50"), date(2026, 3, 1)), ("2", Decimal("0.10"), date(2026, 3, 1))]
DAY_2 = [("3", Decimal("99.99"), date(2026, 3, 2))]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def target(warehouse: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(warehouse)


@pytest.fixture
def publish_orders(lake, publish_curated):
    """Publish each list of rows as one Parquet file of the ds's curated orders."""

    def publish(ds: str, *files: list[tuple]) -> None:
        as_dicts = [[dict(zip(SCHEMA.names, row, strict=True)) for row in rows] for rows in files]
        publish_curated(lake, "sales", "orders", ds, SCHEMA, *as_dicts)

    return publish


def landed(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(
            "select order_id, net_revenue, order_date, ds from landing.sales__orders"
            " order by order_id"
        ).fetchall()


def with_ds(rows: list[tuple], ds: date) -> list[tuple]:
    return [(*row, ds) for row in rows]


def test_loading_a_partition_lands_its_rows_with_their_ds(target, lake, warehouse, publish_orders):
    publish_orders("2026-03-01", DAY_1[:1], DAY_1[1:])
    loaded = target.load_partition(lake, "sales", "orders", "2026-03-01")
    assert loaded == 2
    assert landed(warehouse) == with_ds(DAY_1, date(2026, 3, 1))


def test_loading_the_same_ds_twice_leaves_its_rows_once(target, lake, warehouse, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    loaded = target.load_partition(lake, "sales", "orders", "2026-03-01")
    assert loaded == 2
    assert landed(warehouse) == with_ds(DAY_1, date(2026, 3, 1))


def test_loading_a_second_ds_adds_its_rows(target, lake, warehouse, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    publish_orders("2026-03-02", DAY_2)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    assert target.load_partition(lake, "sales", "orders", "2026-03-02") == 1
    assert landed(warehouse) == with_ds(DAY_1, date(2026, 3, 1)) + with_ds(DAY_2, date(2026, 3, 2))


def test_reloading_a_republished_ds_replaces_only_that_ds(target, lake, warehouse, publish_orders):
    publish_orders("2026-03-01", DAY_1)
    publish_orders("2026-03-02", DAY_2)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    target.load_partition(lake, "sales", "orders", "2026-03-02")

    rerun = [("1", Decimal("11.00"), date(2026, 3, 1))]
    publish_orders("2026-03-01", rerun)
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 1
    assert landed(warehouse) == with_ds(rerun, date(2026, 3, 1)) + with_ds(DAY_2, date(2026, 3, 2))


def test_an_unpublished_partition_raises_naming_it(target, lake, warehouse):
    with pytest.raises(FileNotFoundError, match=r"curated/sales/orders/ds=2026-03-03"):
        target.load_partition(lake, "sales", "orders", "2026-03-03")


def test_a_partition_whose_manifest_is_gone_is_not_loaded(
    target, lake, warehouse, tmp_path, publish_orders
):
    publish_orders("2026-03-01", DAY_1)
    target.load_partition(lake, "sales", "orders", "2026-03-01")
    folder = tmp_path / "lake" / "curated" / "sales" / "orders" / "ds=2026-03-01"
    (folder / "_manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"ds=2026-03-01 is not published"):
        target.load_partition(lake, "sales", "orders", "2026-03-01")
    assert landed(warehouse) == with_ds(DAY_1, date(2026, 3, 1))  # what was loaded stays


# Three marts stand for all of them here.
MARTS = ("fct_orders", "fct_ad_spend_daily", "mart_marketing_roi")


def create_marts(warehouse: Path, revenue: str = "10.50") -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_orders as select * from (values"
            f" ('1', 'k1', date '2026-03-01', 'placed', {revenue}::decimal(18,2)),"
            " ('2', 'k2', date '2026-03-01', 'shipped', 0.10::decimal(18,2)))"
            " as t(order_id, customer_key, order_date, status, net_revenue)"
        )
        con.execute(
            "create or replace table marts.fct_ad_spend_daily as select * from (values"
            " (date '2026-03-01', 'google_ads', '21000001', 57.11::decimal(18,2)))"
            " as t(spend_date, platform, campaign_id, spend)"
        )
        con.execute(
            "create or replace table marts.mart_marketing_roi as select * from (values"
            " (date '2026-03-01', 'direct', null, 'last_touch', 0::decimal(18,2)))"
            " as t(report_date, channel, campaign_id, attribution_model, spend)"
        )


def analytics(warehouse: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(f"select * from analytics.{table} order by all").fetchall()


def test_publish_analytics_copies_the_marts(target, warehouse):
    create_marts(warehouse)
    target.publish_analytics(MARTS)
    assert analytics(warehouse, "fct_orders") == [
        ("1", "k1", date(2026, 3, 1), "placed", Decimal("10.50")),
        ("2", "k2", date(2026, 3, 1), "shipped", Decimal("0.10")),
    ]
    assert analytics(warehouse, "fct_ad_spend_daily") == [
        (date(2026, 3, 1), "google_ads", "21000001", Decimal("57.11"))
    ]
    assert analytics(warehouse, "mart_marketing_roi") == [
        (date(2026, 3, 1), "direct", None, "last_touch", Decimal("0.00"))
    ]


def test_publishing_again_replaces_the_analytics_tables(target, warehouse):
    create_marts(warehouse)
    target.publish_analytics(MARTS)
    create_marts(warehouse, revenue="12.00")
    target.publish_analytics(MARTS)
    assert [row[4] for row in analytics(warehouse, "fct_orders")] == [
        Decimal("12.00"),
        Decimal("0.10"),
    ]


def test_a_failed_publish_leaves_analytics_as_it_was(target, warehouse):
    create_marts(warehouse)
    target.publish_analytics(MARTS)
    create_marts(warehouse, revenue="12.00")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table marts.mart_marketing_roi")
    with pytest.raises(duckdb.CatalogException, match="mart_marketing_roi"):
        target.publish_analytics(MARTS)
    # fct_orders was replaced inside the failed transaction: analysts still see the old one.
    assert [row[4] for row in analytics(warehouse, "fct_orders")] == [
        Decimal("10.50"),
        Decimal("0.10"),
    ]


def test_recording_shares_one_connection_and_closes_it_after(tmp_path):
    """A gate task's results go through one connection; a caller that fails mid-transaction
    leaves nothing behind, and the file is free once the task's span ends."""
    path = tmp_path / "warehouse.duckdb"
    target = DuckDBWarehouse(path)
    with target.recording():
        # Another object of the same file shares it too.
        with target.connect() as first, DuckDBWarehouse(path).connect(read_only=True) as second:
            assert first is second
            first.execute("create table results (n integer)")
        with pytest.raises(RuntimeError), target.connect() as con:
            con.begin()
            con.execute("insert into results values (1)")
            raise RuntimeError("a gate failed half-way")
        with target.connect() as con:
            con.begin()  # no transaction left open by the failed caller
            con.execute("insert into results values (2)")
            con.commit()
    # Closed: a connection of another configuration (read-only) may open the file now.
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select n from results").fetchall() == [(2,)]


def test_a_curated_file_rewritten_after_publishing_is_not_loaded(
    target, lake, warehouse, publish_orders, tmp_path
):
    publish_orders("2026-03-01", DAY_1)
    assert target.load_partition(lake, "sales", "orders", "2026-03-01") == 2
    part = tmp_path / "lake/curated/sales/orders/ds=2026-03-01/part-00000.parquet"
    # The same file with its last row gone, as a probe rewrote it: valid Parquet.
    pq.write_table(pq.read_table(part).slice(0, 1), part)
    with pytest.raises(PartitionCorrupt, match=r"ds=2026-03-01 does not match .*part-00000"):
        target.load_partition(lake, "sales", "orders", "2026-03-01")
    with duckdb.connect(str(warehouse), read_only=True) as con:  # the earlier load stays
        assert con.execute("select count(*) from landing.sales__orders").fetchone()[0] == 2


def test_a_load_that_counts_other_rows_than_the_manifest_is_rolled_back(
    target, lake, warehouse, publish_orders
):
    publish_orders("2026-03-02", DAY_2)
    target.load_partition(lake, "sales", "orders", "2026-03-02")
    # A writer that miscounted: the manifest says 3 rows of a file that holds 2.
    partition = Partition("curated", "sales", "orders", "2026-03-01")
    staged = f"{lake.staging_path(partition)}/part-0.parquet"
    lake.fs.makedirs(lake.staging_path(partition), exist_ok=True)
    rows = [dict(zip(SCHEMA.names, row, strict=True)) for row in DAY_1]
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buffer)
    lake.fs.pipe_file(staged, buffer.getvalue().to_pybytes())
    schema = {field.name: str(field.type) for field in SCHEMA}
    lake.publish(
        partition,
        [(staged, 3)],
        run_id="r",
        delivered=3,
        quarantined=0,
        schema=schema,
        producer="t",
    )
    with pytest.raises(PartitionCorrupt, match=r"the load into landing\.sales__orders read 2 rows"):
        target.load_partition(lake, "sales", "orders", "2026-03-01")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select ds::varchar, count(*) from landing.sales__orders group by ds"
        ).fetchall() == [("2026-03-02", 1)]
