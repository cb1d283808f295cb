"""The shop database, written to a real SQLite file and read back with plain sqlite3."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from caravan.simulator.shop_db import write_shop_db
from caravan.simulator.world import World

DAY = date(2026, 11, 1)
DAYS = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
TABLES = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "order_item_id",
}


def _dump(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"select * from {table} order by {key}").fetchall()
            for table, key in TABLES.items()
        }


def _query(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def test_writes_the_days_orders_and_everything_they_reference(tmp_path):
    path = tmp_path / "shop.db"
    world = World()
    write_shop_db(f"sqlite:///{path}", world, DAYS)

    expected_orders = sum(len(world.orders_on(day)) for day in DAYS)
    assert _query(path, "select count(*) from orders") == [(expected_orders,)]
    assert _query(path, "select count(*) from products") == [(24,)]
    assert _query(path, "select min(created_at) >= '2026-11-01' from orders") == [(1,)]
    assert _query(path, "select max(created_at) < '2026-11-04' from orders") == [(1,)]
    orphans = """
        select count(*) from orders left join customers using (customer_id)
        where customers.customer_id is null or customers.created_at > orders.created_at
    """
    assert _query(path, orphans) == [(0,)]
    orphan_items = """
        select count(*) from order_items
        left join orders using (order_id) left join products using (product_id)
        where orders.order_id is null or products.product_id is null
    """
    assert _query(path, orphan_items) == [(0,)]
    new_customers = sum(len(world.customers_created_on(day)) for day in DAYS)
    created_on_days = "select count(*) from customers where created_at >= '2026-11-01'"
    assert _query(path, created_on_days) == [(new_customers,)]


def test_stores_naive_utc_timestamps_and_no_first_order_flag(tmp_path):
    path = tmp_path / "shop.db"
    write_shop_db(f"sqlite:///{path}", World(), [DAY])
    columns = [row[1] for row in _query(path, "pragma table_info(orders)")]
    assert columns == [
        "order_id",
        "customer_id",
        "status",
        "currency",
        "discount_amount",
        "landing_site",
        "created_at",
        "updated_at",
    ]
    first = World().orders_on(DAY)[0]
    stored = _query(path, f"select created_at from orders where order_id = {first.order_id}")
    assert stored == [(first.created_at.strftime("%Y-%m-%d %H:%M:%S.%f"),)]


def test_net_revenue_in_the_database_matches_the_ground_truth(tmp_path):
    path = tmp_path / "shop.db"
    write_shop_db(f"sqlite:///{path}", World(), DAYS)
    [(cents,)] = _query(
        path,
        """
        select sum(round(item_total * 100) - round(discount_amount * 100))
        from orders
        join (
            select order_id, sum(quantity * unit_price) as item_total
            from order_items group by order_id
        ) using (order_id)
        where status in ('placed', 'shipped', 'delivered')
        """,
    )
    assert Decimal(int(cents)) / 100 == World().ground_truth(DAYS).net_revenue


def test_writing_the_same_days_twice_leaves_identical_tables(tmp_path):
    path = tmp_path / "shop.db"
    write_shop_db(f"sqlite:///{path}", World(), DAYS)
    once = _dump(path)
    write_shop_db(f"sqlite:///{path}", World(), DAYS)
    assert _dump(path) == once
    assert all(once.values())


def test_overlapping_writes_equal_one_write_of_the_union(tmp_path):
    union, pieces = tmp_path / "union.db", tmp_path / "pieces.db"
    write_shop_db(f"sqlite:///{union}", World(), DAYS)
    write_shop_db(f"sqlite:///{pieces}", World(), DAYS[:2])
    write_shop_db(f"sqlite:///{pieces}", World(), DAYS[1:])
    assert _dump(pieces) == _dump(union)
