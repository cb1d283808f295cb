"""unify_ad_spend: every ad platform's daily cost into one spend schema.

raw/google_ads/campaign_performance → curated/marketing/ad_spend_daily.
Google reports cost in micros of the account currency (int64 as strings).
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from caravan.settings import get_settings
from spark_jobs.common.io import main_args, read_raw, write_staged
from spark_jobs.common.session import get_session

OUTPUT = ("marketing", "ad_spend_daily")

GOOGLE_ADS_PERFORMANCE_SCHEMA = (
    "campaign STRUCT<resourceName: STRING, id: STRING, name: STRING>, "
    "metrics STRUCT<costMicros: STRING, impressions: STRING, clicks: STRING, conversions: DOUBLE>, "
    "segments STRUCT<date: STRING>"
)

SPEND_COLUMNS = [
    "spend_date",
    "platform",
    "account_id",
    "campaign_id",
    "campaign_name",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "conversions",
]


def transform_google_ads(performance: DataFrame, currency: str) -> DataFrame:
    """Google Ads campaign-days in the unified schema; spend = costMicros / 10^6, exactly."""
    return performance.select(
        F.to_date("segments.date").alias("spend_date"),
        F.lit("google_ads").alias("platform"),
        F.nullif(
            F.regexp_extract("campaign.resourceName", r"^customers/(\d+)/", 1), F.lit("")
        ).alias("account_id"),
        F.col("campaign.id").alias("campaign_id"),
        F.col("campaign.name").alias("campaign_name"),
        F.lit(currency).alias("currency"),
        (F.col("metrics.costMicros").cast("decimal(24,0)") / F.lit(1_000_000))
        .cast("decimal(18,6)")
        .alias("spend"),
        F.col("metrics.impressions").cast("bigint").alias("impressions"),
        F.col("metrics.clicks").cast("bigint").alias("clicks"),
        F.col("metrics.conversions").cast("decimal(18,4)").alias("conversions"),
    )


def transform_unify(*platforms: DataFrame) -> DataFrame:
    """All platforms' spend in one frame, one row per date × platform × campaign."""
    unified = platforms[0].select(SPEND_COLUMNS)
    for frame in platforms[1:]:
        unified = unified.unionByName(frame.select(SPEND_COLUMNS))
    return unified


def run(spark, lake: Lake, ds: str, currency: str | None = None) -> Partition:
    """Google Ads accounts report in the reporting currency here; FX comes with Meta."""
    currency = currency or get_settings().reporting_currency
    performance = read_raw(
        spark, lake, "google_ads", "campaign_performance", ds, GOOGLE_ADS_PERFORMANCE_SCHEMA
    )
    partition = Partition("curated", *OUTPUT, ds)
    write_staged(transform_unify(transform_google_ads(performance, currency)), lake, partition)
    return partition


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run(get_session("unify_ad_spend", args.remote), Lake(args.lake), args.ds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
