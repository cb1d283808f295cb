"""curate_orders' pure transform on hand-made frames; expected rows worked out by hand."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from spark_jobs.curate_orders import (
    CUSTOMERS_SCHEMA,
    ORDER_ITEMS_SCHEMA,
    ORDERS_SCHEMA,
    transform_orders,
)

CURATED_SCHEMA = (
    "order_id STRING, customer_id STRING, customer_key STRING, region STRING, "
    "customer_created_at TIMESTAMP_NTZ, placed_at TIMESTAMP_NTZ, order_date DATE, "
    "status STRING, updated_at TIMESTAMP_NTZ, currency STRING, gross_revenue DECIMAL(18,2), "
    "discount_amount DECIMAL(18,2), net_revenue DECIMAL(18,2), units BIGINT, "
    "landing_site STRING, utm_source STRING, utm_medium STRING, utm_campaign STRING"
)

PAID = "/products/FW-001?utm_source=google&utm_medium=cpc&utm_campaign=21000001"
EMAIL = "/collections/apparel?utm_medium=email&utm_source=newsletter#top"
EMPTY_SOURCE = "/?utm_source=&utm_medium=cpc"


def key(email: str) -> str:
    """The expected customer key: sha256 of the trimmed lower-case email, 16 hex chars."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


ANN = key("ann@x.com")
BOB = key("bob@y.org")


@pytest.fixture(scope="module")
def frames(spark):
    orders = spark.createDataFrame(
        [
            # 1: two lines, 2 × 129.00 + 1 × 45.00 = 303.00 gross, 5.00 off → 298.00 net;
            # delivered two days after it was placed: its order date stays the 1st
            (1, 10, "delivered", "USD", "5.00", PAID, "2026-03-01T10:15:00", "2026-03-03T12:00:00"),
            # 2: no items at all → gross 0.00, net 0.00 − 0.00
            (2, 20, "placed", "USD", "0.00", "/", "2026-03-01T23:59:59", "2026-03-01T23:59:59"),
            # 3: 3 × 19.50 + 1 × 7.99 = 66.49 gross, 1.99 off → 64.50 net
            (3, 10, "shipped", "USD", "1.99", EMAIL, "2026-03-01T00:00:00", "2026-03-01T08:00:00"),
            # 4: a customer missing from the snapshot; 1 × 0.10 three times = 0.30 gross
            (
                4,
                40,
                "cancelled",
                "USD",
                "0.00",
                EMPTY_SOURCE,
                "2026-03-01T07:30:00.250000",
                "2026-03-01T09:00:00",
            ),
            # 5: Bob, 1 × 24.99, 2.50 off → 22.49 net
            (5, 30, "placed", "USD", "2.50", "/", "2026-03-01T12:00:00", "2026-03-01T12:00:00"),
        ],
        ORDERS_SCHEMA,
    )
    items = spark.createDataFrame(
        [
            (11, 1, 1001, 2, "129.00", "2026-03-01T10:15:00"),
            (12, 1, 1009, 1, "45.00", "2026-03-01T10:15:00"),
            (31, 3, 1019, 3, "19.50", "2026-03-01T00:00:00"),
            (32, 3, 1022, 1, "7.99", "2026-03-01T00:00:00"),
            (41, 4, 1022, 1, "0.10", "2026-03-01T07:30:00"),
            (42, 4, 1023, 1, "0.10", "2026-03-01T07:30:00"),
            (43, 4, 1024, 1, "0.10", "2026-03-01T07:30:00"),
            (51, 5, 1020, 1, "24.99", "2026-03-01T12:00:00"),
        ],
        ORDER_ITEMS_SCHEMA,
    )
    customers = spark.createDataFrame(
        [
            (10, " Ann@X.com ", "UK", "2026-02-01T08:00:00"),
            (20, "ann@x.com", "US-West", "2026-03-01T09:00:00"),
            (30, "BOB@Y.ORG", "CA", "2026-01-15T00:00:00"),
            (99, "nobody@z.net", "CA", "2026-01-01T00:00:00"),  # no orders: not in the output
        ],
        CUSTOMERS_SCHEMA,
    )
    return orders, items, customers


def test_orders_with_money_units_keys_and_utm_worked_out(spark, frames):
    day = date(2026, 3, 1)
    expected = spark.createDataFrame(
        [
            (
                "1",
                "10",
                ANN,
                "UK",
                datetime(2026, 2, 1, 8),
                datetime(2026, 3, 1, 10, 15),
                day,
                "delivered",
                datetime(2026, 3, 3, 12),
                "USD",
                Decimal("303.00"),
                Decimal("5.00"),
                Decimal("298.00"),
                3,
                PAID,
                "google",
                "cpc",
                "21000001",
            ),
            (
                "2",
                "20",
                ANN,
                "US-West",
                datetime(2026, 3, 1, 9),
                datetime(2026, 3, 1, 23, 59, 59),
                day,
                "placed",
                datetime(2026, 3, 1, 23, 59, 59),
                "USD",
                Decimal("0.00"),
                Decimal("0.00"),
                Decimal("0.00"),
                0,
                "/",
                None,
                None,
                None,
            ),
            (
                "3",
                "10",
                ANN,
                "UK",
                datetime(2026, 2, 1, 8),
                datetime(2026, 3, 1),
                day,
                "shipped",
                datetime(2026, 3, 1, 8),
                "USD",
                Decimal("66.49"),
                Decimal("1.99"),
                Decimal("64.50"),
                4,
                EMAIL,
                "newsletter",
                "email",
                None,
            ),
            (
                "4",
                "40",
                None,
                None,
                None,
                datetime(2026, 3, 1, 7, 30, 0, 250000),
                day,
                "cancelled",
                datetime(2026, 3, 1, 9),
                "USD",
                Decimal("0.30"),
                Decimal("0.00"),
                Decimal("0.30"),
                3,
                EMPTY_SOURCE,
                None,
                "cpc",
                None,
            ),
            (
                "5",
                "30",
                BOB,
                "CA",
                datetime(2026, 1, 15),
                datetime(2026, 3, 1, 12),
                day,
                "placed",
                datetime(2026, 3, 1, 12),
                "USD",
                Decimal("24.99"),
                Decimal("2.50"),
                Decimal("22.49"),
                1,
                "/",
                None,
                None,
                None,
            ),
        ],
        CURATED_SCHEMA,
    )
    assertDataFrameEqual(transform_orders(*frames), expected)


def test_customer_key_is_the_same_for_the_same_email_however_it_was_typed(frames):
    rows = {row["order_id"]: row for row in transform_orders(*frames).collect()}
    # " Ann@X.com " (customer 10) and "ann@x.com" (customer 20): one person, one key.
    assert rows["1"]["customer_key"] == rows["2"]["customer_key"] == ANN
    assert ANN == hashlib.sha256(b"ann@x.com").hexdigest()[:16]
    assert rows["5"]["customer_key"] == BOB != ANN


def test_placed_at_is_a_timestamp_without_time_zone_and_money_is_decimal(frames):
    types = dict(transform_orders(*frames).dtypes)
    assert types["placed_at"] == "timestamp_ntz"
    assert types["customer_created_at"] == "timestamp_ntz"
    assert types["order_date"] == "date"
    for column in ("gross_revenue", "discount_amount", "net_revenue"):
        assert types[column] == "decimal(18,2)"


def test_an_order_without_items_has_zero_gross_and_units(frames):
    [row] = transform_orders(*frames).where("order_id = '2'").collect()
    assert (row["gross_revenue"], row["net_revenue"], row["units"]) == (
        Decimal("0.00"),
        Decimal("0.00"),
        0,
    )


def test_one_row_per_order_whatever_the_item_count(frames):
    result = transform_orders(*frames)
    assert sorted(row["order_id"] for row in result.collect()) == ["1", "2", "3", "4", "5"]


def test_a_created_at_with_an_offset_is_placed_in_utc(spark):
    orders = spark.createDataFrame(
        [(7, 70, "placed", "USD", "0.00", "/", "2026-03-01T23:30:00-05:00", None)], ORDERS_SCHEMA
    )
    items = spark.createDataFrame([], ORDER_ITEMS_SCHEMA)
    customers = spark.createDataFrame([], CUSTOMERS_SCHEMA)
    [row] = transform_orders(orders, items, customers).collect()
    assert (row["placed_at"], row["order_date"]) == (datetime(2026, 3, 2, 4, 30), date(2026, 3, 2))
