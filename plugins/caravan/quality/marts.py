"""The marts gate: what dbt's marts must hold before analysts see them in `analytics`.

Projections run in the warehouse, so a check can compare a mart with the facts
it was built from (attributed revenue per model against `fct_orders`).

Dates are checked against the data's own clock, not the run's ds: a backfill of an
early ds rebuilds the marts over every partition loaded, later ones included. A fact
row is never dated after the partition (`ds`) that delivered it; a mart built from
facts never after the latest partition loaded (`loaded_through`). Freshness (the
marts have caught up with the run's ds) is `warn`: a late source leaves the marts
right about what they hold, only behind, which is worth a notice, not a block.
Every other check is `error`.
"""

from __future__ import annotations

from datetime import date, timedelta

import great_expectations.expectations as gxe

from caravan.quality.curated import PLATFORMS, not_null
from caravan.quality.gate import Check
from caravan.quality.suites import Suite

# Orders that carry revenue: every status but cancelled and refunded.
REVENUE_ORDERS = "status not in ('cancelled', 'refunded')"
REVENUE_OF_FCT_ORDERS = f"(select sum(net_revenue) from marts.fct_orders where {REVENUE_ORDERS})"
# The latest partition each fact has loaded: no date built from it can be later.
ORDERS_LOADED_THROUGH = "(select max(ds) from marts.fct_orders)"
SPEND_LOADED_THROUGH = "(select max(ds) from marts.fct_ad_spend_daily)"
SESSIONS_LOADED_THROUGH = "(select max(ds) from landing.web__sessions)"


def not_after(later: str, earlier: str) -> Check:
    """`earlier` <= `later` on every row (ISO day text); a missing one is not_null's job."""
    return Check(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing"
        ),
        severity="error",
    )


def fresh(column: str, ds: str, days_behind: int = 0) -> Check:
    """The latest day in `column` is at least ds - `days_behind`: the run's data arrived."""
    oldest = (date.fromisoformat(ds) - timedelta(days=days_behind)).isoformat()
    return Check(gxe.ExpectColumnMaxToBeBetween(column=column, min_value=oldest), severity="warn")


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
            "order_id, customer_key, order_date::varchar as order_day,"
            " ds::varchar as partition_day,"
            " gross_revenue - discount_amount - net_revenue as net_revenue_gap"
        ),
        key_columns=["order_id"],
        checks=lambda ds: [
            *not_null("order_id", "customer_key", "order_day"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="net_revenue_gap", min_value=0, max_value=0
                )
            ),
            # An order is not dated after the day the shop delivered it.
            not_after("partition_day", "order_day"),
            fresh("partition_day", ds),
        ],
    ),
    ("marts", "fct_ad_spend_daily"): _mart_suite(
        entity="fct_ad_spend_daily",
        projection=(
            "spend_date::varchar as spend_day, platform, campaign_id, spend,"
            " ds::varchar as partition_day"
        ),
        key_columns=["spend_day", "platform", "campaign_id"],
        checks=lambda ds: [
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["spend_day", "platform", "campaign_id"]
                )
            ),
            Check(gxe.ExpectColumnValuesToBeBetween(column="spend", min_value=0)),
            # Platforms restate earlier days, never report later ones.
            not_after("partition_day", "spend_day"),
            fresh("partition_day", ds),
            # Each run's window ends on ds, and the platforms report the day itself.
            fresh("spend_day", ds),
        ],
    ),
    ("marts", "mart_marketing_roi"): _mart_suite(
        entity="mart_marketing_roi",
        projection=(
            "report_date::varchar as report_day, channel, campaign_id, attribution_model,"
            f" roas, spend, {revenue_gap('attributed_revenue', 'attribution_model')},"
            f" greatest({ORDERS_LOADED_THROUGH}, {SPEND_LOADED_THROUGH})::varchar"
            " as loaded_through"
        ),
        key_columns=["report_day", "channel", "campaign_id", "attribution_model"],
        checks=lambda ds: [
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["report_day", "channel", "campaign_id", "attribution_model"]
                )
            ),
            # ROAS is null (undefined) without spend; GX leaves nulls out of the check.
            Check(gxe.ExpectColumnValuesToBeBetween(column="roas", min_value=0), severity="error"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="spend", min_value=0)),
            reconciles_with_fct_orders(),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
            not_after("loaded_through", "report_day"),
            fresh("report_day", ds),
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
        "platform, campaign_id, last_spend_date::varchar as last_spend_day,"
        f" {SPEND_LOADED_THROUGH}::varchar as loaded_through",
        ["platform", "campaign_id"],
        lambda ds: [
            *unique_key("campaign_id"),
            Check(gxe.ExpectColumnValuesToBeInSet(column="platform", value_set=PLATFORMS)),
            not_after("loaded_through", "last_spend_day"),
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
        f"order_date::varchar as order_day, category, region, units, {revenue_gap('net_revenue')},"
        f" {ORDERS_LOADED_THROUGH}::varchar as loaded_through",
        ["order_day", "category", "region"],
        lambda ds: [
            *unique_key("order_day", "category", "region"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="units", min_value=1)),
            reconciles_with_fct_orders(),
            not_after("loaded_through", "order_day"),
            fresh("order_day", ds),
        ],
    ),
    ("marts", "mart_funnel_daily"): _mart_suite(
        "mart_funnel_daily",
        "session_date::varchar as session_day, channel, sessions, conversion_rate,"
        f" {SESSIONS_LOADED_THROUGH}::varchar as loaded_through",
        ["session_day", "channel"],
        lambda ds: [
            *unique_key("session_day", "channel"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="sessions", min_value=1)),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="conversion_rate", min_value=0, max_value=1
                )
            ),
            not_after("loaded_through", "session_day"),
            fresh("session_day", ds),
        ],
    ),
    ("marts", "mart_customer_ltv"): _mart_suite(
        "mart_customer_ltv",
        f"cohort_month::varchar as cohort, customers, {revenue_gap('revenue')},"
        f" as_of_date::varchar as as_of_day, {ORDERS_LOADED_THROUGH}::varchar as loaded_through",
        ["cohort"],
        lambda ds: [
            *unique_key("cohort"),
            Check(gxe.ExpectColumnValuesToBeBetween(column="customers", min_value=1)),
            reconciles_with_fct_orders(),
            # A cohort starts (its month's first day) by the last order day, itself loaded.
            not_after("as_of_day", "cohort"),
            not_after("loaded_through", "as_of_day"),
            fresh("as_of_day", ds),
        ],
    ),
}
