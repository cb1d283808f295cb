"""The curated gate: what a Spark job's output must hold before it is published."""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.quality.gate import Check
from caravan.quality.suites import Suite

PLATFORMS = ["google_ads", "meta_ads"]


def restated_days(ds: str) -> list[str]:
    """The days an ad spend partition may hold: ds and the longest platform lookback."""
    from caravan.settings import get_settings
    from caravan.sources.registry import load_registry
    from caravan.sources.window import Window

    registry = load_registry(get_settings().dags_dir / "sources.yaml")
    windows = [
        Window.for_run(registry[p], registry[p].entities[entity], ds)
        for p, entity in (("google_ads", "campaign_performance"), ("meta_ads", "insights"))
        if p in registry
    ]
    return sorted({day for window in windows for day in window.days()} | {ds})


ORDER_STATUSES = ["placed", "shipped", "delivered", "cancelled", "refunded"]

SUITES: dict[tuple[str, str], Suite] = {
    ("marketing", "ad_spend_daily"): Suite(
        stage="curated",
        source="marketing",
        entity="ad_spend_daily",
        projection="*, spend_date::varchar as spend_day",
        key_columns=["spend_date", "platform", "campaign_id"],
        checks=lambda ds: [
            *[
                Check(gxe.ExpectColumnValuesToNotBeNull(column=c))
                for c in ("spend_date", "platform", "campaign_id", "currency", "spend")
            ],
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["spend_date", "platform", "campaign_id"]
                )
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="platform", value_set=PLATFORMS)),
            # A run re-reads the platforms' lookback: its partition holds those days too.
            Check(gxe.ExpectColumnValuesToBeInSet(column="spend_day", value_set=restated_days(ds))),
            *[
                Check(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0))
                for c in ("spend", "impressions", "clicks")
            ],
        ],
    ),
    ("sales", "orders"): Suite(
        stage="curated",
        source="sales",
        entity="orders",
        projection=(
            "*, updated_at::date::varchar as updated_day,"
            " datediff('day', order_date, updated_at::date) as days_from_order_to_update,"
            " gross_revenue - discount_amount - net_revenue as net_revenue_gap"
        ),
        key_columns=["order_id"],
        checks=lambda ds: [
            *[
                Check(gxe.ExpectColumnValuesToNotBeNull(column=c))
                for c in ("order_id", "customer_key", "order_date", "status", "net_revenue")
            ],
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
            # A partition holds the orders changed on ds, placed then or before.
            Check(gxe.ExpectColumnValuesToBeInSet(column="updated_day", value_set=[ds])),
            Check(
                gxe.ExpectColumnValuesToBeBetween(column="days_from_order_to_update", min_value=0)
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES)),
            Check(gxe.ExpectColumnValuesToBeBetween(column="net_revenue", min_value=0)),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="net_revenue_gap", min_value=0, max_value=0
                )
            ),
        ],
    ),
}
