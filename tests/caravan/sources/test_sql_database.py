"""The `sql_database` kind over a real database: the registry's `shop_db` entities read
from a SQLite file, and from PostgreSQL when CARAVAN_TEST_POSTGRES_URL names a server.

The shop tables are written by the simulator; expected rows come from its ground truth
(`World`), turned into records by hand below. Orders and their items are read by
`updated_at`: a day's partition holds the rows the shop changed that day (new orders, and
older ones delivered or refunded that day), as the database holds them when read. The
window's edges are checked on tables filled by hand.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from caravan.lake import Lake
from caravan.simulator.shop_db import customers_for, write_shop_db
from caravan.simulator.world import World
from caravan.sources import Delivered, SourceError, extract, sql_database
from caravan.sources.ingest import stage
from caravan.sources.registry import load_registry
from caravan.sources.window import Window

REPO = Path(__file__).resolve().parents[3]
SHOP = load_registry(REPO / "dags" / "sources.yaml")["shop_db"]

WORLD = World(seed=7)
DAYS = [date(2026, 3, 1), date(2026, 3, 2)]
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def new_database(request, tmp_path_factory) -> Iterator[Callable[[str], str]]:
    """Makes empty databases on the backend: a SQLite file, or a database on the
    PostgreSQL server (each dropped afterwards)."""
    if request.param == "sqlite":
        yield lambda label: f"sqlite:///{tmp_path_factory.mktemp(label) / 'shop.db'}"
        return
    base = os.environ.get("CARAVAN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("CARAVAN_TEST_POSTGRES_URL is not set (.ci/run sets it when a server answers)")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make(label: str) -> str:
        name = f"caravan_test_{label}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as con:
            con.execute(sa.text(f'create database "{name}"'))
        created.append(name)
        return sa.make_url(base).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as con:
            for name in created:
                con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="module")
def shop_url(new_database) -> str:
    """The shop database with both days written."""
    url = new_database("shop")
    write_shop_db(url, WORLD, DAYS)
    return url


def read(url: str, entity: str, ds: str, source=SHOP) -> list[Delivered]:
    spec = source.entities[entity]
    return list(sql_database.deliveries(source, spec, url, Window.for_run(source, spec, ds)))


def records(url: str, entity: str, ds: str, source=SHOP) -> list[dict]:
    delivered = read(url, entity, ds, source)
    assert [d.error for d in delivered] == [None] * len(delivered)
    return [d.record for d in delivered]


# --- expected records, from the World -------------------------------------------------------


def iso(moment: datetime) -> str:
    """How the raw zone keeps a stored timestamp: naive UTC, ISO 8601."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def order_record(order) -> dict:
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "status": order.status,
        "currency": order.currency,
        "discount_amount": f"{order.discount_amount:.2f}",
        "landing_site": order.landing_site,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }


def item_records(order) -> list[dict]:
    return [
        {
            "order_item_id": item.order_item_id,
            "order_id": order.order_id,
            "product_id": item.product_id,
            "quantity": item.quantity,
            "unit_price": f"{item.unit_price:.2f}",
            "created_at": iso(order.created_at),
            "updated_at": iso(order.updated_at),  # a line changes with its order
        }
        for item in order.items
    ]


def customer_record(customer) -> dict:
    return {
        "customer_id": customer.customer_id,
        "email": customer.email,  # as stored: untrimmed, case kept
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "region": customer.region,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.created_at),
    }


def product_record(product) -> dict:
    return {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "price": f"{product.price:.2f}",
        "created_at": iso(product.created_at),
        "updated_at": iso(product.created_at),
    }


def end_of(day: date) -> datetime:
    """The exclusive end of a day, as a UTC instant."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def days_from(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def held(written: list[date]) -> list:
    """Every order of the written days as the database holds them once `written` were
    written: the shop is then at the end of the latest of them, so each order carries the
    status and time of its last change before that (later deliveries and refunds have
    not happened yet). Worked out from the order's history, not from `write_shop_db`."""
    now = end_of(max(written))
    orders = []
    for day in written:
        for order in WORLD.orders_on(day):
            at, status = max((c for c in order.history if c[0] < now), key=lambda c: c[0])
            orders.append(replace(order, status=status, updated_at=at))
    return orders


def changed_on(ds: date, written: list[date]) -> list:
    """The orders a run of ds reads once `written` were written: those whose last change
    (the database's `updated_at`) falls on ds, in order id order."""
    changed = [o for o in held(written) if utc_day(o.updated_at) == ds]
    return sorted(changed, key=lambda o: o.order_id)


def changes_on(order, day: date) -> list[tuple[datetime, str]]:
    return [(at, status) for at, status in order.history if utc_day(at) == day]


def ids(rows: list[dict], key: str = "order_id") -> list[int]:
    return [row[key] for row in rows]


def customers_in_db(days: list[date]) -> list:
    """The customers `write_shop_db` stores for `days` (the days' new customers and every
    customer their orders reference)."""
    return customers_for(WORLD, days, [o for day in days for o in WORLD.orders_on(day)])


# --- data-interval entities: the rows the shop changed on the day ----------------------------


@pytest.mark.parametrize("day", DAYS)
def test_orders_of_ds_are_the_orders_the_shop_changed_that_day(shop_url, day):
    expected = [order_record(o) for o in changed_on(day, DAYS)]
    assert expected  # the day has orders, so the comparison means something
    assert records(shop_url, "orders", day.isoformat()) == expected


@pytest.mark.parametrize("day", DAYS)
def test_order_items_of_ds_are_the_items_of_the_orders_changed_that_day(shop_url, day):
    changed = changed_on(day, DAYS)
    expected = sorted(
        (row for o in changed for row in item_records(o)), key=lambda r: r["order_item_id"]
    )
    assert len(expected) > len(changed)  # some orders have several items
    assert records(shop_url, "order_items", day.isoformat()) == expected


def test_the_next_days_partition_holds_its_new_orders_and_the_first_days_delivered_then(
    shop_url,
):
    first, second = DAYS
    delivered_next_day = {
        o.order_id
        for o in WORLD.orders_on(first)
        if [status for _, status in changes_on(o, second)] == ["delivered"]
    }
    assert delivered_next_day  # the World has such orders, so the split means something
    on_first = set(ids(records(shop_url, "orders", first.isoformat())))
    on_second = set(ids(records(shop_url, "orders", second.isoformat())))
    assert on_first == {o.order_id for o in WORLD.orders_on(first)} - delivered_next_day
    assert on_second == {o.order_id for o in WORLD.orders_on(second)} | delivered_next_day


def test_an_order_delivered_after_its_day_is_read_on_the_delivery_day_as_delivered(shop_url):
    first, second = DAYS
    order = next(
        o for o in WORLD.orders_on(first) if "delivered" in dict(changes_on(o, second)).values()
    )
    [(delivered_at, _)] = changes_on(order, second)
    assert utc_day(order.created_at) == first

    assert order.order_id not in ids(records(shop_url, "orders", first.isoformat()))
    rows = {r["order_id"]: r for r in records(shop_url, "orders", second.isoformat())}
    assert rows[order.order_id] == order_record(
        replace(order, status="delivered", updated_at=delivered_at)
    )
    assert rows[order.order_id]["created_at"] < second.isoformat()  # still placed on its day

    items = [
        r
        for r in records(shop_url, "order_items", second.isoformat())
        if r["order_id"] == order.order_id
    ]
    assert ids(items, "order_item_id") == [i.order_item_id for i in order.items]
    assert {r["updated_at"] for r in items} == {iso(delivered_at)}
    assert order.order_id not in ids(records(shop_url, "order_items", first.isoformat()))


def test_days_outside_the_database_have_no_orders(shop_url):
    # The shop is at the end of the last written day: no change has happened after it yet.
    assert read(shop_url, "orders", "2026-02-28") == []
    assert read(shop_url, "orders", "2026-03-03") == []
    assert read(shop_url, "order_items", "2026-03-03") == []


def test_a_lookback_day_adds_the_previous_days_changes(shop_url):
    source = replace(SHOP, lookback_days=1)
    rows = records(shop_url, "orders", DAYS[1].isoformat(), source)
    expected = sorted((o for day in DAYS for o in changed_on(day, DAYS)), key=lambda o: o.order_id)
    assert rows == [order_record(o) for o in expected]
    # Every order the two days hold was last changed on one of them.
    assert ids(rows) == sorted(o.order_id for day in DAYS for o in WORLD.orders_on(day))


def test_origins_name_the_table_and_row(shop_url):
    delivered = read(shop_url, "orders", DAYS[0].isoformat())
    assert [d.origin for d in delivered] == [
        f"table orders row {n}" for n in range(1, len(delivered) + 1)
    ]


# Hand-made rows changed around the edges of 2026-03-01 (naive UTC, as the shop stores
# them), all created days before: only `updated_at` decides the day a row is read on.
CREATED = datetime(2026, 2, 20, 9, 30, 0)
EDGE_ROWS = {
    1: datetime(2026, 2, 28, 23, 59, 59, 999999),  # the last instant before the day
    2: datetime(2026, 3, 1, 0, 0, 0),  # exactly midnight: the day's first instant
    3: datetime(2026, 3, 1, 12, 0, 0),
    4: datetime(2026, 3, 1, 23, 59, 59, 999999),  # the day's last instant
    5: datetime(2026, 3, 2, 0, 0, 0),  # midnight after: the next day's
}


@pytest.fixture(scope="module")
def edge_url(new_database) -> str:
    url = new_database("edges")
    meta = sa.MetaData()
    orders = sa.Table(
        "orders",
        meta,
        sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    items = sa.Table(
        "order_items",
        meta,
        sa.Column("order_item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    engine = sa.create_engine(url)
    try:
        meta.create_all(engine)
        with engine.begin() as con:
            con.execute(
                orders.insert(),
                [
                    {"order_id": n, "status": "delivered", "created_at": CREATED, "updated_at": at}
                    for n, at in EDGE_ROWS.items()
                ],
            )
            con.execute(
                items.insert(),
                [
                    {
                        "order_item_id": 10 * n,
                        "order_id": n,
                        "created_at": CREATED,
                        "updated_at": at,
                    }
                    for n, at in EDGE_ROWS.items()
                ],
            )
    finally:
        engine.dispose()
    return url


@pytest.mark.parametrize(
    "ds, ids_",
    [
        ("2026-02-20", []),  # the day the rows were created: not the day they changed
        ("2026-02-28", [1]),
        ("2026-03-01", [2, 3, 4]),
        ("2026-03-02", [5]),
        ("2026-03-03", []),
    ],
)
def test_the_window_is_from_midnight_inclusive_to_the_next_midnight_exclusive(edge_url, ds, ids_):
    orders = records(edge_url, "orders", ds)
    assert orders == [
        {
            "order_id": n,
            "status": "delivered",
            "created_at": CREATED.isoformat(),
            "updated_at": EDGE_ROWS[n].isoformat(),
        }
        for n in ids_
    ]
    items = records(edge_url, "order_items", ds)
    assert ids(items, "order_item_id") == [10 * n for n in ids_]
    assert [row["updated_at"] for row in items] == [EDGE_ROWS[n].isoformat() for n in ids_]


def test_each_edge_row_is_read_on_exactly_one_day(edge_url):
    days = ["2026-02-20", "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03"]
    seen = [row["order_id"] for ds in days for row in records(edge_url, "orders", ds)]
    assert sorted(seen) == sorted(EDGE_ROWS)


# --- snapshots: the rows that existed by the end of ds ---------------------------------------


def test_customers_snapshot_holds_the_customers_created_by_the_end_of_ds(shop_url):
    first, second = DAYS
    stored = customers_in_db(DAYS)
    for day in DAYS:
        expected = [customer_record(c) for c in stored if c.created_at < end_of(day)]
        assert records(shop_url, "customers", day.isoformat()) == expected
    created_on_second = {c.customer_id for c in WORLD.customers_created_on(second)}
    assert created_on_second  # there is someone to exclude
    on_first = {row["customer_id"] for row in records(shop_url, "customers", first.isoformat())}
    assert created_on_second.isdisjoint(on_first)
    assert {c.customer_id for c in WORLD.customers_created_on(first)} <= on_first


def test_customers_snapshot_holds_every_customer_the_days_orders_reference(shop_url):
    rows = {r["customer_id"]: r for r in records(shop_url, "customers", DAYS[1].isoformat())}
    for customer_id in {o.customer_id for day in DAYS for o in WORLD.orders_on(day)}:
        assert rows[customer_id] == customer_record(WORLD.customer(customer_id))


def test_products_snapshot_is_the_catalogue_with_exact_prices(shop_url):
    rows = records(shop_url, "products", DAYS[0].isoformat())
    assert rows == [product_record(p) for p in WORLD.products()]
    prices = {row["sku"]: row["price"] for row in rows}
    # Prices a float would mangle or shorten: 24.99, 34.95, 7.99, 19.50.
    assert {prices["AC-004"], prices["AC-005"], prices["AC-006"], prices["AC-003"]} == {
        "24.99",
        "34.95",
        "7.99",
        "19.50",
    }


def test_the_catalogue_did_not_exist_before_it_was_created(shop_url):
    assert read(shop_url, "products", "2019-12-31") == []


def test_rerunning_an_earlier_day_after_later_days_were_written_reads_it_as_the_shop_holds_it_now(
    new_database,
):
    first, second = DAYS
    url = new_database("rerun")
    write_shop_db(url, WORLD, [first])
    customers_before = records(url, "customers", first.isoformat())
    products_before = records(url, "products", first.isoformat())
    orders_before = records(url, "orders", first.isoformat())
    items_before = records(url, "order_items", first.isoformat())
    # At the end of its own day, every order of the day was last changed that day.
    assert orders_before == [order_record(o) for o in changed_on(first, [first])]
    assert ids(orders_before) == sorted(o.order_id for o in WORLD.orders_on(first))

    write_shop_db(url, WORLD, [second])  # the next day's run of the shop
    customers_after = records(url, "customers", first.isoformat())
    orders_after = records(url, "orders", first.isoformat())
    items_after = records(url, "order_items", first.isoformat())

    # An `updated_at` window reads the rows whose last change fell on ds, as the database
    # holds them when read, and the shop is now at the end of the second day. The orders
    # of the first day delivered on the second have left the first day's partition: they
    # are read by the second day's run, with their new status. So the rerun reads no later
    # row (no second-day order), the rows it reads are as the first run read them, but it
    # reads fewer of them than the first run did. Re-reading an old day of a table kept by
    # `updated_at` cannot give back what that day read; what changed is in a later day.
    assert orders_after == [order_record(o) for o in changed_on(first, DAYS)]
    moved = {o.order_id for o in WORLD.orders_on(first) if changes_on(o, second)}
    assert moved  # the World has such orders, so the difference means something
    assert orders_after == [r for r in orders_before if r["order_id"] not in moved]
    assert items_after == [r for r in items_before if r["order_id"] not in moved]
    on_second = {r["order_id"]: r for r in records(url, "orders", second.isoformat())}
    assert moved <= set(on_second)
    assert {on_second[order_id]["status"] for order_id in moved} == {"delivered"}

    # The snapshots are as-of `created_at`, which no change touches.
    assert records(url, "products", first.isoformat()) == products_before
    assert [c for c in customers_after if c in customers_before] == customers_before
    # Nobody created on the second day; the only newcomers are older customers whom the
    # second day's orders brought into the table (an as-of snapshot cannot tell them apart).
    new_ids = {c["customer_id"] for c in customers_after} - {
        c["customer_id"] for c in customers_before
    }
    brought_in = {
        o.customer_id
        for o in WORLD.orders_on(second)
        if WORLD.customer(o.customer_id).created_at < end_of(first)
    } - {c["customer_id"] for c in customers_before}
    assert new_ids == brought_in
    assert customers_after == [
        customer_record(c) for c in customers_in_db(DAYS) if c.created_at < end_of(first)
    ]


def test_a_refund_days_later_moves_the_order_to_the_refund_days_partition(new_database, tmp_path):
    first = DAYS[0]
    order = min(
        (o for o in WORLD.orders_on(first) if o.history[-1][1] == "refunded"),
        key=lambda o: o.history[-1][0],
    )
    (delivered_at, delivered), (refunded_at, refunded) = order.history[-2:]
    assert (delivered, refunded) == ("delivered", "refunded")
    delivery_day, refund_day = utc_day(delivered_at), utc_day(refunded_at)
    assert first < delivery_day < refund_day

    url = new_database("refund")
    for day in days_from(first, refund_day):  # the shop's daily runs
        write_shop_db(url, WORLD, [day])
        if day == delivery_day:
            on_delivery = records(url, "orders", day.isoformat())
            assert on_delivery == [order_record(o) for o in changed_on(day, days_from(first, day))]
    rows = {r["order_id"]: r for r in on_delivery}
    assert rows[order.order_id]["status"] == "delivered"
    assert rows[order.order_id]["updated_at"] == iso(delivered_at)

    written = days_from(first, refund_day)
    on_refund = records(url, "orders", refund_day.isoformat())
    assert on_refund == [order_record(o) for o in changed_on(refund_day, written)]
    row = next(r for r in on_refund if r["order_id"] == order.order_id)
    assert row == order_record(order)  # its final state
    assert (row["status"], row["updated_at"]) == ("refunded", iso(refunded_at))
    for day in (first, delivery_day):  # no earlier partition holds it any more
        assert order.order_id not in ids(records(url, "orders", day.isoformat()))
    items = records(url, "order_items", refund_day.isoformat())
    assert [r for r in items if r["order_id"] == order.order_id] == item_records(order)

    # The registry's checks accept the new status.
    lake = Lake(f"file://{tmp_path / 'lake'}")
    delivered_rows = read(url, "orders", refund_day.isoformat())
    staged = stage(lake, "shop_db", SHOP.entities["orders"], refund_day.isoformat(), delivered_rows)
    assert (staged.rows, staged.quarantined) == (len(on_refund), 0), staged.examples


# --- values as the raw zone keeps them --------------------------------------------------------


@pytest.mark.parametrize(
    "entity, field", [("orders", "discount_amount"), ("order_items", "unit_price")]
)
def test_money_comes_as_exact_decimal_strings(shop_url, entity, field):
    values = [row[field] for day in DAYS for row in records(shop_url, entity, day.isoformat())]
    assert values
    assert all(isinstance(v, str) and MONEY.match(v) for v in values), values
    if field == "discount_amount":
        assert any(v != "0.00" for v in values)  # some orders have a discount


@pytest.mark.parametrize("entity", ["orders", "order_items", "customers"])
def test_timestamps_come_as_naive_iso_strings(shop_url, entity):
    rows = [row for day in DAYS for row in records(shop_url, entity, day.isoformat())]
    assert rows
    for row in rows:
        for field in ("created_at", "updated_at"):
            parsed = datetime.fromisoformat(row[field])
            assert parsed.tzinfo is None
            assert row[field] == parsed.isoformat()
        assert row["updated_at"] >= row["created_at"]


def test_every_shop_record_passes_the_registrys_checks(shop_url, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    for day in DAYS:
        for entity in SHOP.entities:
            delivered = read(shop_url, entity, day.isoformat())
            staged = stage(lake, "shop_db", SHOP.entities[entity], day.isoformat(), delivered)
            assert staged.quarantined == 0, (entity, day, staged.examples)
            assert staged.rows == len(delivered) > 0


def test_reading_leaves_the_sqlite_file_unchanged(tmp_path):
    path = tmp_path / "shop.db"
    write_shop_db(f"sqlite:///{path}", WORLD, DAYS)
    before = path.read_bytes()
    for entity in SHOP.entities:
        read(f"sqlite:///{path}", entity, DAYS[0].isoformat())
    assert path.read_bytes() == before
    with sqlite3.connect(path) as con:
        [(count,)] = con.execute("select count(*) from orders").fetchall()
    assert count == sum(len(WORLD.orders_on(day)) for day in DAYS)


# --- errors ----------------------------------------------------------------------------------

MISSING_TABLE_REGISTRY = """\
shop:
  kind: sql_database
  conn_id: shop_default
  entities:
    orders:
      table: shop_orders
      primary_key: order_id
      incremental_field: updated_at
      types: {updated_at: timestamp}
"""


def test_a_missing_table_raises_a_source_error_naming_it_without_the_password(
    new_database, tmp_path
):
    path = tmp_path / "sources.yaml"
    path.write_text(MISSING_TABLE_REGISTRY)
    source = load_registry(path)["shop"]
    url = sa.make_url(new_database("missing"))
    password = url.password or "s3cret-pw"  # trust authentication ignores a password
    url = url.set(password=password) if url.drivername.startswith("postgresql") else url
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            con.execute(sa.text("create table orders (order_id integer primary key)"))
    finally:
        engine.dispose()

    with pytest.raises(SourceError) as raised:
        read(url.render_as_string(hide_password=False), "orders", "2026-03-01", source)

    message = str(raised.value)
    assert "shop/orders" in message
    assert "shop_orders" in message
    assert password not in message


# --- connections -----------------------------------------------------------------------------


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
    assert sql_database.url_from_connection(conn) == (
        "postgresql+psycopg://reader:s3cret@db.internal:5432/shop"
    )


def test_a_postgresql_uri_also_gets_the_psycopg_driver():
    from airflow.sdk import Connection

    conn = Connection.from_uri("postgresql://reader:s3cret@db.internal:5432/shop", conn_id="shop")
    assert sql_database.url_from_connection(conn) == (
        "postgresql+psycopg://reader:s3cret@db.internal:5432/shop"
    )


def test_an_explicit_sqlalchemy_url_wins():
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="shop",
        conn_type="postgres",
        host="db.internal",
        login="reader",
        password="s3cret",
        extra='{"sqlalchemy_url": "sqlite:////tmp/shop.db"}',
    )
    assert sql_database.url_from_connection(conn) == "sqlite:////tmp/shop.db"


def test_an_airflow_sqlite_connection_gives_a_file_url():
    from airflow.sdk import Connection

    conn = Connection(conn_id="shop", conn_type="sqlite", host="/tmp/shop.db")
    assert sql_database.url_from_connection(conn) == "sqlite:////tmp/shop.db"


def test_extract_reads_the_shop_through_its_connection(shop_url):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="shop_db_default",
        conn_type="generic",
        extra=json.dumps({"sqlalchemy_url": shop_url}),
    )
    day = DAYS[0]
    delivered = list(extract.deliveries(SHOP, SHOP.entities["orders"], conn, day.isoformat()))
    assert [d.record for d in delivered] == [order_record(o) for o in changed_on(day, DAYS)]
