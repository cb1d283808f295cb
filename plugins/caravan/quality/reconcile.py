"""Reconciliations: a curated partition against the raw partitions it was made from,
or against another output of the same job run.

The figures are worked out again here in DuckDB SQL, independently of the Spark
job, so a job that drops, doubles or mis-converts a row fails its gate.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pandas as pd

from caravan.contracts import ATTRIBUTION_MODELS
from caravan.lake import Lake, Partition
from caravan.quality.checks import Check, zero_gap
from caravan.quality.frames import query_files
from caravan.quality.suites import Suite

AD_SPEND_KEYS = ["spend_date", "platform", "campaign_id"]


def published(lake: Lake, zone: str, source: str, entity: str, ds: str) -> list[str]:
    """The files a published partition's manifest lists."""
    return lake.published_files(Partition(zone, source, entity, ds))


# Raw spend per date × platform × campaign in the reporting currency: Google's micros
# exactly, Meta's spend at the day's rate half up to cents (rows without a rate are in
# quarantine, so they are left out here too).
def reconciliation(domain: str, entity: str, key_columns: list[str], checks) -> Suite:
    """A curated output's suite against what it was made from: checks run on the frame its
    `*_frame` function builds, and failing rows are named by `key_columns` of that frame."""
    return Suite(
        stage="curated",
        source=domain,
        entity=entity,
        projection="*",
        key_columns=key_columns,
        checks=checks,
    )


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
    from caravan.settings import get_settings

    currency = currency or get_settings().reporting_currency
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
    files = {
        "google": published(lake, "raw", "google_ads", "campaign_performance", ds),
        "meta": published(lake, "raw", "meta_ads", "insights", ds),
        "rates": published(lake, "raw", "fx_rates", "rates", ds),
        "curated": curated_paths,
    }
    return query_files(lake, query, files, currency=currency)


AD_SPEND_RECONCILIATION = reconciliation(
    "marketing",
    "ad_spend_daily",
    key_columns=AD_SPEND_KEYS,
    checks=lambda ds: [
        # Every raw campaign-day is in the curated partition and nothing else is.
        Check(gxe.ExpectColumnValuesToNotBeNull(column="curated_spend")),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="raw_spend")),
        # To the cent, and below: Google's micros are kept exactly.
        zero_gap("difference"),
    ],
)


def attribution_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """Each order of the curated orders partition of ds × each model, beside the weights
    attributed to it; an order or a model missing on either side has a null."""
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
    files = {
        "orders": published(lake, "curated", "sales", "orders", ds),
        "attribution": curated_paths,
    }
    return query_files(lake, query, files, models=list(ATTRIBUTION_MODELS))


WEIGHT_TOLERANCE = 1e-9

ATTRIBUTION_RECONCILIATION = reconciliation(
    "marketing",
    "order_attribution",
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
    query = """
        select min(customer_key) as customer_key, count(distinct customer_key) as keys
        from read_parquet($identities)
        where email is not null
        group by email
    """
    return query_files(lake, query, {"identities": curated_paths})


IDENTITY_RECONCILIATION = reconciliation(
    "customers",
    "identity_map",
    key_columns=["customer_key"],
    checks=lambda ds: [
        Check(gxe.ExpectColumnValuesToBeBetween(column="keys", min_value=1, max_value=1)),
    ],
)


def staged_files(lake: Lake, partition: Partition) -> list[str]:
    """The Parquet files a job run staged for a partition (its gate runs before publishing)."""
    files = sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet"))
    if not files:
        raise FileNotFoundError(f"{lake.staging_path(partition)}: nothing staged")
    return files


def order_items_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """Each order of the orders partition the same run staged beside its lines in the
    order_items partition: revenue and units from both sides, per order."""
    query = """
        with orders as (
            select order_id, gross_revenue, units from read_parquet($orders)
        ),
        lines as (
            select order_id, sum(line_revenue) as lines_revenue, sum(quantity) as lines_units
            from read_parquet($items)
            group by order_id
        )
        select
            coalesce(orders.order_id, lines.order_id) as order_id,
            orders.order_id is not null as has_order,
            -- An order without lines has a gross of 0.00 and 0 units (curate_orders).
            cast(orders.gross_revenue - coalesce(lines.lines_revenue, 0) as double)
                as revenue_gap,
            orders.units - coalesce(lines.lines_units, 0) as units_gap
        from orders
        full outer join lines using (order_id)
    """
    orders = staged_files(lake, Partition("curated", "sales", "orders", ds))
    return query_files(lake, query, {"orders": orders, "items": curated_paths})


ORDER_ITEMS_RECONCILIATION = reconciliation(
    "sales",
    "order_items",
    key_columns=["order_id"],
    checks=lambda ds: [
        # An order's lines add up to its gross revenue and its units (orders without lines
        # are 0 on both sides; a gap is null for lines whose order is not in the partition).
        zero_gap("revenue_gap"),
        zero_gap("units_gap"),
        # Lines whose order is not in the partition: the order's record went to quarantine
        # at the raw gate (within its threshold) and its lines did not. Recorded, not blocking.
        Check(gxe.ExpectColumnValuesToBeInSet(column="has_order", value_set=[True]), "warn"),
    ],
)


# Campaign ids as each platform's raw records carry them: the snapshot and the spend.
_RAW_CAMPAIGNS = """
select 'google_ads' as platform, json ->> '$.campaign.id' as campaign_id
from read_json_objects($google_campaigns, format = 'newline_delimited', compression = 'gzip')
union all
select 'meta_ads', json ->> '$.id'
from read_json_objects($meta_campaigns, format = 'newline_delimited', compression = 'gzip')
"""
_RAW_SPEND_CAMPAIGNS = """
select 'google_ads' as platform, json ->> '$.campaign.id' as campaign_id
from read_json_objects($google_spend, format = 'newline_delimited', compression = 'gzip')
union
select 'meta_ads', json ->> '$.campaign_id'
from read_json_objects($meta_spend, format = 'newline_delimited', compression = 'gzip')
"""


def campaigns_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """Each (platform, campaign_id) of the curated campaigns, the raw campaign snapshots
    and the raw spend of ds: on which sides it is (null where a check does not apply)."""
    query = f"""
        with curated as (select distinct platform, campaign_id from read_parquet($curated)),
        snapshot as (select distinct * from ({_RAW_CAMPAIGNS})),
        spend as ({_RAW_SPEND_CAMPAIGNS})
        select
            platform,
            campaign_id,
            case when snapshot.campaign_id is not null
                then curated.campaign_id is not null end as snapshot_campaign_curated,
            case when curated.campaign_id is not null
                then snapshot.campaign_id is not null end as curated_campaign_in_snapshot,
            case when spend.campaign_id is not null
                then curated.campaign_id is not null end as spend_campaign_curated
        from curated
        full outer join snapshot using (platform, campaign_id)
        full outer join spend using (platform, campaign_id)
    """
    files = {
        "google_campaigns": published(lake, "raw", "google_ads", "campaigns", ds),
        "meta_campaigns": published(lake, "raw", "meta_ads", "campaigns", ds),
        "google_spend": published(lake, "raw", "google_ads", "campaign_performance", ds),
        "meta_spend": published(lake, "raw", "meta_ads", "insights", ds),
        "curated": curated_paths,
    }
    return query_files(lake, query, files)


CAMPAIGNS_RECONCILIATION = reconciliation(
    "marketing",
    "campaigns",
    key_columns=["platform", "campaign_id"],
    checks=lambda ds: [
        # Every campaign of the platforms' snapshots, and nothing else.
        Check(
            gxe.ExpectColumnValuesToBeInSet(column="snapshot_campaign_curated", value_set=[True])
        ),
        Check(
            gxe.ExpectColumnValuesToBeInSet(column="curated_campaign_in_snapshot", value_set=[True])
        ),
        # Spend of a campaign the snapshot lacks (deleted since, or ids that do not match):
        # its spend rows would have no campaign in the warehouse. Recorded, not blocking.
        Check(
            gxe.ExpectColumnValuesToBeInSet(column="spend_campaign_curated", value_set=[True]),
            "warn",
        ),
    ],
)


# The customers entity's columns, exactly: no email and no names reach the warehouse.
CUSTOMER_COLUMNS = ["customer_id", "customer_key", "region", "created_at", "updated_at"]
_CUSTOMER_CHECK_COLUMNS = ["in_curated", "in_raw", "key_matches"]


def customers_frame(lake: Lake, ds: str, curated_paths: list[str]) -> pd.DataFrame:
    """The curated customers (their own columns, as the files hold them) beside the raw
    snapshot's: on which sides each customer is, and whether its key is the normalised
    email's, worked out again here."""
    query = """
        with raw as (
            select
                json ->> '$.customer_id' as customer_id,
                substr(sha256(nullif(lower(trim(json ->> '$.email')), '')), 1, 16)
                    as expected_key
            from read_json_objects($raw, format = 'newline_delimited', compression = 'gzip')
        ),
        -- Not the folder's ds: only the columns the job wrote.
        curated as (select * from read_parquet($curated, hive_partitioning = false))
        select
            curated.* replace (coalesce(curated.customer_id, raw.customer_id) as customer_id),
            curated.customer_id is not null as in_curated,
            raw.customer_id is not null as in_raw,
            curated.customer_key is not distinct from raw.expected_key as key_matches
        from curated
        full outer join raw on curated.customer_id = raw.customer_id
    """
    raw = published(lake, "raw", "shop_db", "customers", ds)
    return query_files(lake, query, {"raw": raw, "curated": curated_paths})


CUSTOMERS_RECONCILIATION = reconciliation(
    "customers",
    "customers",
    key_columns=["customer_id"],
    checks=lambda ds: [
        # Every customer of the shop's snapshot, and no other.
        Check(gxe.ExpectColumnValuesToBeInSet(column="in_curated", value_set=[True])),
        Check(gxe.ExpectColumnValuesToBeInSet(column="in_raw", value_set=[True])),
        # The key orders get: the first 16 hex digits of the normalised email's SHA-256.
        Check(gxe.ExpectColumnValuesToBeInSet(column="key_matches", value_set=[True])),
        # The contract's columns and no others: an email or a name column fails the gate.
        Check(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[*CUSTOMER_COLUMNS, *_CUSTOMER_CHECK_COLUMNS], exact_match=True
            )
        ),
    ],
)


# Curated entity (domain, entity) → its reconciliation suite and the frame it checks,
# built from (lake, ds, the staged curated files).
RECONCILIATIONS = {
    ("marketing", "ad_spend_daily"): (AD_SPEND_RECONCILIATION, ad_spend_frame),
    ("marketing", "order_attribution"): (ATTRIBUTION_RECONCILIATION, attribution_frame),
    ("customers", "identity_map"): (IDENTITY_RECONCILIATION, identity_frame),
    ("sales", "order_items"): (ORDER_ITEMS_RECONCILIATION, order_items_frame),
    ("customers", "customers"): (CUSTOMERS_RECONCILIATION, customers_frame),
    ("marketing", "campaigns"): (CAMPAIGNS_RECONCILIATION, campaigns_frame),
}
