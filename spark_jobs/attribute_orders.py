"""attribute_orders: each order's credit shared among the marketing visits that led to it.

curated/sales/orders (ds), curated/web/sessions and curated/customers/identity_map
(from the lookback window before the oldest of those orders) →
curated/marketing/order_attribution. Like curated orders, partition ds holds every
order the shop changed on ds (placed, delivered, refunded), attributed with what is
known by then; readers keep each order's latest. Touchpoints are the customer's
non-direct sessions that started within the lookback window before the order; five
models share each order's credit among them, weights summing to 1. An order without
a touchpoint is `direct` under every model. See docs/transforms.md.

`run` stages one ds, `run_range` many in one Spark job: each curated partition is read
once and serves every day whose window holds it, each day keeping the latest version,
as of that day, of every session and visitor, as its own run would.
"""

from __future__ import annotations

import sys
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from caravan.contracts import ATTRIBUTION_LOOKBACK_DAYS, ATTRIBUTION_MODELS
from caravan.lake import Lake, Partition
from spark_jobs.common.columns import utc_micros
from spark_jobs.common.io import (
    check_dates,
    latest_per_key,
    main_args,
    partition_keys,
    read_curated_days,
    serve,
    stage_days,
    windows,
)
from spark_jobs.common.session import get_session

OUTPUT = ("marketing", "order_attribution")
LOOKBACK_DAYS = ATTRIBUTION_LOOKBACK_DAYS
HALF_LIFE_DAYS = 7.0
MODELS = ATTRIBUTION_MODELS
MICROS_PER_DAY = 86_400 * 1_000_000

# The columns of the curated inputs that attribution reads (an explicit schema: no job to
# infer one from the files).
ORDERS_SCHEMA = "order_id STRING, order_date DATE, placed_at TIMESTAMP_NTZ, customer_key STRING"
SESSIONS_SCHEMA = (
    "session_id STRING, user_pseudo_id STRING, session_start TIMESTAMP_NTZ, channel STRING, "
    "utm_source STRING, utm_medium STRING, campaign_id STRING"
)
IDENTITY_SCHEMA = "customer_key STRING, id_type STRING, id_value STRING, linked_via STRING"

ATTRIBUTION_COLUMNS = [
    "order_id",
    "order_date",
    "placed_at",
    "customer_key",
    "attribution_model",
    "touchpoints",
    "touchpoint",
    "session_id",
    "touch_at",
    "channel",
    "utm_source",
    "utm_medium",
    "campaign_id",
    "weight",
]


def model_weights(n: F.Column, i: F.Column, decay: F.Column, decay_total: F.Column) -> dict:
    """Each model's weight for touchpoint `i` of `n` (1-based, in time order), per model."""
    weights = {
        "first_touch": F.when(i == 1, 1.0).otherwise(0.0),
        "last_touch": F.when(i == n, 1.0).otherwise(0.0),
        "linear": F.lit(1.0) / n,
        "time_decay": decay / decay_total,
        "position_based": F.when(n == 1, 1.0)
        .when(n == 2, 0.5)
        .when((i == 1) | (i == n), 0.4)
        .otherwise(F.lit(0.2) / (n - 2)),
    }
    return {model: weights[model] for model in MODELS}


def transform_attribution(orders: DataFrame, sessions: DataFrame, visitors: DataFrame) -> DataFrame:
    """Attribution rows for `orders`.

    `sessions` and `visitors` are de-duplicated already (one row per session_id and
    per web visitor), `visitors` being identity-map rows of type web_visitor. When the
    frames carry a `ds` (a run's), each `ds`'s orders meet only that `ds`'s sessions and
    visitors.
    """
    keys = partition_keys(orders)
    placed = orders.select(*keys, "order_id", "order_date", "placed_at", "customer_key")
    touches = (
        sessions.where(F.col("channel") != "direct")
        .join(
            visitors.select(*keys, F.col("id_value").alias("user_pseudo_id"), "customer_key"),
            [*keys, "user_pseudo_id"],
        )
        .select(
            *[F.col(k).alias(f"touch_{k}") for k in [*keys, "customer_key"]],
            "session_id",
            F.col("session_start").alias("touch_at"),
            "channel",
            "utm_source",
            "utm_medium",
            "campaign_id",
            F.lit(True).alias("touched"),
        )
    )
    age_micros = utc_micros(F.col("placed_at")) - utc_micros(F.col("touch_at"))
    touch = (age_micros >= 0) & (age_micros <= LOOKBACK_DAYS * MICROS_PER_DAY)
    for k in [*keys, "customer_key"]:
        touch = touch & (F.col(k) == F.col(f"touch_{k}"))
    # Each order with its touchpoints, or once without any: then it is direct.
    candidates = placed.join(touches, touch, "left").drop(
        *[f"touch_{k}" for k in [*keys, "customer_key"]]
    )
    in_time = Window.partitionBy(*keys, "order_id").orderBy("touch_at", "session_id")
    per_order = Window.partitionBy(*keys, "order_id")
    ranked = (
        candidates.withColumn("touchpoint", F.row_number().over(in_time))
        .withColumn("touchpoints", F.count("touched").over(per_order).cast("int"))
        .withColumn("decay", F.pow(F.lit(2.0), -(age_micros / MICROS_PER_DAY) / HALF_LIFE_DAYS))
        .withColumn("decay_total", F.sum("decay").over(per_order))
    )
    weights = model_weights(
        F.col("touchpoints"), F.col("touchpoint"), F.col("decay"), F.col("decay_total")
    )
    direct = F.col("touchpoints") == 0
    models = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(model).alias("model"),
                    F.when(direct, F.lit(1.0)).otherwise(weight).alias("weight"),
                )
                for model, weight in weights.items()
            ]
        )
    )
    return (
        ranked.withColumn("credit", models)
        .select(
            "order_id",
            "order_date",
            "placed_at",
            "customer_key",
            F.col("credit.model").alias("attribution_model"),
            "touchpoints",
            F.when(~direct, F.col("touchpoint")).alias("touchpoint"),
            "session_id",
            "touch_at",
            F.when(direct, F.lit("direct")).otherwise(F.col("channel")).alias("channel"),
            "utm_source",
            "utm_medium",
            "campaign_id",
            F.col("credit.weight").alias("weight"),
            *keys,
        )
        .where(F.col("weight") > 0)
    )


def run(spark, lake: Lake, ds: str) -> Partition:
    """Stage ds's attribution, from the published curated partitions of its window."""
    return run_range(spark, lake, [ds])[0]


def run_range(spark, lake: Lake, dates: list[str]) -> list[Partition]:
    """Stage the attribution of every ds of `dates` in one Spark job, each as `run` does.

    Reads the *published* curated orders of each ds, and sessions and identity maps of
    each ds's window: in a range, the other jobs' range runs publish theirs first.
    """
    dates = check_dates(dates)
    orders = read_curated_days(spark, lake, "sales", "orders", dates, ORDERS_SCHEMA)
    oldest = dict(orders.groupBy("ds").agg(F.min("order_date")).collect())
    lookback = {
        ds: (date.fromisoformat(ds) - (oldest.get(ds) or date.fromisoformat(ds))).days
        + LOOKBACK_DAYS
        for ds in dates
    }

    def window_of(domain: str, entity: str, schema: str) -> tuple[DataFrame, dict]:
        reads = windows(lake, "curated", domain, entity, lookback)
        days = sorted({day for read in reads.values() for day in read})
        return read_curated_days(spark, lake, domain, entity, days, schema), reads

    sessions, session_reads = window_of("web", "sessions", SESSIONS_SCHEMA)
    identities, identity_reads = window_of("customers", "identity_map", IDENTITY_SCHEMA)
    identities = identities.where(F.col("id_type") == "web_visitor")
    # Only visitors keyed, in some partition, to a customer with an order here can be
    # linked to one of them; the others, and their sessions, are left out before the
    # versions are sorted (a session's id begins with its visitor's).
    buyers = orders.select("customer_key").distinct()
    visitor_ids = identities.join(buyers, "customer_key", "left_semi").select("id_value").distinct()
    identities = identities.join(visitor_ids, "id_value", "left_semi")
    sessions = sessions.join(
        visitor_ids.withColumnRenamed("id_value", "user_pseudo_id"), "user_pseudo_id", "left_semi"
    )
    # Each day's latest version, among the partitions of its own window, of each session;
    # and of each visitor: a link, once made, holds (a later anonymous visit does not
    # unlink the browser).
    sessions = latest_per_key(
        serve(sessions, session_reads), "ds", "session_id", version="partition_ds"
    )
    visitors = latest_per_key(
        serve(identities, identity_reads),
        "ds",
        "id_value",
        preferred=F.col("linked_via") != "none",
        version="partition_ds",
    )
    attribution = transform_attribution(orders, sessions, visitors)
    return stage_days(attribution, lake, "curated", *OUTPUT, dates)


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run_range(get_session("attribute_orders", args.remote), Lake(args.lake), args.dates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
