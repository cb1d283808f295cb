"""resolve_identities: one customer_key across the shop, the CRM and the site; one row per fact.

raw/shop_db/{customers, orders}, crm/contacts, web_analytics/events and
sales_ops/messages (ds−1 and ds) → curated/customers/identity_map and
curated/sales/order_events.

The key is the normalised email's hash first (the key curate_orders gives
orders); a web visitor takes the key of the customer it signed in as or bought
as; an identifier never linked keys itself. The sales, shipping and accounting
apps' messages boil down to one row per (order, event type), on the first day a
message about it arrived. The identity map is incremental: partition ds holds the
identifiers created or changed on ds (shop customers new or changed since the previous
day's snapshot, the customers of the day's order_placed messages, the day's CRM
contacts and web visitors); readers keep each identifier's latest. See
docs/transforms.md.

`run` stages one ds, `run_range` many in one Spark job per output; each day's snapshot
and messages are read once and serve that day and the next.
"""

from __future__ import annotations

import sys
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from spark_jobs.common.columns import hash_key, normalised_email, utc_timestamp
from spark_jobs.common.io import (
    check_dates,
    main_args,
    partition_keys,
    read_raw_days,
    serve,
    stage_days,
    windows,
)
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


def emailed_ids(
    id_type: str, frame: DataFrame, id_column: str, email_column: str, source: F.Column
) -> DataFrame:
    """Identifiers with their normalised email, and where they were seen (`source`)."""
    return frame.select(
        *partition_keys(frame),
        F.lit(id_type).alias("id_type"),
        F.col(id_column).cast("string").alias("id_value"),
        normalised_email(F.col(email_column)).alias("email"),
        source.alias("source"),
    ).where(F.col("id_value").isNotNull())


def transform_identity_map(
    customers: DataFrame,
    orders: DataFrame,
    contacts: DataFrame,
    events: DataFrame,
    messages: DataFrame,
    previous: DataFrame | None = None,
) -> DataFrame:
    """One row per identifier seen: shop customers, CRM contacts, web visitors.

    With the shop's customer snapshot of the day before (`previous`; or, in a run's
    frames, the rows of `customers` whose `partition_ds` is before their `ds`, see
    `io.serve`), a shop customer of the snapshot gets a row only when it is new or its
    normalised email (all the map takes from the snapshot) changed since then; the
    customers of the day's order_placed messages always do, and the whole snapshot still
    keys the visitors. Without one (the first day), every customer of the snapshot does.
    """
    keys = partition_keys(customers)
    incremental = previous is not None or "partition_ds" in customers.columns
    snapshot = (
        F.when(F.col("partition_ds") == F.col("ds"), "snapshot").otherwise("before")
        if "partition_ds" in customers.columns
        else F.lit("snapshot")
    )
    placed = messages.where(F.col("type") == "order_placed").select(*keys, "payload.*")
    rows = [
        emailed_ids("shop_customer", customers, "customer_id", "email", snapshot),
        emailed_ids("shop_customer", placed, "customer_id", "email", F.lit("placed")),
        emailed_ids("crm_contact", contacts, "id", "properties.email", F.lit("crm")),
    ]
    if previous is not None:
        rows.append(emailed_ids("shop_customer", previous, "customer_id", "email", F.lit("before")))
    # Every emailed identifier in one aggregation. Its email: the least of the day's (the
    # snapshot and the apps agree; min is stable).
    source = F.col("source")
    today = source != "before"
    ids = (
        reduce(DataFrame.unionByName, rows)
        .groupBy(*keys, "id_type", "id_value")
        .agg(
            F.min(F.when(today, F.col("email"))).alias("email"),
            F.max(today).alias("seen"),
            F.max(source.isin("placed", "crm")).alias("reported"),
            F.max(source == "snapshot").alias("in_snapshot"),
            F.max(F.when(source == "snapshot", F.col("email"))).alias("snapshot_email"),
            F.max(source == "before").alias("in_previous"),
            F.max(F.when(source == "before", F.col("email"))).alias("previous_email"),
        )
    )
    changed = F.col("in_snapshot") & (
        ~F.col("in_previous") | ~F.col("snapshot_email").eqNullSafe(F.col("previous_email"))
    )
    emitted = F.col("reported") | changed if incremental else F.col("seen")
    with_email = ids.where(emitted).select(
        F.coalesce(hash_key(F.col("email")), own_key(F.col("id_type"), F.col("id_value"))).alias(
            "customer_key"
        ),
        "id_type",
        "id_value",
        "email",
        F.when(F.col("email").isNotNull(), "email").otherwise("none").alias("linked_via"),
        *keys,
    )
    # The day's shop customers (the day before's snapshot left out), whose emails key the
    # visitors linked to them.
    today = customers
    if "partition_ds" in customers.columns:
        today = customers.where(F.col("partition_ds") == F.col("ds"))
    shop = (
        emailed_ids("shop_customer", today, "customer_id", "email", F.lit("snapshot"))
        .unionByName(emailed_ids("shop_customer", placed, "customer_id", "email", F.lit("placed")))
        .groupBy(*keys, F.col("id_value").alias("customer_id"))
        .agg(F.min("email").alias("email"))
    )
    return with_email.unionByName(web_visitors(events, orders, placed, shop)).select(
        *IDENTITY_COLUMNS, *keys
    )


def web_visitors(
    events: DataFrame, orders: DataFrame, placed: DataFrame, shop: DataFrame
) -> DataFrame:
    """Each visitor linked to the shop customer it signed in or bought as (earliest link).

    `shop`: the day's shop customers (`customer_id`, normalised `email`).
    """
    keys = partition_keys(events)
    # An order's customer: the day's orders', else its order_placed message's.
    order_customers = (
        orders.select(*keys, "order_id", "customer_id", F.lit(0).alias("source"))
        .unionByName(placed.select(*keys, "order_id", "customer_id", F.lit(1).alias("source")))
        .where(F.col("order_id").isNotNull() & F.col("customer_id").isNotNull())
        .groupBy(*keys, "order_id")
        .agg(F.min_by("customer_id", F.struct("source", "customer_id")).alias("customer_id"))
        .select(
            *keys,
            F.col("order_id").cast("string").alias("transaction_id"),
            F.col("customer_id").cast("string").alias("bought_as"),
        )
    )

    def link(present: str, rank: int) -> F.Column:
        return F.when(
            F.col(present).isNotNull(),
            F.struct(
                F.col("event_timestamp").alias("at"),
                F.lit(rank).alias("rank"),
                F.col(present).alias("customer_id"),
            ),
        )

    # The earliest link; at the same instant, signing in says more than buying.
    visitors = (
        events.select(
            *keys,
            "user_pseudo_id",
            "event_timestamp",
            "user_id",
            F.col("ecommerce.transaction_id").alias("transaction_id"),
        )
        .join(order_customers, [*keys, "transaction_id"], "left")
        .groupBy(*keys, "user_pseudo_id")
        .agg(F.min(F.least(link("user_id", 0), link("bought_as", 1))).alias("link"))
        .select(
            *keys,
            "user_pseudo_id",
            F.col("link.customer_id").alias("customer_id"),
            F.when(F.col("link.rank") == 0, "user_id")
            .when(F.col("link.rank") == 1, "transaction_id")
            .otherwise("none")
            .alias("linked_via"),
        )
        .join(shop, [*keys, "customer_id"], "left")
    )
    # Linked: the customer's email key, else the customer's own; unlinked: the visitor's own.
    key = (
        F.when(
            F.col("customer_id").isNull(), own_key(F.lit("web_visitor"), F.col("user_pseudo_id"))
        )
        .when(F.col("email").isNotNull(), hash_key(F.col("email")))
        .otherwise(own_key(F.lit("shop_customer"), F.col("customer_id")))
    )
    return visitors.select(
        key.alias("customer_key"),
        F.lit("web_visitor").alias("id_type"),
        F.col("user_pseudo_id").alias("id_value"),
        "email",
        "linked_via",
        *keys,
    )


def transform_order_events(messages: DataFrame, ds: str | None = None) -> DataFrame:
    """One row per (order, event type) first reported on `ds` (messages tagged with `ds`).

    Without `ds` (a run's frames, see `io.serve`): each message carries the output day it
    serves in `ds` and its own partition's in `partition_ds`.
    """
    if ds is not None:
        messages = messages.withColumnRenamed("ds", "partition_ds").withColumn("ds", F.lit(ds))
        return transform_order_events(messages).drop("ds")
    on_ds = F.col("partition_ds") == F.col("ds")

    def of_ds(column: F.Column) -> F.Column:
        return F.when(on_ds, column)

    first_message = F.struct(utc_timestamp(F.col("sent_at")).alias("sent_at"), "message_id", "app")
    # One aggregation: a fact reported the day before (a message of ds−1) is left out.
    return (
        messages.groupBy(
            "ds",
            F.col("payload.order_id").cast("string").alias("order_id"),
            F.col("type").alias("event_type"),
        )
        .agg(
            F.max(F.col("partition_ds") < F.col("ds")).alias("reported_before"),
            F.min(of_ds(utc_timestamp(F.col("occurred_at")))).alias("occurred_at"),
            F.max(of_ds(F.coalesce("payload.amount", "payload.amount_paid").cast(MONEY))).alias(
                "amount"
            ),
            F.max(of_ds(F.col("payload.currency"))).alias("currency"),
            F.max(of_ds(F.col("payload.customer_id").cast("string"))).alias("customer_id"),
            F.min(of_ds(first_message)).alias("first"),
            F.count_if(on_ds).alias("messages"),
            F.array_sort(F.collect_set(of_ds(F.col("app")))).alias("apps"),
        )
        .where(~F.col("reported_before") & (F.col("messages") > 0))
        .select(
            "order_id",
            "event_type",
            "occurred_at",
            "amount",
            "currency",
            "customer_id",
            F.col("first.message_id").alias("first_message_id"),
            F.col("first.app").alias("first_app"),
            F.col("first.sent_at").alias("first_sent_at"),
            "messages",
            "apps",
            "ds",
        )
    )


def run(spark, lake: Lake, ds: str) -> list[Partition]:
    """Stage ds's identity map and order events."""
    return run_range(spark, lake, [ds])


def run_range(spark, lake: Lake, dates: list[str]) -> list[Partition]:
    """Stage every ds of `dates`, one Spark job per output, each partition as `run` does."""
    dates = check_dates(dates)

    def raw(source: str, entity: str, schema: str) -> DataFrame:
        return read_raw_days(spark, lake, source, entity, dates, schema)

    def with_day_before(source: str, entity: str, schema: str) -> DataFrame:
        """Each day's partition and the day before's (when published), as `io.serve` tags them."""
        reads = windows(lake, "raw", source, entity, dict.fromkeys(dates, HISTORY_DAYS))
        days = sorted({day for read in reads.values() for day in read})
        return serve(read_raw_days(spark, lake, source, entity, days, schema), reads)

    messages = with_day_before("sales_ops", "messages", MESSAGES_SCHEMA)
    snapshots = with_day_before("shop_db", "customers", CUSTOMERS_SCHEMA)
    on_ds = F.col("partition_ds") == F.col("ds")
    identities = transform_identity_map(
        snapshots,
        raw("shop_db", "orders", ORDERS_SCHEMA),
        raw("crm", "contacts", CONTACTS_SCHEMA),
        raw("web_analytics", "events", EVENTS_SCHEMA),
        messages.where(on_ds).drop("partition_ds"),
    )
    staged = [
        stage_days(identities, lake, "curated", *IDENTITY_MAP, dates),
        stage_days(transform_order_events(messages), lake, "curated", *ORDER_EVENTS, dates),
    ]
    return [p for day in zip(*staged, strict=True) for p in day]


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run_range(get_session("resolve_identities", args.remote), Lake(args.lake), args.dates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
