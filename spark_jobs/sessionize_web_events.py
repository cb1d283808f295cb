"""sessionize_web_events: the site's GA4 events into visits, with where each came from.

raw/web_analytics/events of ds−1 and ds → curated/web/sessions. A session is one
visitor's run of events without a gap of 30 minutes or more. Partition ds holds
every session with an event on ds, as known at the end of ds; reading ds−1 keeps
the true start (landing page, traffic source) of a session that crossed midnight.
Such a session is in both days' partitions and readers keep its latest one, as GA4
counts a session on every day it was active. See docs/transforms.md.

`run` stages one ds, `run_range` many in one Spark job: each day's events are read once
and serve both that day's sessions and the next day's, as the day-by-day runs read them.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from caravan.contracts import SESSION_TIMEOUT_MINUTES
from caravan.lake import Lake, Partition
from spark_jobs.common.columns import (
    ad_campaign_id,
    channel,
    micros_to_utc,
    url_path,
    utm_param,
)
from spark_jobs.common.io import (
    check_dates,
    main_args,
    read_raw_days,
    serve,
    stage_days,
    windows,
)
from spark_jobs.common.session import get_session

OUTPUT = ("web", "sessions")
INACTIVITY_MICROS = SESSION_TIMEOUT_MINUTES * 60 * 1_000_000
HISTORY_DAYS = 1

EVENTS_SCHEMA = (
    "event_timestamp BIGINT, event_name STRING, user_pseudo_id STRING, user_id STRING, "
    "event_params ARRAY<STRUCT<key: STRING, value: STRUCT<string_value: STRING, "
    "int_value: BIGINT, double_value: DOUBLE>>>, "
    "device STRUCT<category: STRING>, ecommerce STRUCT<transaction_id: STRING>"
)
CONVERSIONS = {
    "has_add_to_cart": "add_to_cart",
    "has_begin_checkout": "begin_checkout",
    "has_purchase": "purchase",
}


def event_param(name: str) -> F.Column:
    """A GA4 event parameter's string value (page_location and the like)."""
    return F.filter("event_params", lambda p: p["key"] == name)[0]["value"]["string_value"]


def transform_sessions(events: DataFrame, ds: str | None = None) -> DataFrame:
    """Sessions with an event on `ds` from events tagged with their partition's `ds`.

    Without `ds` (a run's frames, see `io.serve`): each event carries the output day it
    serves in `ds` and its own partition's in `partition_ds`, and every output day gets its
    sessions, from its own events only, in one frame with its `ds`.
    """
    if ds is not None:
        events = events.withColumnRenamed("ds", "partition_ds").withColumn("ds", F.lit(ds))
        return transform_sessions(events).drop("ds")
    visits = events.select(
        "ds",
        "user_pseudo_id",
        "user_id",
        "event_name",
        "event_timestamp",
        event_param("page_location").alias("page_location"),
        F.col("device.category").alias("device"),
        F.col("ecommerce.transaction_id").alias("transaction_id"),
        (F.col("partition_ds") == F.col("ds")).alias("on_ds"),
    )
    # Equal timestamps are one session whatever their order; the rest of the order
    # only makes "first event" deterministic.
    in_time = Window.partitionBy("ds", "user_pseudo_id").orderBy(
        "event_timestamp", "event_name", "page_location"
    )
    gap = F.col("event_timestamp") - F.lag("event_timestamp").over(in_time)
    starts = visits.withColumn(
        "starts_session", (gap.isNull() | (gap >= INACTIVITY_MICROS)).cast("int")
    ).withColumn(
        "session_number",
        F.sum("starts_session").over(in_time.rowsBetween(Window.unboundedPreceding, 0)),
    )
    first_event = F.struct("event_timestamp", "event_name", "page_location")
    signed_in = F.when(F.col("user_id").isNotNull(), first_event)
    sessions = starts.groupBy("ds", "user_pseudo_id", "session_number").agg(
        F.min("event_timestamp").alias("start_micros"),
        F.max("event_timestamp").alias("end_micros"),
        F.min_by("user_id", signed_in).alias("user_id"),
        F.count(F.lit(1)).alias("events"),
        F.sum(F.col("on_ds").cast("bigint")).alias("events_on_ds"),
        F.sum((F.col("event_name") == "page_view").cast("bigint")).alias("page_views"),
        F.min_by("page_location", first_event).alias("landing_location"),
        F.min_by("device", first_event).alias("device"),
        *[F.max(F.col("event_name") == name).alias(flag) for flag, name in CONVERSIONS.items()],
        F.array_sort(F.collect_set("transaction_id")).alias("transaction_ids"),
    )
    utm = {
        name: utm_param(F.col("landing_location"), name) for name in ("utm_source", "utm_medium")
    }
    return (
        sessions.where(F.col("events_on_ds") > 0)
        .withColumn("utm_source", utm["utm_source"])
        .withColumn("utm_medium", utm["utm_medium"])
        .withColumn("utm_campaign", utm_param(F.col("landing_location"), "utm_campaign"))
        .withColumn("channel", channel(F.col("utm_source"), F.col("utm_medium")))
        .select(
            F.concat_ws(":", "user_pseudo_id", F.col("start_micros").cast("string")).alias(
                "session_id"
            ),
            "user_pseudo_id",
            "user_id",
            micros_to_utc(F.col("start_micros")).alias("session_start"),
            micros_to_utc(F.col("end_micros")).alias("session_end"),
            F.to_date(micros_to_utc(F.col("start_micros"))).alias("session_date"),
            ((F.col("end_micros") - F.col("start_micros")) / 1_000_000).alias("duration_seconds"),
            "events",
            "events_on_ds",
            "page_views",
            url_path(F.col("landing_location")).alias("landing_page"),
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "channel",
            ad_campaign_id(F.col("channel"), F.col("utm_campaign")).alias("campaign_id"),
            "device",
            *CONVERSIONS,
            "transaction_ids",
            "ds",
        )
    )


def run(spark, lake: Lake, ds: str) -> Partition:
    """Stage ds's sessions (from the events of ds−1, when published, and ds)."""
    return run_range(spark, lake, [ds])[0]


def run_range(spark, lake: Lake, dates: list[str]) -> list[Partition]:
    """Stage the sessions of every ds of `dates` in one Spark job, each as `run` does."""
    dates = check_dates(dates)
    reads = windows(lake, "raw", "web_analytics", "events", dict.fromkeys(dates, HISTORY_DAYS))
    days = sorted({day for read in reads.values() for day in read})
    events = read_raw_days(spark, lake, "web_analytics", "events", days, EVENTS_SCHEMA)
    return stage_days(transform_sessions(serve(events, reads)), lake, "curated", *OUTPUT, dates)


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run_range(get_session("sessionize_web_events", args.remote), Lake(args.lake), args.dates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
