"""curate_orders: the shop's orders with their money worked out and the customer keyed.

raw/shop_db/{orders, order_items, customers} → curated/sales/orders. A partition holds
the orders the shop changed on ds (new ones, and older ones delivered or refunded);
the warehouse keeps each order's latest version.
`customer_key` is the normalised email's hash: the key the identity resolution
job keeps across shop, CRM and web ids (email first).
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from spark_jobs.common.columns import customer_key, utc_timestamp, utm_param
from spark_jobs.common.io import main_args, read_raw, write_staged
from spark_jobs.common.session import get_session

OUTPUT = ("sales", "orders")

ORDERS_SCHEMA = (
    "order_id BIGINT, customer_id BIGINT, status STRING, currency STRING, "
    "discount_amount STRING, landing_site STRING, created_at STRING, updated_at STRING"
)
ORDER_ITEMS_SCHEMA = (
    "order_item_id BIGINT, order_id BIGINT, product_id BIGINT, quantity BIGINT, "
    "unit_price STRING, created_at STRING"
)
CUSTOMERS_SCHEMA = "customer_id BIGINT, email STRING, region STRING, created_at STRING"

MONEY = "decimal(18,2)"


def transform_orders(orders: DataFrame, items: DataFrame, customers: DataFrame) -> DataFrame:
    """One row per order: gross = Σ quantity × unit price, net = gross − discount."""
    totals = items.groupBy("order_id").agg(
        F.sum(F.col("quantity") * F.col("unit_price").cast(MONEY)).cast(MONEY).alias("gross"),
        F.sum("quantity").alias("units"),
    )
    people = customers.select(
        "customer_id",
        customer_key(F.col("email")).alias("customer_key"),
        F.col("region"),
        utc_timestamp(F.col("created_at")).alias("customer_created_at"),
    )
    gross = F.coalesce(F.col("gross"), F.lit(0).cast(MONEY))
    discount = F.col("discount_amount").cast(MONEY)
    return (
        orders.join(totals, "order_id", "left")
        .join(people, "customer_id", "left")
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
        )
    )


def run(spark, lake: Lake, ds: str) -> Partition:
    orders = read_raw(spark, lake, "shop_db", "orders", ds, ORDERS_SCHEMA)
    items = read_raw(spark, lake, "shop_db", "order_items", ds, ORDER_ITEMS_SCHEMA)
    customers = read_raw(spark, lake, "shop_db", "customers", ds, CUSTOMERS_SCHEMA)
    partition = Partition("curated", *OUTPUT, ds)
    write_staged(transform_orders(orders, items, customers), lake, partition)
    return partition


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run(get_session("curate_orders", args.remote), Lake(args.lake), args.ds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
