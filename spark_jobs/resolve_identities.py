"""resolve_identities: one customer_key across the shop, the CRM and the site; one row per fact.

raw/shop_db/{customers, orders}, crm/contacts, web_analytics/events and
sales_ops/messages (ds−1 and ds) → curated/customers/identity_map and
curated/sales/order_events.

The key is the normalised email's hash first (the key curate_orders gives
orders); a web visitor takes the key of the customer it signed in as or bought
as; an identifier never linked keys itself. The sales, shipping and accounting
apps' messages boil down to one row per (order, event type), on the first day a
message about it arrived. See docs/transforms.md.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from spark_jobs.common.columns import hash_key, normalised_email, utc_timestamp
from spark_jobs.common.io import history, main_args, read_raw, read_raw_days, write_staged
from spark_jobs.common.session import get_session

IDENTITY_MAP = ("customers", "identity_map")
ORDER_EVENTS = ("sales", "order_events")
HISTORY_DAYS = 1  # the apps' messages arrive at most a day late
MONEY = "decimal(18,2)"

CUSTOMERS_SCHEMA = "customer_id BIGINT, email STRING"
ORDERS_SCHEMA = "order_id BIGINT, customer_id BIGINT"
CONTACTS_SCHEMA = "id STRING, properties STRUCT<email: STRING>"
EVENTS_SCHEMA = (
    "event_timestamp BIGINT, user_pseudo_id STRING, user_id STRING, "
    "ecommerce STRUCT<transaction_id: STRING>"
)
MESSAGES_SCHEMA = (
    "message_id STRING, app STRING, type STRING, occurred_at STRING, sent_at STRING, "
    "payload STRUCT<order_id: BIGINT, customer_id: BIGINT, email: STRING, "
    "amount: STRING, amount_paid: STRING, currency: STRING>"
)
IDENTITY_COLUMNS = ["customer_key", "id_type", "id_value", "email", "linked_via"]


def own_key(id_type: F.Column, id_value: F.Column) -> F.Column:
    """The key of an identifier with no email: its own, from `<type>:<value>`."""
    return hash_key(F.concat(id_type, F.lit(":"), id_value))


def emailed_ids(id_type: str, frame: DataFrame, id_column: str, email_column: str) -> DataFrame:
    return frame.select(
        F.lit(id_type).alias("id_type"),
        F.col(id_column).cast("string").alias("id_value"),
        normalised_email(F.col(email_column)).alias("email"),
    ).where(F.col("id_value").isNotNull())


def transform_identity_map(
    customers: DataFrame,
    orders: DataFrame,
    contacts: DataFrame,
    events: DataFrame,
    messages: DataFrame,
) -> DataFrame:
    """One row per identifier seen: shop customers, CRM contacts, web visitors."""
    placed = messages.where(F.col("type") == "order_placed").select("payload.*")
    shop = (
        emailed_ids("shop_customer", customers, "customer_id", "email")
        .unionByName(emailed_ids("shop_customer", placed, "customer_id", "email"))
        .groupBy("id_type", "id_value")
        .agg(F.min("email").alias("email"))  # the snapshot and the apps agree; min is stable
    )
    crm = emailed_ids("crm_contact", contacts, "id", "properties.email").dropDuplicates(
        ["id_value"]
    )
    with_email = shop.unionByName(crm).select(
        F.coalesce(hash_key(F.col("email")), own_key(F.col("id_type"), F.col("id_value"))).alias(
            "customer_key"
        ),
        "id_type",
        "id_value",
        "email",
        F.when(F.col("email").isNotNull(), "email").otherwise("none").alias("linked_via"),
    )
    return with_email.unionByName(web_visitors(events, orders, placed, shop)).select(
        IDENTITY_COLUMNS
    )


def web_visitors(
    events: DataFrame, orders: DataFrame, placed: DataFrame, shop: DataFrame
) -> DataFrame:
    """Each visitor linked to the shop customer it signed in or bought as (earliest link)."""
    order_customers = (
        orders.select("order_id", "customer_id")
        .unionByName(placed.select("order_id", "customer_id"))
        .dropDuplicates(["order_id"])
        .select(F.col("order_id").cast("string").alias("transaction_id"), "customer_id")
    )
    signed_in = events.where(F.col("user_id").isNotNull()).select(
        "user_pseudo_id",
        "event_timestamp",
        F.col("user_id").alias("customer_id"),
        F.lit("user_id").alias("linked_via"),
    )
    bought = (
        events.select(
            "user_pseudo_id", "event_timestamp", F.col("ecommerce.transaction_id").alias("tx")
        )
        .where(F.col("tx").isNotNull())
        .join(order_customers, F.col("tx") == F.col("transaction_id"))
        .select(
            "user_pseudo_id",
            "event_timestamp",
            F.col("customer_id").cast("string").alias("customer_id"),
            F.lit("transaction_id").alias("linked_via"),
        )
    )
    # The earliest link; at the same instant, signing in says more than buying.
    earliest = Window.partitionBy("user_pseudo_id").orderBy(
        "event_timestamp", F.col("linked_via") != "user_id", "customer_id"
    )
    links = (
        signed_in.unionByName(bought)
        .withColumn("n", F.row_number().over(earliest))
        .where(F.col("n") == 1)
        .join(shop.select(F.col("id_value").alias("customer_id"), "email"), "customer_id", "left")
    )
    visitors = events.select("user_pseudo_id").distinct()
    # Linked: the customer's email key, else the customer's own; unlinked: the visitor's own.
    key = (
        F.when(
            F.col("customer_id").isNull(), own_key(F.lit("web_visitor"), F.col("user_pseudo_id"))
        )
        .when(F.col("email").isNotNull(), hash_key(F.col("email")))
        .otherwise(own_key(F.lit("shop_customer"), F.col("customer_id")))
    )
    return visitors.join(links, "user_pseudo_id", "left").select(
        key.alias("customer_key"),
        F.lit("web_visitor").alias("id_type"),
        F.col("user_pseudo_id").alias("id_value"),
        "email",
        F.coalesce("linked_via", F.lit("none")).alias("linked_via"),
    )


def transform_order_events(messages: DataFrame, ds: str) -> DataFrame:
    """One row per (order, event type) first reported on `ds` (messages tagged with `ds`)."""
    facts = messages.select(
        F.col("payload.order_id").cast("string").alias("order_id"),
        F.col("type").alias("event_type"),
        utc_timestamp(F.col("occurred_at")).alias("occurred_at"),
        F.coalesce("payload.amount", "payload.amount_paid").cast(MONEY).alias("amount"),
        F.col("payload.currency").alias("currency"),
        F.col("payload.customer_id").cast("string").alias("customer_id"),
        "message_id",
        "app",
        utc_timestamp(F.col("sent_at")).alias("sent_at"),
        "ds",
    )
    key = ["order_id", "event_type"]
    reported_before = facts.where(F.col("ds") < ds).select(*key).distinct()
    first_message = F.struct("sent_at", "message_id", "app")
    return (
        facts.where(F.col("ds") == ds)
        .join(reported_before, key, "left_anti")
        .groupBy(*key)
        .agg(
            F.min("occurred_at").alias("occurred_at"),
            F.max("amount").alias("amount"),
            F.max("currency").alias("currency"),
            F.max("customer_id").alias("customer_id"),
            F.min(first_message).alias("first"),
            F.count(F.lit(1)).alias("messages"),
            F.array_sort(F.collect_set("app")).alias("apps"),
        )
        .select(
            *key,
            "occurred_at",
            "amount",
            "currency",
            "customer_id",
            F.col("first.message_id").alias("first_message_id"),
            F.col("first.app").alias("first_app"),
            F.col("first.sent_at").alias("first_sent_at"),
            "messages",
            "apps",
        )
    )


def run(spark, lake: Lake, ds: str) -> list[Partition]:
    def raw(source: str, entity: str, schema: str) -> DataFrame:
        return read_raw(spark, lake, source, entity, ds, schema)

    message_days = [*history(lake, "raw", "sales_ops", "messages", ds, HISTORY_DAYS), ds]
    messages = read_raw_days(spark, lake, "sales_ops", "messages", message_days, MESSAGES_SCHEMA)
    identities = transform_identity_map(
        raw("shop_db", "customers", CUSTOMERS_SCHEMA),
        raw("shop_db", "orders", ORDERS_SCHEMA),
        raw("crm", "contacts", CONTACTS_SCHEMA),
        raw("web_analytics", "events", EVENTS_SCHEMA),
        messages.where(F.col("ds") == ds),
    )
    outputs = [Partition("curated", *IDENTITY_MAP, ds), Partition("curated", *ORDER_EVENTS, ds)]
    write_staged(identities, lake, outputs[0])
    write_staged(transform_order_events(messages, ds), lake, outputs[1])
    return outputs


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run(get_session("resolve_identities", args.remote), Lake(args.lake), args.ds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
