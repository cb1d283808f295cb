"""The shop's OLTP database, written from the World with SQLAlchemy Core.

Core only (no ORM, no dialect-specific upserts) so the same code fills the
default SQLite file and a PostgreSQL database. Timestamps are stored as naive
UTC, as most shop databases do; `is_first_order` is not stored because a real
shop database does not have it: the pipeline has to derive it. Nor are a review's
labels (sentiment, topics, language): they are the simulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    delete,
    inspect,
    select,
)

from caravan.simulator.text import Review
from caravan.simulator.world import Customer, Order, Product, World, end_of_day

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(255), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sku", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("category", String(64), nullable=False),
    Column("price", Numeric(10, 2), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("discount_amount", Numeric(10, 2), nullable=False),
    Column("landing_site", String(2048), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, nullable=False, index=True),
    Column("product_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(10, 2), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # A delivery or a refund touches the order's lines too, as shop platforms do.
    Column("updated_at", DateTime, nullable=False),
)

# Customers' reviews of products of their delivered orders. A review may be about an order
# placed before the first day this database holds (it is written 2..10 days after it).
reviews = Table(
    "reviews",
    metadata,
    Column("review_id", BigInteger, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, nullable=False, index=True),
    Column("product_id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("title", String(255), nullable=False),
    Column("body", String(4000), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
)

# Stays well under SQLite's limit on bound parameters per statement.
_CHUNK = 500


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def customer_row(customer: Customer) -> dict[str, Any]:
    created_at = naive_utc(customer.created_at)
    return {
        "customer_id": customer.customer_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "region": customer.region,
        "created_at": created_at,
        "updated_at": created_at,
    }


def product_row(product: Product) -> dict[str, Any]:
    created_at = naive_utc(product.created_at)
    return {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "price": product.price,
        "created_at": created_at,
        "updated_at": created_at,
    }


def order_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "status": order.status,
        "currency": order.currency,
        "discount_amount": order.discount_amount,
        "landing_site": order.landing_site,
        "created_at": naive_utc(order.created_at),
        "updated_at": naive_utc(order.updated_at),
    }


def order_item_rows(order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_item_id": item.order_item_id,
            "order_id": item.order_id,
            "product_id": item.product_id,
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            "created_at": naive_utc(order.created_at),
            "updated_at": naive_utc(order.updated_at),
        }
        for item in order.items
    ]


def review_row(review: Review) -> dict[str, Any]:
    return {
        "review_id": review.review_id,
        "order_id": review.order_id,
        "product_id": review.product_id,
        "customer_id": review.customer_id,
        "rating": review.rating,
        "title": review.title,
        "body": review.body,
        "created_at": naive_utc(review.created_at),
        "updated_at": naive_utc(review.updated_at),
    }


def _replace_reviews(connection: Connection, world: World, days: Iterable[date]) -> None:
    """Delete the reviews written on `days`, then insert the World's reviews of those days."""
    rows = []
    for day in days:
        start, end = _day_bounds(day)
        connection.execute(
            delete(reviews).where(reviews.c.created_at >= start, reviews.c.created_at < end)
        )
        rows += [review_row(review) for review in world.reviews_on(day)]
    if rows:
        connection.execute(reviews.insert(), rows)


def customers_for(
    world: World, days: Iterable[date], day_orders: Iterable[Order]
) -> list[Customer]:
    """The customers created on `days` plus every customer the orders reference."""
    by_id = {c.customer_id: c for day in days for c in world.customers_created_on(day)}
    for order in day_orders:
        if order.customer_id not in by_id:
            by_id[order.customer_id] = world.customer(order.customer_id)
    return [by_id[customer_id] for customer_id in sorted(by_id)]


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time())
    return start, start + timedelta(days=1)


def _replace_days(connection: Connection, days: Iterable[date], day_orders: list[Order]) -> None:
    """Delete whatever the days held (orders and their items), then insert the days' orders."""
    for day in days:
        start, end = _day_bounds(day)
        day_order_ids = select(orders.c.order_id).where(
            orders.c.created_at >= start, orders.c.created_at < end
        )
        connection.execute(delete(order_items).where(order_items.c.order_id.in_(day_order_ids)))
        connection.execute(
            delete(orders).where(orders.c.created_at >= start, orders.c.created_at < end)
        )
    if day_orders:
        connection.execute(orders.insert(), [order_row(order) for order in day_orders])
        connection.execute(
            order_items.insert(), [row for order in day_orders for row in order_item_rows(order)]
        )


def _replace_by_key(
    connection: Connection, table: Table, key: str, rows: list[dict[str, Any]]
) -> None:
    for chunk in _chunks([row[key] for row in rows]):
        connection.execute(delete(table).where(table.c[key].in_(chunk)))
    if rows:
        connection.execute(table.insert(), rows)


def write_shop_db(url: str, world: World, days: list[date]) -> None:
    """Write the days' orders, the customers they need, the catalogue and the days'
    reviews, idempotently.

    The database is the shop's now: the end of the latest day it holds (these days
    and any written before). Every order is written as it stands then, so an order
    delivered or refunded since shows that, however the days were written. One
    transaction: delete what the days (and those customer and product ids) held, then
    insert, so rewriting leaves identical tables.
    """
    engine = create_engine(url)
    try:
        _recreate_if_outdated(engine)
        with engine.begin() as connection:
            all_days = sorted(set(days) | _order_days(connection))
            now = end_of_day(max(all_days)) if all_days else None
            day_orders = [o.as_of(now) for day in all_days for o in world.orders_on(day)]
            _replace_by_key(
                connection, products, "product_id", [product_row(p) for p in world.products()]
            )
            _replace_by_key(
                connection,
                customers,
                "customer_id",
                [customer_row(c) for c in customers_for(world, all_days, day_orders)],
            )
            _replace_days(connection, all_days, day_orders)
            _replace_reviews(connection, world, all_days)
    finally:
        engine.dispose()


def _order_days(connection: Connection) -> set[date]:
    """The days whose orders the database already holds."""
    return {at.date() for (at,) in connection.execute(select(orders.c.created_at))}


def _recreate_if_outdated(engine) -> None:
    """The simulator's database is derived data: one written by an older simulator (other
    columns) is dropped and made again rather than migrated."""
    existing = inspect(engine)
    outdated = any(
        existing.has_table(table.name)
        and {c["name"] for c in existing.get_columns(table.name)} != set(table.columns.keys())
        for table in metadata.sorted_tables
    )
    if outdated:
        metadata.drop_all(engine)
    metadata.create_all(engine)
