"""curate_orders: the shop's orders with their money worked out and the customer keyed.

raw/shop_db/{orders, order_items, customers, products} → curated/sales/orders,
curated/sales/order_items, curated/sales/products and curated/customers/customers.
An orders or order_items partition holds the orders the shop changed on ds (new ones,
and older ones delivered or refunded) and their lines; the warehouse keeps each order's
latest version. Products and customers are the shop's snapshots as of the end of ds.
`customer_key` is the normalised email's hash: the key the identity resolution
job keeps across shop, CRM and web ids (email first). The customers output carries the
key, never the email or the names.

`run` stages one ds, `run_range` many in one Spark job per output; the transforms keep
the rows of each `ds` (a column the run's frames carry) apart.
"""

from __future__ import annotations

import sys

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from spark_jobs.common.columns import customer_key, utc_timestamp, utm_param
from spark_jobs.common.io import (
    check_dates,
    main_args,
    partition_keys,
    read_raw_days,
    stage_days,
)
from spark_jobs.common.session import get_session

OUTPUT = ("sales", "orders")
ORDER_ITEMS = ("sales", "order_items")
PRODUCTS = ("sales", "products")
CUSTOMERS = ("customers", "customers")

ORDERS_SCHEMA = (
    "order_id BIGINT, customer_id BIGINT, status STRING, currency STRING, "
    "discount_amount STRING, landing_site STRING, created_at STRING, updated_at STRING"
)
ORDER_ITEMS_SCHEMA = (
    "order_item_id BIGINT, order_id BIGINT, product_id BIGINT, quantity BIGINT, "
    "unit_price STRING, created_at STRING, updated_at STRING"
)
CUSTOMERS_SCHEMA = (
    "customer_id BIGINT, email STRING, region STRING, created_at STRING, updated_at STRING"
)
PRODUCTS_SCHEMA = (
    "product_id BIGINT, sku STRING, name STRING, category STRING, price STRING, "
    "created_at STRING, updated_at STRING"
)

MONEY = "decimal(18,2)"


def transform_orders(orders: DataFrame, items: DataFrame, customers: DataFrame) -> DataFrame:
    """One row per order: gross = Σ quantity × unit price, net = gross − discount."""
    keys = partition_keys(orders)
    totals = items.groupBy(*keys, "order_id").agg(
        F.sum(F.col("quantity") * F.col("unit_price").cast(MONEY)).cast(MONEY).alias("gross"),
        F.sum("quantity").alias("units"),
    )
    people = customers.select(
        *keys,
        "customer_id",
        customer_key(F.col("email")).alias("customer_key"),
        F.col("region"),
        utc_timestamp(F.col("created_at")).alias("customer_created_at"),
    )
    gross = F.coalesce(F.col("gross"), F.lit(0).cast(MONEY))
    discount = F.col("discount_amount").cast(MONEY)
    return (
        orders.join(totals, [*keys, "order_id"], "left")
        .join(people, [*keys, "customer_id"], "left")
        .select(
            F.col("order_id").cast("string").alias("order_id"),
            F.col("customer_id").cast("string").alias("customer_id"),
            "customer_key",
            "region",
            "customer_created_at",
            utc_timestamp(F.col("created_at")).alias("placed_at"),
            F.to_date(utc_timestamp(F.col("created_at"))).alias("order_date"),
            "status",
            utc_timestamp(F.col("updated_at")).alias("updated_at"),
            "currency",
            gross.alias("gross_revenue"),
            discount.alias("discount_amount"),
            (gross - discount).cast(MONEY).alias("net_revenue"),
            F.coalesce(F.col("units"), F.lit(0)).cast("bigint").alias("units"),
            "landing_site",
            utm_param(F.col("landing_site"), "utm_source").alias("utm_source"),
            utm_param(F.col("landing_site"), "utm_medium").alias("utm_medium"),
            utm_param(F.col("landing_site"), "utm_campaign").alias("utm_campaign"),
            *keys,
        )
    )


def transform_order_items(items: DataFrame) -> DataFrame:
    """One row per order line: line revenue = quantity × unit price, to the cent, exactly.

    The lines of an order sum to the order's gross revenue (transform_orders' sum).
    """
    unit_price = F.col("unit_price").cast(MONEY)
    return items.select(
        F.col("order_item_id").cast("string").alias("order_item_id"),
        F.col("order_id").cast("string").alias("order_id"),
        F.col("product_id").cast("string").alias("product_id"),
        F.col("quantity").cast("bigint").alias("quantity"),
        unit_price.alias("unit_price"),
        (F.col("quantity") * unit_price).cast(MONEY).alias("line_revenue"),
        # A line is created with its order: its created_at is when the order was placed.
        F.to_date(utc_timestamp(F.col("created_at"))).alias("order_date"),
        utc_timestamp(F.col("updated_at")).alias("updated_at"),
        *partition_keys(items),
    )


def created_and_updated_at() -> list[Column]:
    """created_at and updated_at in UTC. A record without updated_at (a shop table that
    has none) was last changed when it was created."""
    created_at = utc_timestamp(F.col("created_at"))
    updated_at = F.coalesce(utc_timestamp(F.col("updated_at")), created_at)
    return [created_at.alias("created_at"), updated_at.alias("updated_at")]


def transform_products(products: DataFrame) -> DataFrame:
    """The shop's catalogue as of ds, one row per product."""
    return products.select(
        F.col("product_id").cast("string").alias("product_id"),
        "sku",
        F.col("name").alias("product_name"),
        "category",
        F.col("price").cast(MONEY).alias("price"),
        *created_and_updated_at(),
        *partition_keys(products),
    )


def transform_customers(customers: DataFrame) -> DataFrame:
    """The shop's customers as of ds, keyed like their orders, without email or names."""
    return customers.select(
        F.col("customer_id").cast("string").alias("customer_id"),
        customer_key(F.col("email")).alias("customer_key"),
        "region",
        *created_and_updated_at(),
        *partition_keys(customers),
    )


def run(spark, lake: Lake, ds: str) -> list[Partition]:
    """Stage ds's orders, order items, products and customers."""
    return run_range(spark, lake, [ds])


def run_range(spark, lake: Lake, dates: list[str]) -> list[Partition]:
    """Stage every ds of `dates`, one Spark job per output, each partition as `run` does."""
    dates = check_dates(dates)

    def raw(entity: str, schema: str) -> DataFrame:
        return read_raw_days(spark, lake, "shop_db", entity, dates, schema)

    orders = raw("orders", ORDERS_SCHEMA)
    items = raw("order_items", ORDER_ITEMS_SCHEMA)
    customers = raw("customers", CUSTOMERS_SCHEMA)
    outputs = {
        OUTPUT: transform_orders(orders, items, customers),
        ORDER_ITEMS: transform_order_items(items),
        PRODUCTS: transform_products(raw("products", PRODUCTS_SCHEMA)),
        CUSTOMERS: transform_customers(customers),
    }
    staged = [
        stage_days(frame, lake, "curated", *output, dates) for output, frame in outputs.items()
    ]
    return [p for day in zip(*staged, strict=True) for p in day]


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run_range(get_session("curate_orders", args.remote), Lake(args.lake), args.dates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
