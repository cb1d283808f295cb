"""Reconciliations: a curated partition against the raw partitions it was made from.

The figures are worked out again here in DuckDB SQL, independently of the Spark
job, so a job that drops, doubles or mis-converts a row fails its gate.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pandas as pd

from caravan.contracts import ATTRIBUTION_MODELS
from caravan.lake import Lake, Partition
from caravan.quality.gate import Check
from caravan.quality.suites import Suite

AD_SPEND_KEYS = ["spend_date", "platform", "campaign_id"]

# Raw spend per date × platform × campaign in the reporting currency: Google's micros
# exactly, Meta's spend at the day's rate half up to cents (rows without a rate are in
# quarantine, so they are left out here too).
_RAW_AD_SPEND = """
with google as (
    select
        json ->> '$.segments.date' as spend_date,
        'google_ads' as platform,
        json ->> '$.campaign.id' as campaign_id,
        cast(json ->> '$.metrics.costMicros' as decimal(38, 0)) / 1000000 as spend
    from read_json_objects($google, format = 'newline_delimited', compression = 'gzip')
),
rates as (
    select json ->> '$.date' as rate_date, json ->> '$.currency' as currency,
        cast(json ->> '$.rate' as decimal(18, 6)) as rate
    from read_json_objects($rates, format = 'newline_delimited', compression = 'gzip')
    where json ->> '$.quote_currency' = $currency
),
insights as (
    select json ->> '$.date_start' as spend_date, json ->> '$.campaign_id' as campaign_id,
        json ->> '$.account_currency' as currency,
        cast(json ->> '$.spend' as decimal(18, 2)) as spend
    from read_json_objects($meta, format = 'newline_delimited', compression = 'gzip')
),
meta as (
    select insights.spend_date, 'meta_ads' as platform, insights.campaign_id,
        round(insights.spend * case when insights.currency = $currency then 1
            else rates.rate end, 2) as spend
    from insights
    left join rates
        on rates.rate_date = insights.spend_date and rates.currency = insights.currency
    where insights.currency = $currency or rates.rate is not null
)
select * from google union all select * from meta
"""


def ad_spend_frame(
    lake: Lake, ds: str, curated_paths: list[str], currency: str | None = None
) -> pd.DataFrame:
    """Curated spend beside raw spend, per key; a key on one side only has a null."""
    import duckdb

    from caravan.settings import get_settings

    currency = currency or get_settings().reporting_currency

    def raw(source: str, entity: str) -> list[str]:
        return lake.published_files(Partition("raw", source, entity, ds))

    query = f"""
        with raw as ({_RAW_AD_SPEND}),
        curated as (
            select spend_date::varchar as spend_date, platform, campaign_id, spend
            from read_parquet($curated)
        )
        select
            coalesce(curated.spend_date, raw.spend_date) as spend_date,
            coalesce(curated.platform, raw.platform) as platform,
            coalesce(curated.campaign_id, raw.campaign_id) as campaign_id,
            -- Doubles for the frame; the difference is taken exactly, in decimals, first.
            cast(curated.spend as double) as curated_spend,
            cast(raw.spend as double) as raw_spend,
            cast(curated.spend - raw.spend as double) as difference
        from curated
        full outer join raw using (spend_date, platform, campaign_id)
    """
    with (
        lake.local_files(raw("google_ads", "campaign_performance")) as google,
        lake.local_files(raw("meta_ads", "insights")) as meta,
        lake.local_files(raw("fx_rates", "rates")) as rates,
        lake.local_files(curated_paths) as curated,
        duckdb.connect() as con,
    ):
        params = {
            "google": google,
            "meta": meta,
            "rates": rates,
            "curated": curated,
            "currency": currency,
        }
        return con.execute(query, params).df()


AD_SPEND_RECONCILIATION = Suite(
    stage="curated",
    source="marketing",
    entity="ad_spend_daily",
    projection="*",
    key_columns=AD_SPEND_KEYS,
    checks=lambda ds: [
        # Every raw campaign-day is in the curated partition and nothing else is.
        Check(gxe.ExpectColumnValuesToNotBeNull(column="curated_spend")),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="raw_spend")),
        # To the cent, and below: Google's micros are kept exactly.
        Check(gxe.ExpectColumnValuesToBeBetween(column="difference", min_value=0, max_value=0)),
    ],
)


def attribution_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """Each order of the curated orders partition of ds × each model, beside the weights
    attributed to it; an order or a model missing on either side has a null."""
    import duckdb

    orders = lake.published_files(Partition("curated", "sales", "orders", ds))
    query = """
        with expected as (
            select order_id, attribution_model
            from read_parquet($orders), unnest($models) as m(attribution_model)
        ),
        attributed as (
            select order_id, attribution_model, sum(weight) as weight_sum, count(*) as rows
            from read_parquet($attribution)
            group by order_id, attribution_model
        )
        select
            coalesce(expected.order_id, attributed.order_id) as order_id,
            coalesce(expected.attribution_model, attributed.attribution_model)
                as attribution_model,
            expected.order_id as order_of_ds,
            attributed.weight_sum,
            attributed.rows
        from expected full outer join attributed using (order_id, attribution_model)
    """
    with (
        lake.local_files(orders) as order_files,
        lake.local_files(curated_paths) as attribution,
        duckdb.connect() as con,
    ):
        params = {
            "orders": order_files,
            "attribution": attribution,
            "models": list(ATTRIBUTION_MODELS),
        }
        return con.execute(query, params).df()


WEIGHT_TOLERANCE = 1e-9

ATTRIBUTION_RECONCILIATION = Suite(
    stage="curated",
    source="marketing",
    entity="order_attribution",
    projection="*",
    key_columns=["order_id", "attribution_model"],
    checks=lambda ds: [
        # Every order of ds's orders partition under every model, and no other order.
        Check(gxe.ExpectColumnValuesToNotBeNull(column="weight_sum")),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_of_ds")),
        # Each order's credit, under each model, adds up to one whole order.
        Check(
            gxe.ExpectColumnValuesToBeBetween(
                column="weight_sum",
                min_value=1 - WEIGHT_TOLERANCE,
                max_value=1 + WEIGHT_TOLERANCE,
            )
        ),
    ],
)


def identity_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """Each normalised email's keys in the identity map: how many, and the first (failures
    are named by key, so no email is copied into results or logs)."""
    import duckdb

    query = """
        select min(customer_key) as customer_key, count(distinct customer_key) as keys
        from read_parquet($identities)
        where email is not null
        group by email
    """
    with lake.local_files(curated_paths) as identities, duckdb.connect() as con:
        return con.execute(query, {"identities": identities}).df()


IDENTITY_RECONCILIATION = Suite(
    stage="curated",
    source="customers",
    entity="identity_map",
    projection="*",
    key_columns=["customer_key"],
    checks=lambda ds: [
        Check(gxe.ExpectColumnValuesToBeBetween(column="keys", min_value=1, max_value=1)),
    ],
)


# Curated entity (domain, entity) → its reconciliation suite and the frame it checks,
# built from (lake, ds, the staged curated files).
RECONCILIATIONS = {
    ("marketing", "ad_spend_daily"): (AD_SPEND_RECONCILIATION, ad_spend_frame),
    ("marketing", "order_attribution"): (ATTRIBUTION_RECONCILIATION, attribution_frame),
    ("customers", "identity_map"): (IDENTITY_RECONCILIATION, identity_frame),
}
