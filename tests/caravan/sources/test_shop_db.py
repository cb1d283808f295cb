"""Shop DB extraction over a real database written by the simulator for two days:
a SQLite file, and PostgreSQL when CARAVAN_TEST_POSTGRES_URL names a server.

Expected ids and values come from the simulator's ground truth (`World`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from caravan.simulator.shop_db import write_shop_db
from caravan.simulator.world import World
from caravan.sources.shop_db import extract, url_from_connection

WORLD = World(seed=7)
DAYS = [date(2026, 3, 1), date(2026, 3, 2)]
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(scope="module")
def sqlite_shop_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.db'}"
    write_shop_db(url, WORLD, DAYS)
    return url


@pytest.fixture(scope="module")
def postgres_shop_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    base = os.environ.get("CARAVAN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("CARAVAN_TEST_POSTGRES_URL is not set (.ci/run sets it when a server answers)")
    name = f"caravan_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'create database "{name}"'))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        write_shop_db(url, WORLD, DAYS)
        yield url
    finally:
        sa.create_engine(url).dispose()
        with admin.connect() as con:
            con.execute(sa.text(f'drop database "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shop_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_shop_url")


def orders(url: str, ds: str) -> list[dict]:
    return list(extract(url, "orders", ds, incremental_field="created_at"))


def items(url: str, ds: str) -> list[dict]:
    return list(extract(url, "order_items", ds, incremental_field="created_at"))


@pytest.mark.parametrize("day", DAYS)
def test_orders_for_ds_are_the_worlds_orders_on_that_day(shop_url, day):
    rows = orders(shop_url, day.isoformat())
    expected = [order.order_id for order in WORLD.orders_on(day)]
    assert expected  # the day has orders, so the comparison means something
    assert [row["order_id"] for row in rows] == sorted(expected)


@pytest.mark.parametrize("day", DAYS)
def test_order_items_for_ds_are_the_items_of_that_days_orders(shop_url, day):
    rows = items(shop_url, day.isoformat())
    expected = {
        item.order_item_id: (item.order_id, item.product_id, item.quantity)
        for order in WORLD.orders_on(day)
        for item in order.items
    }
    assert len(rows) == len(expected)
    assert {
        row["order_item_id"]: (row["order_id"], row["product_id"], row["quantity"]) for row in rows
    } == expected


def test_a_day_outside_the_database_has_no_orders(shop_url):
    assert orders(shop_url, "2026-03-03") == []
    assert orders(shop_url, "2026-02-28") == []


def test_a_lookback_day_adds_the_previous_days_orders(shop_url):
    rows = list(
        extract(shop_url, "orders", "2026-03-02", incremental_field="created_at", lookback_days=1)
    )
    expected = [order.order_id for day in DAYS for order in WORLD.orders_on(day)]
    assert [row["order_id"] for row in rows] == sorted(expected)


def test_customers_snapshot_holds_every_customer_the_orders_reference(shop_url):
    customers = {
        row["customer_id"]: row
        for row in extract(shop_url, "customers", "2026-03-02", incremental_field=None)
    }
    referenced = {order.customer_id for day in DAYS for order in WORLD.orders_on(day)}
    assert referenced <= set(customers)
    for customer_id in referenced:
        truth = WORLD.customer(customer_id)
        row = customers[customer_id]
        assert row["email"] == truth.email  # as stored, untrimmed, case kept
        assert row["region"] == truth.region
        assert (
            row["created_at"] == truth.created_at.astimezone(UTC).replace(tzinfo=None).isoformat()
        )


def test_customers_snapshot_excludes_customers_created_after_ds(shop_url):
    rows = list(extract(shop_url, "customers", "2026-03-01", incremental_field=None))
    created_on_second = {c.customer_id for c in WORLD.customers_created_on(date(2026, 3, 2))}
    assert created_on_second  # there is someone to exclude
    assert created_on_second.isdisjoint(row["customer_id"] for row in rows)
    created_on_first = {c.customer_id for c in WORLD.customers_created_on(date(2026, 3, 1))}
    assert created_on_first <= {row["customer_id"] for row in rows}


@pytest.mark.parametrize("day", DAYS)
def test_order_money_comes_out_as_exact_decimal_strings(shop_url, day):
    truth = {order.order_id: order for order in WORLD.orders_on(day)}
    for row in orders(shop_url, day.isoformat()):
        assert isinstance(row["discount_amount"], str)
        assert MONEY.match(row["discount_amount"]), row["discount_amount"]
        assert Decimal(row["discount_amount"]) == truth[row["order_id"]].discount_amount
    assert any(order.discount_amount > 0 for order in truth.values())


@pytest.mark.parametrize("day", DAYS)
def test_item_prices_come_out_as_exact_decimal_strings(shop_url, day):
    truth = {item.order_item_id: item for order in WORLD.orders_on(day) for item in order.items}
    for row in items(shop_url, day.isoformat()):
        assert isinstance(row["unit_price"], str)
        assert MONEY.match(row["unit_price"]), row["unit_price"]
        assert Decimal(row["unit_price"]) == truth[row["order_item_id"]].unit_price


def test_product_prices_with_cents_survive_exactly(shop_url):
    rows = {
        row["sku"]: row["price"]
        for row in extract(shop_url, "products", "2026-03-02", incremental_field=None)
    }
    assert rows == {product.sku: str(product.price) for product in WORLD.products()}
    # The catalogue has prices a float would mangle in arithmetic: 24.99, 34.95, 7.99, 19.50.
    assert {rows["AC-004"], rows["AC-005"], rows["AC-006"], rows["AC-003"]} == {
        "24.99",
        "34.95",
        "7.99",
        "19.50",
    }


def test_order_fields_match_the_world(shop_url):
    day = DAYS[0]
    truth = {order.order_id: order for order in WORLD.orders_on(day)}
    for row in orders(shop_url, day.isoformat()):
        order = truth[row["order_id"]]
        assert row["customer_id"] == order.customer_id
        assert row["status"] == order.status
        assert row["landing_site"] == order.landing_site
        assert (
            row["created_at"] == order.created_at.astimezone(UTC).replace(tzinfo=None).isoformat()
        )


def test_extract_reads_the_file_and_leaves_it_unchanged(sqlite_shop_url):
    path = Path(sqlite_shop_url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    orders(sqlite_shop_url, DAYS[0].isoformat())
    assert path.read_bytes() == before
    with sqlite3.connect(path) as con:
        [(count,)] = con.execute("select count(*) from orders").fetchall()
    assert count == sum(len(WORLD.orders_on(day)) for day in DAYS)


def test_a_postgres_airflow_connection_gives_a_psycopg_url():
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="shop",
        conn_type="postgres",
        host="db.internal",
        login="reader",
        password="s3cret",
        port=5432,
        schema="shop",
    )
    assert url_from_connection(conn) == "postgresql+psycopg://reader:s3cret@db.internal:5432/shop"


def test_an_explicit_sqlalchemy_url_wins():
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="shop", conn_type="generic", extra='{"sqlalchemy_url": "sqlite:////tmp/shop.db"}'
    )
    assert url_from_connection(conn) == "sqlite:////tmp/shop.db"
