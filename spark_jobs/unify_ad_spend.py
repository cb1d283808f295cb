"""unify_ad_spend: every ad platform's daily cost into one spend schema, in one currency.

raw/google_ads/campaign_performance + raw/meta_ads/insights (+ raw/fx_rates/rates)
→ curated/marketing/ad_spend_daily. Google reports cost in micros of the account
currency (int64 as strings); Meta reports spend as a decimal string in the ad
account's currency, converted here at the day's rate and rounded half up to cents.
A row whose currency has no rate goes to quarantine with the reason: never a silent
zero. Both platforms' partitions hold their lookback days too (restated figures).

raw/google_ads/campaigns + raw/meta_ads/campaigns → curated/marketing/campaigns: both
platforms' campaign snapshots as of ds in one schema, ids as the spend rows carry them.

`run` stages one ds, `run_range` many in one Spark job; the transforms keep the rows of
each `ds` (a column the run's frames carry) apart.
"""

from __future__ import annotations

import sys

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition
from caravan.settings import get_settings
from spark_jobs.common.columns import utc_timestamp
from spark_jobs.common.io import (
    check_dates,
    main_args,
    partition_keys,
    read_raw_days,
    stage_days,
)
from spark_jobs.common.session import get_session

OUTPUT = ("marketing", "ad_spend_daily")
CAMPAIGNS = ("marketing", "campaigns")

GOOGLE_ADS_PERFORMANCE_SCHEMA = (
    "campaign STRUCT<resourceName: STRING, id: STRING, name: STRING>, "
    "metrics STRUCT<costMicros: STRING, impressions: STRING, clicks: STRING, conversions: DOUBLE>, "
    "segments STRUCT<date: STRING>"
)

META_INSIGHTS_SCHEMA = (
    "account_id STRING, account_currency STRING, campaign_id STRING, campaign_name STRING, "
    "spend STRING, impressions STRING, clicks STRING, "
    "actions ARRAY<STRUCT<action_type: STRING, value: STRING>>, date_start STRING"
)
GOOGLE_ADS_CAMPAIGNS_SCHEMA = (
    "campaign STRUCT<resourceName: STRING, id: STRING, name: STRING, status: STRING, "
    "advertisingChannelType: STRING>"
)
META_CAMPAIGNS_SCHEMA = (
    "id STRING, account_id STRING, name STRING, status STRING, objective STRING, "
    "created_time STRING"
)
FX_RATES_SCHEMA = "date STRING, currency STRING, quote_currency STRING, rate STRING"
QUARANTINE = ("marketing", "ad_spend_daily")

CAMPAIGN_COLUMNS = [
    "platform",
    "campaign_id",
    "campaign_name",
    "account_id",
    "status",
    "objective",
    "created_at",
]

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


def google_ads_account_id(resource_name: Column | str) -> Column:
    """The customer id a Google Ads resource belongs to (`customers/<id>/...`), else null."""
    return F.nullif(F.regexp_extract(resource_name, r"^customers/(\d+)/", 1), F.lit(""))


def transform_google_ads(performance: DataFrame, currency: str) -> DataFrame:
    """Google Ads campaign-days in the unified schema; spend = costMicros / 10^6, exactly."""
    return performance.select(
        F.to_date("segments.date").alias("spend_date"),
        F.lit("google_ads").alias("platform"),
        google_ads_account_id("campaign.resourceName").alias("account_id"),
        F.col("campaign.id").alias("campaign_id"),
        F.col("campaign.name").alias("campaign_name"),
        F.lit(currency).alias("currency"),
        (F.col("metrics.costMicros").cast("decimal(24,0)") / F.lit(1_000_000))
        .cast("decimal(18,6)")
        .alias("spend"),
        F.col("metrics.impressions").cast("bigint").alias("impressions"),
        F.col("metrics.clicks").cast("bigint").alias("clicks"),
        F.col("metrics.conversions").cast("decimal(18,4)").alias("conversions"),
        *partition_keys(performance),
    )


def rate_meta_ads(insights: DataFrame, rates: DataFrame, currency: str) -> DataFrame:
    """Meta campaign-days with the day's rate to `currency` (`applied_rate`; 1 for the
    reporting currency itself, null when the rates have none)."""
    keys = partition_keys(insights)
    purchases = F.expr(
        "aggregate(filter(actions, a -> a.action_type = 'purchase'),"
        " cast(0 as decimal(18,4)),"
        " (total, a) -> cast(total + cast(a.value as decimal(18,4)) as decimal(18,4)))"
    )
    days = insights.select(
        F.to_date("date_start").alias("spend_date"),
        F.lit("meta_ads").alias("platform"),
        "account_id",
        "campaign_id",
        "campaign_name",
        "account_currency",
        F.col("spend").cast("decimal(18,2)").alias("account_spend"),
        F.col("impressions").cast("bigint").alias("impressions"),
        F.col("clicks").cast("bigint").alias("clicks"),
        F.coalesce(purchases, F.lit(0).cast("decimal(18,4)")).alias("conversions"),
        *keys,
    )
    day_rates = rates.where(F.col("quote_currency") == currency).select(
        F.to_date("date").alias("spend_date"),
        F.col("currency").alias("account_currency"),
        F.col("rate").cast("decimal(18,6)").alias("rate"),
        *keys,
    )
    rate = F.when(F.col("account_currency") == currency, F.lit(1).cast("decimal(18,6)")).otherwise(
        F.col("rate")
    )
    return days.join(day_rates, [*keys, "spend_date", "account_currency"], "left").withColumn(
        "applied_rate", rate
    )


def converted_meta_ads(rated: DataFrame, currency: str) -> DataFrame:
    """The rated rows in the unified schema, spend at the day's rate, half up to cents."""
    return rated.where(F.col("applied_rate").isNotNull()).select(
        *[c for c in SPEND_COLUMNS if c not in ("currency", "spend")],
        F.lit(currency).alias("currency"),
        F.round(F.col("account_spend") * F.col("applied_rate"), 2)
        .cast("decimal(18,6)")
        .alias("spend"),
        *partition_keys(rated),
    )


def missing_rate(rated: DataFrame, currency: str) -> DataFrame:
    """The rows without a rate, with the reason: for the quarantine."""
    return rated.where(F.col("applied_rate").isNull()).select(
        F.concat(
            F.lit("no rate from "),
            F.col("account_currency"),
            F.lit(f" to {currency} for "),
            F.col("spend_date").cast("string"),
        ).alias("reason"),
        "spend_date",
        "platform",
        "account_id",
        "campaign_id",
        "account_currency",
        "account_spend",
        *partition_keys(rated),
    )


def transform_meta_ads(
    insights: DataFrame, rates: DataFrame, currency: str
) -> tuple[DataFrame, DataFrame]:
    """Meta campaign-days in the unified schema, spend converted to `currency` at the
    day's rate (half up to cents); and the rows without a rate, with the reason."""
    rated = rate_meta_ads(insights, rates, currency)
    converted = converted_meta_ads(rated, currency)
    return converted.select(*SPEND_COLUMNS, *partition_keys(rated)), missing_rate(rated, currency)


def transform_unify(*platforms: DataFrame) -> DataFrame:
    """All platforms' spend in one frame, one row per date × platform × campaign."""
    columns = [*SPEND_COLUMNS, *partition_keys(platforms[0])]
    unified = platforms[0].select(columns)
    for frame in platforms[1:]:
        unified = unified.unionByName(frame.select(columns))
    return unified


def transform_campaigns(google: DataFrame, meta: DataFrame) -> DataFrame:
    """Both platforms' campaigns, one row per platform × campaign id.

    Statuses and objectives lower-cased (Google's advertising channel type is its
    objective); Google's campaign resource has no creation time, so created_at is null.
    """
    keys = partition_keys(google)
    google_campaigns = google.select(
        F.lit("google_ads").alias("platform"),
        F.col("campaign.id").alias("campaign_id"),
        F.col("campaign.name").alias("campaign_name"),
        google_ads_account_id("campaign.resourceName").alias("account_id"),
        F.lower("campaign.status").alias("status"),
        F.lower("campaign.advertisingChannelType").alias("objective"),
        F.lit(None).cast("timestamp_ntz").alias("created_at"),
        *keys,
    )
    meta_campaigns = meta.select(
        F.lit("meta_ads").alias("platform"),
        F.col("id").alias("campaign_id"),
        F.col("name").alias("campaign_name"),
        "account_id",
        F.lower("status").alias("status"),
        F.lower("objective").alias("objective"),
        utc_timestamp(F.col("created_time")).alias("created_at"),
        *keys,
    )
    return google_campaigns.unionByName(meta_campaigns).select(*CAMPAIGN_COLUMNS, *keys)


def run(spark, lake: Lake, ds: str, currency: str | None = None) -> list[Partition]:
    """Stage ds's spend (and quarantine) and campaigns; returns the curated partitions."""
    return run_range(spark, lake, [ds], currency)


def run_range(spark, lake: Lake, dates: list[str], currency: str | None = None) -> list[Partition]:
    """Stage every ds of `dates`, one Spark job per output, each partition as `run` stages
    it. Google Ads accounts report in the reporting currency here; Meta's are converted."""
    dates = check_dates(dates)
    currency = currency or get_settings().reporting_currency

    def raw(source: str, entity: str, schema: str) -> DataFrame:
        return read_raw_days(spark, lake, source, entity, dates, schema)

    rated = rate_meta_ads(
        raw("meta_ads", "insights", META_INSIGHTS_SCHEMA),
        raw("fx_rates", "rates", FX_RATES_SCHEMA),
        currency,
    )
    google = transform_google_ads(
        raw("google_ads", "campaign_performance", GOOGLE_ADS_PERFORMANCE_SCHEMA), currency
    )
    spend = transform_unify(google, converted_meta_ads(rated, currency))
    partitions = stage_days(spend, lake, "curated", *OUTPUT, dates)
    # Staged only for a ds with rows (no empty quarantine partition), with no job to ask first.
    stage_days(missing_rate(rated, currency), lake, "quarantine", *QUARANTINE, dates, optional=True)
    campaigns = transform_campaigns(
        raw("google_ads", "campaigns", GOOGLE_ADS_CAMPAIGNS_SCHEMA),
        raw("meta_ads", "campaigns", META_CAMPAIGNS_SCHEMA),
    )
    staged = stage_days(campaigns, lake, "curated", *CAMPAIGNS, dates)
    return [p for pair in zip(partitions, staged, strict=True) for p in pair]


def main(argv: list[str] | None = None) -> int:
    args = main_args(argv, __doc__.splitlines()[0])
    run_range(get_session("unify_ad_spend", args.remote), Lake(args.lake), args.dates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
