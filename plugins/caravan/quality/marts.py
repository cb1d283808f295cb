"""The marts gate: what dbt's marts must hold before analysts see them in `analytics`.

Projections run in the warehouse, so a check can compare a mart with the facts
it was built from (attributed revenue per model against `fct_orders`).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.quality.curated import PLATFORMS, not_null
from caravan.quality.gate import Check
from caravan.quality.suites import Suite

# Orders that carry revenue: every status but cancelled and refunded.
REVENUE_ORDERS = "status not in ('cancelled', 'refunded')"
REVENUE_OF_FCT_ORDERS = f"(select sum(net_revenue) from marts.fct_orders where {REVENUE_ORDERS})"


def revenue_gap(column: str, partition_by: str | None = None) -> str:
    """Σ `column` (per `partition_by`, or over the mart) minus fct_orders' revenue."""
    window = f"partition by {partition_by}" if partition_by else ""
    return f"sum({column}) over ({window}) - {REVENUE_OF_FCT_ORDERS} as revenue_gap_vs_fct_orders"


def reconciles_with_fct_orders() -> Check:
    """To the cent: marts split revenue in whole cents, so nothing is lost in rounding."""
    return Check(
        gxe.ExpectColumnValuesToBeBetween(
            column="revenue_gap_vs_fct_orders", min_value=-0.005, max_value=0.005
        )
    )


def unique_key(*columns: str) -> list[Check]:
    return [
        *not_null(*columns),
        Check(
            gxe.ExpectColumnValuesToBeUnique(column=columns[0])
            if len(columns) == 1
            else gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))
        ),
    ]


def _mart_suite(entity: str, projection: str, key_columns: list[str], checks) -> Suite:
    return Suite(
        stage="marts",
        source="marts",
        entity=entity,
        projection=projection,
        key_columns=key_columns,
        checks=checks,
    )


SUITES: dict[tuple[str, str], Suite] = {
    ("marts", "fct_orders"): _mart_suite(
        entity="fct_orders",
        projection=(
            "order_id, customer_key, order_date,"
            " gross_revenue - discount_amount - net_revenue as net_revenue_gap,"
            # Not after the latest day loaded: a backfill of an early ds rebuilds the
            # marts over later days too, so the run's own ds is no bound.
            " order_date <= (select max(ds) from landing.sales__orders) as is_not_future"
        ),
        key_columns=["order_id"],
        checks=lambda ds: [
            *not_null("order_id", "customer_key", "order_date"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="net_revenue_gap", min_value=0, max_value=0
                )
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="is_not_future", value_set=[True])),
        ],
    ),
    ("marts", "fct_ad_spend_daily"): _mart_suite(
        entity="fct_ad_spend_daily",
        projection="spend_date::varchar as spend_day, platform, campaign_id, spend",
        key_columns=["spend_day", "platform", "campaign_id"],
        checks=lambda ds: [
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["spend_day", "platform", "campaign_id"]
                )
            ),
            Check(gxe.ExpectColumnValuesToBeBetween(column="spend", min_value=0)),
        ],
    ),
    ("marts", "mart_marketing_roi"): _mart_suite(
        entity="mart_marketing_roi",
        projection=(
            "report_date::varchar as report_day, channel, campaign_id, attribution_model,"
            f" roas, spend, {revenue_gap('attributed_revenue', 'attribution_model')}"
        ),
        key_columns=["report_day", "channel", "campaign_id", "attribution_model"],
        checks=lambda ds: [
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["report_day", "channel", "campaign_id", "attribution_model"]
                )
            ),
            Check(gxe.ExpectColumnValuesToBeBetween(column="roas", min_value=0)),
            Check(gxe.ExpectColumnValuesToBeBetween(column="spend", min_value=0)),
            reconciles_with_fct_orders(),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        ],
    ),
    ("marts", "dim_customers"): _mart_suite(
        "dim_customers",
        "customer_version_key, customer_id, customer_key, is_current",
        ["customer_version_key"],
        lambda ds: [
            *unique_key("customer_version_key"),
            *not_null("customer_key"),
        ],
    ),
    ("marts", "dim_campaigns"): _mart_suite(
        "dim_campaigns",
        "platform, campaign_id",
        ["platform", "campaign_id"],
        lambda ds: [
            *unique_key("campaign_id"),
            Check(gxe.ExpectColumnValuesToBeInSet(column="platform", value_set=PLATFORMS)),
        ],
    ),
    ("marts", "dim_products"): _mart_suite(
        "dim_products",
        "product_id, category, price",
        ["product_id"],
        lambda ds: [
            *unique_key("product_id"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0)),
        ],
    ),
    ("marts", "mart_sales_daily"): _mart_suite(
        "mart_sales_daily",
        f"order_date::varchar as order_day, category, region, units, {revenue_gap('net_revenue')}",
        ["order_day", "category", "region"],
        lambda ds: [
            *unique_key("order_day", "category", "region"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="units", min_value=1)),
            reconciles_with_fct_orders(),
        ],
    ),
    ("marts", "mart_funnel_daily"): _mart_suite(
        "mart_funnel_daily",
        "session_date::varchar as session_day, channel, sessions, conversion_rate,"
        " session_date <= (select max(ds) from landing.web__sessions) as is_not_future",
        ["session_day", "channel"],
        lambda ds: [
            *unique_key("session_day", "channel"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="sessions", min_value=1)),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="conversion_rate", min_value=0, max_value=1
                )
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="is_not_future", value_set=[True])),
        ],
    ),
    ("marts", "mart_customer_ltv"): _mart_suite(
        "mart_customer_ltv",
        f"cohort_month::varchar as cohort, customers, {revenue_gap('revenue')}",
        ["cohort"],
        lambda ds: [
            *unique_key("cohort"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="customers", min_value=1)),
            reconciles_with_fct_orders(),
        ],
    ),
}
