"""attribute_orders: each order's credit shared among the marketing visits that led to it.

curated/sales/orders (ds), curated/web/sessions and curated/customers/identity_map
(from the lookback window before the oldest of those orders) →
curated/marketing/order_attribution. Like curated orders, partition ds holds every
order the shop changed on ds (placed, delivered, refunded), attributed with what is
known by then; readers keep each order's latest. Touchpoints are the customer's
non-direct sessions that started within the lookback window before the order; five
models share each order's credit among them, weights summing to 1. An order without
a touchpoint is `direct` under every model. See docs/transforms.md.
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
    history,
    latest_per_key,
    main_args,
    read_curated_days,
    write_staged,
)
from spark_jobs.common.session import get_session

OUTPUT = ("marketing", "order_attribution")
LOOKBACK_DAYS = ATTRIBUTION_LOOKBACK_DAYS
HALF_LIFE_DAYS = 7.0
MODELS = ATTRIBUTION_MODELS
MICROS_PER_DAY = 86_400 * 1_000_000

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
    per web visitor), `visitors` being identity-map rows of type web_visitor.
    """
    placed = orders.select("order_id", "order_date", "placed_at", "customer_key")
    touches = (
        sessions.where(F.col("channel") != "direct")
        .join(
            visitors.select(F.col("id_value").alias("user_pseudo_id"), "customer_key"),
            "user_pseudo_id",
        )
        .select(
            "customer_key",
            "session_id",
            F.col("session_start").alias("touch_at"),
            "channel",
            "utm_source",
            "utm_medium",
            "campaign_id",
        )
    )
    age_micros = utc_micros(F.col("placed_at")) - utc_micros(F.col("touch_at"))
    candidates = placed.join(touches, "customer_key").where(
        (age_micros >= 0) & (age_micros <= LOOKBACK_DAYS * MICROS_PER_DAY)
    )
    in_time = Window.partitionBy("order_id").orderBy("touch_at", "session_id")
    per_order = Window.partitionBy("order_id")
    ranked = (
        candidates.withColumn("touchpoint", F.row_number().over(in_time))
        .withColumn("touchpoints", F.count(F.lit(1)).over(per_order).cast("int"))
        .withColumn("decay", F.pow(F.lit(2.0), -(age_micros / MICROS_PER_DAY) / HALF_LIFE_DAYS))
        .withColumn("decay_total", F.sum("decay").over(per_order))
    )
    weights = model_weights(
        F.col("touchpoints"), F.col("touchpoint"), F.col("decay"), F.col("decay_total")
    )
    models = F.explode(
        F.array(*[F.struct(F.lit(m).alias("model"), w.alias("weight")) for m, w in weights.items()])
    )
    credited = (
        ranked.withColumn("credit", models)
        .select(
            "*",
            F.col("credit.model").alias("attribution_model"),
            F.col("credit.weight").alias("weight"),
        )
        .where(F.col("weight") > 0)
        .select(ATTRIBUTION_COLUMNS)
    )
    direct = (
        placed.join(candidates.select("order_id").distinct(), "order_id", "left_anti")
        .withColumn("attribution_model", F.explode(F.array(*[F.lit(m) for m in MODELS])))
        .select(
            "order_id",
            "order_date",
            "placed_at",
            "customer_key",
            "attribution_model",
            F.lit(0).cast("int").alias("touchpoints"),
            F.lit(None).cast("int").alias("touchpoint"),
            F.lit(None).cast("string").alias("session_id"),
            F.lit(None).cast("timestamp_ntz").alias("touch_at"),
            F.lit("direct").alias("channel"),
            F.lit(None).cast("string").alias("utm_source"),
            F.lit(None).cast("string").alias("utm_medium"),
            F.lit(None).cast("string").alias("campaign_id"),
            F.lit(1.0).alias("weight"),
        )
    )
    return credited.unionByName(direct)


def run(spark, lake: Lake, ds: str) -> Partition:
    orders = read_curated_days(spark, lake, "sales", "orders", [ds]).drop("ds")
    oldest = orders.agg(F.min("order_date")).first()[0] or date.fromisoformat(ds)
    days_back = (date.fromisoformat(ds) - oldest).days + LOOKBACK_DAYS

    def window_of(domain: str, entity: str) -> DataFrame:
        days = [*history(lake, "curated", domain, entity, ds, days_back), ds]
        return read_curated_days(spark, lake, domain, entity, days)

    sessions = latest_per_key(window_of("web", "sessions"), "session_id")
    identities = window_of("customers", "identity_map").where(F.col("id_type") == "web_visitor")
    # A link, once made, holds: a later anonymous visit does not unlink the browser.
    visitors = latest_per_key(identities, "id_value", preferred=F.col("linked_via") != "none")
    partition = Partition("curated", *OUTPUT, ds)
    write_staged(transform_attribution(orders, sessions, visitors), lake, partition)
    return partition


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run(get_session("attribute_orders", args.remote), Lake(args.lake), args.ds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
