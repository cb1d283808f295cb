"""The marts gate: what dbt's marts must hold before analysts see them in `analytics`.

Projections run in the warehouse, so a check can compare a mart with the facts
it was built from (attributed revenue per model against `fct_orders`).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.quality.gate import Check
from caravan.quality.suites import Suite

# Orders that carry revenue: every status but cancelled and refunded.
REVENUE_ORDERS = "status not in ('cancelled', 'refunded')"

SUITES: dict[tuple[str, str], Suite] = {
    ("marts", "fct_orders"): Suite(
        stage="marts",
        source="marts",
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
            *[
                Check(gxe.ExpectColumnValuesToNotBeNull(column=c))
                for c in ("order_id", "customer_key", "order_date")
            ],
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="net_revenue_gap", min_value=0, max_value=0
                )
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="is_not_future", value_set=[True])),
        ],
    ),
    ("marts", "fct_ad_spend_daily"): Suite(
        stage="marts",
        source="marts",
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
    ("marts", "mart_marketing_roi"): Suite(
        stage="marts",
        source="marts",
        entity="mart_marketing_roi",
        projection=(
            "report_date::varchar as report_day, channel, campaign_id, attribution_model,"
            " roas, spend,"
            " sum(attributed_revenue) over (partition by attribution_model)"
            f" - (select sum(net_revenue) from marts.fct_orders where {REVENUE_ORDERS})"
            " as revenue_gap_vs_fct_orders"
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
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="revenue_gap_vs_fct_orders", min_value=-0.01, max_value=0.01
                )
            ),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        ],
    ),
}
