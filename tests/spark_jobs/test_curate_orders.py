"""curate_orders' pure transforms on hand-made frames; expected rows worked out by hand."""

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
    PRODUCTS_SCHEMA,
    transform_customers,
    transform_order_items,
    transform_orders,
    transform_products,
)

CURATED_SCHEMA = (
    "order_id STRING, customer_id STRING, customer_key STRING, region STRING, "
    "customer_created_at TIMESTAMP_NTZ, placed_at TIMESTAMP_NTZ, order_date DATE, "
    "status STRING, updated_at TIMESTAMP_NTZ, currency STRING, gross_revenue DECIMAL(18,2), "
    "discount_amount DECIMAL(18,2), net_revenue DECIMAL(18,2), units BIGINT, "
    "landing_site STRING, utm_source STRING, utm_medium STRING, utm_campaign STRING"
)
ORDER_ITEMS_CURATED_SCHEMA = (
    "order_item_id STRING, order_id STRING, product_id STRING, quantity BIGINT, "
    "unit_price DECIMAL(18,2), line_revenue DECIMAL(18,2), order_date DATE, "
    "updated_at TIMESTAMP_NTZ"
)
PRODUCTS_CURATED_SCHEMA = (
    "product_id STRING, sku STRING, product_name STRING, category STRING, "
    "price DECIMAL(18,2), created_at TIMESTAMP_NTZ, updated_at TIMESTAMP_NTZ"
)
CUSTOMERS_CURATED_SCHEMA = (
    "customer_id STRING, customer_key STRING, region STRING, created_at TIMESTAMP_NTZ, "
    "updated_at TIMESTAMP_NTZ"
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
    # A line is created with its order and updated with it (order 1 delivered on the 3rd).
    items = spark.createDataFrame(
        [
            (11, 1, 1001, 2, "129.00", "2026-03-01T10:15:00", "2026-03-03T12:00:00"),
            (12, 1, 1009, 1, "45.00", "2026-03-01T10:15:00", "2026-03-03T12:00:00"),
            (31, 3, 1019, 3, "19.50", "2026-03-01T00:00:00", "2026-03-01T08:00:00"),
            (32, 3, 1022, 1, "7.99", "2026-03-01T00:00:00", "2026-03-01T08:00:00"),
            (41, 4, 1022, 1, "0.10", "2026-03-01T07:30:00", "2026-03-01T09:00:00"),
            (42, 4, 1023, 1, "0.10", "2026-03-01T07:30:00", "2026-03-01T09:00:00"),
            (43, 4, 1024, 1, "0.10", "2026-03-01T07:30:00", "2026-03-01T09:00:00"),
            (51, 5, 1020, 1, "24.99", "2026-03-01T12:00:00", "2026-03-01T12:00:00"),
        ],
        ORDER_ITEMS_SCHEMA,
    )
    customers = spark.createDataFrame(
        [
            (10, " Ann@X.com ", "UK", "2026-02-01T08:00:00", "2026-02-15T10:00:00"),
            # no updated_at: last changed when created
            (20, "ann@x.com", "US-West", "2026-03-01T09:00:00", None),
            (30, "BOB@Y.ORG", "CA", "2026-01-15T00:00:00", "2026-01-15T00:00:00"),
            # no orders: not in the orders output, in the customers snapshot; times with offsets
            (99, "nobody@z.net", "CA", "2025-12-31T20:00:00-08:00", "2026-01-01T07:00:00+02:00"),
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


# --- curated/sales/order_items ---------------------------------------------------------


def test_order_lines_with_line_revenue_worked_out(spark, frames):
    _, items, _ = frames
    day = date(2026, 3, 1)

    def line(item, order, product, quantity, price, revenue, updated_at):
        return (
            item, order, product, quantity, Decimal(price), Decimal(revenue), day, updated_at,
        )  # fmt: skip

    expected = spark.createDataFrame(
        [
            line("11", "1", "1001", 2, "129.00", "258.00", datetime(2026, 3, 3, 12)),  # 2 × 129
            line("12", "1", "1009", 1, "45.00", "45.00", datetime(2026, 3, 3, 12)),
            line("31", "3", "1019", 3, "19.50", "58.50", datetime(2026, 3, 1, 8)),  # 3 × 19.50
            line("32", "3", "1022", 1, "7.99", "7.99", datetime(2026, 3, 1, 8)),
            line("41", "4", "1022", 1, "0.10", "0.10", datetime(2026, 3, 1, 9)),
            line("42", "4", "1023", 1, "0.10", "0.10", datetime(2026, 3, 1, 9)),
            line("43", "4", "1024", 1, "0.10", "0.10", datetime(2026, 3, 1, 9)),
            line("51", "5", "1020", 1, "24.99", "24.99", datetime(2026, 3, 1, 12)),
        ],
        ORDER_ITEMS_CURATED_SCHEMA,
    )
    assertDataFrameEqual(transform_order_items(items), expected)


def test_an_orders_lines_add_up_to_its_gross_revenue_and_units(frames):
    orders, items, customers = frames
    lines: dict[str, tuple[Decimal, int]] = {}
    for row in transform_order_items(items).collect():
        revenue, units = lines.get(row["order_id"], (Decimal("0.00"), 0))
        lines[row["order_id"]] = (revenue + row["line_revenue"], units + row["quantity"])
    # By hand: 258.00 + 45.00; 58.50 + 7.99; 3 × 0.10; 24.99. Order 2 has no lines.
    assert lines == {
        "1": (Decimal("303.00"), 3),
        "3": (Decimal("66.49"), 4),
        "4": (Decimal("0.30"), 3),
        "5": (Decimal("24.99"), 1),
    }
    gross = {
        row["order_id"]: (row["gross_revenue"], row["units"])
        for row in transform_orders(orders, items, customers).collect()
    }
    assert gross == {**lines, "2": (Decimal("0.00"), 0)}


def test_a_lines_order_date_is_the_utc_date_its_order_was_placed(spark):
    items = spark.createDataFrame(
        [
            # 23:30 at UTC−5 is 04:30 UTC the next day
            (1, 7, 1001, 3, "33.33", "2026-03-01T23:30:00-05:00", "2026-03-02T10:00:00+02:00"),
            (2, 8, 1002, 0, "5.00", "2026-03-01T23:30:00", "2026-03-01T23:30:00"),
        ],
        ORDER_ITEMS_SCHEMA,
    )
    rows = {row["order_item_id"]: row for row in transform_order_items(items).collect()}
    assert (rows["1"]["order_date"], rows["1"]["updated_at"]) == (
        date(2026, 3, 2),
        datetime(2026, 3, 2, 8),
    )
    assert rows["1"]["line_revenue"] == Decimal("99.99")  # 3 × 33.33
    assert (rows["2"]["order_date"], rows["2"]["line_revenue"]) == (date(2026, 3, 1), Decimal(0))
    types = dict(transform_order_items(items).dtypes)
    assert (types["unit_price"], types["line_revenue"]) == ("decimal(18,2)", "decimal(18,2)")
    assert (types["quantity"], types["updated_at"]) == ("bigint", "timestamp_ntz")


# --- curated/sales/products ------------------------------------------------------------


def test_products_with_their_price_as_money_and_times_in_utc(spark):
    products = spark.createDataFrame(
        [
            (1001, "FW-001", "Trail Runner", "footwear", "129.00", "2020-01-01T00:00:00",
             "2020-01-01T00:00:00"),
            # repriced at 10:00 at UTC+1: 09:00 UTC
            (1022, "AC-006", "Laces Pack", "accessories", "7.99", "2020-01-01T00:00:00",
             "2026-02-28T10:00:00+01:00"),
            # a free product; no updated_at: last changed when created
            (1030, "AC-099", "Gift Wrap", "accessories", "0", "2026-03-01T08:00:00", None),
        ],
        PRODUCTS_SCHEMA,
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("1001", "FW-001", "Trail Runner", "footwear", Decimal("129.00"),
             datetime(2020, 1, 1), datetime(2020, 1, 1)),
            ("1022", "AC-006", "Laces Pack", "accessories", Decimal("7.99"),
             datetime(2020, 1, 1), datetime(2026, 2, 28, 9)),
            ("1030", "AC-099", "Gift Wrap", "accessories", Decimal("0.00"),
             datetime(2026, 3, 1, 8), datetime(2026, 3, 1, 8)),
        ],
        PRODUCTS_CURATED_SCHEMA,
    )  # fmt: skip
    assertDataFrameEqual(transform_products(products), expected)


# --- curated/customers/customers -------------------------------------------------------


def test_customers_keyed_like_their_orders_with_times_in_utc(spark, frames):
    _, _, customers = frames
    expected = spark.createDataFrame(
        [
            ("10", ANN, "UK", datetime(2026, 2, 1, 8), datetime(2026, 2, 15, 10)),
            ("20", ANN, "US-West", datetime(2026, 3, 1, 9), datetime(2026, 3, 1, 9)),
            ("30", BOB, "CA", datetime(2026, 1, 15), datetime(2026, 1, 15)),
            # 20:00 at UTC−8 is 04:00 UTC on the 1st; 07:00 at UTC+2 is 05:00 UTC
            ("99", key("nobody@z.net"), "CA", datetime(2026, 1, 1, 4), datetime(2026, 1, 1, 5)),
        ],
        CUSTOMERS_CURATED_SCHEMA,
    )
    assertDataFrameEqual(transform_customers(customers), expected)


def test_a_customers_key_is_the_one_its_orders_carry(frames):
    orders, items, customers = frames
    keys = {
        row["customer_id"]: row["customer_key"] for row in transform_customers(customers).collect()
    }
    for order in (
        transform_orders(orders, items, customers).where("customer_key is not null").collect()
    ):
        assert keys[order["customer_id"]] == order["customer_key"]
    assert (keys["10"], keys["20"], keys["30"]) == (ANN, ANN, BOB)


def test_customers_carry_no_email_and_no_names(spark):
    """The shop's table has them; the curated entity has exactly its five columns."""
    customers = spark.createDataFrame(
        [(1, "ann@x.com", "UK", "2026-03-01T00:00:00", None, "Ann", "Lee")],
        f"{CUSTOMERS_SCHEMA}, first_name STRING, last_name STRING",
    )
    result = transform_customers(customers)
    assert result.columns == ["customer_id", "customer_key", "region", "created_at", "updated_at"]
    assert "ann@x.com" not in [str(value) for value in result.first()]
