"""The marts gate: what dbt's marts must hold before analysts see them in `analytics`.

One owner per rule (DESIGN §3, docs/quality.md "Who owns which rule"): dbt's tests own
what a mart says about its own rows (keys unique and not null, relationships, accepted
values, value ranges, reconciliations with `fct_orders`) and fail `dbt build` before
this gate runs. This gate owns what dbt cannot say: freshness against the run's ds, no
date beyond the data loaded, and that a mart with nothing else to check is not empty.

Projections run in the warehouse, so a check can compare a mart with the facts it was
built from (the latest partition each has loaded).

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

from caravan.quality.checks import Check
from caravan.quality.suites import Suite

# The latest partition each fact has loaded: no date built from it can be later.
ORDERS_LOADED_THROUGH = "(select max(ds) from marts.fct_orders)"
SPEND_LOADED_THROUGH = "(select max(ds) from marts.fct_ad_spend_daily)"
SESSIONS_LOADED_THROUGH = "(select max(ds) from landing.web__sessions)"
REVIEWS_LOADED_THROUGH = "(select max(ds) from landing.shop_db__reviews)"
ISSUES_LOADED_THROUGH = "(select max(ds) from landing.issue_tracker__issues)"


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


def not_empty() -> Check:
    """At least one row: dbt's tests all pass on an empty table, analysts would not."""
    return Check(gxe.ExpectTableRowCountToBeBetween(min_value=1))


def _mart_suite(entity: str, projection: str, key_columns: list[str], checks) -> Suite:
    return Suite(
        stage="marts",
        source="marts",
        entity=entity,
        projection=projection,
        key_columns=key_columns,
        checks=checks,
    )


def _rows_only(entity: str, key: str) -> Suite:
    """A mart whose only check is that it has rows: the gate reads its key alone."""
    return _mart_suite(entity, key, [key], lambda ds: [not_empty()])


SUITES: dict[tuple[str, str], Suite] = {
    ("marts", "fct_orders"): _mart_suite(
        entity="fct_orders",
        projection="order_id, order_date::varchar as order_day, ds::varchar as partition_day",
        key_columns=["order_id"],
        checks=lambda ds: [
            # An order is not dated after the day the shop delivered it.
            not_after("partition_day", "order_day"),
            fresh("partition_day", ds),
        ],
    ),
    ("marts", "fct_ad_spend_daily"): _mart_suite(
        entity="fct_ad_spend_daily",
        projection=(
            "spend_date::varchar as spend_day, platform, campaign_id, ds::varchar as partition_day"
        ),
        key_columns=["spend_day", "platform", "campaign_id"],
        checks=lambda ds: [
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
            f" greatest({ORDERS_LOADED_THROUGH}, {SPEND_LOADED_THROUGH})::varchar"
            " as loaded_through"
        ),
        key_columns=["report_day", "channel", "campaign_id", "attribution_model"],
        checks=lambda ds: [
            not_empty(),
            not_after("loaded_through", "report_day"),
            fresh("report_day", ds),
        ],
    ),
    ("marts", "dim_customers"): _rows_only("dim_customers", "customer_version_key"),
    ("marts", "dim_campaigns"): _mart_suite(
        "dim_campaigns",
        "platform, campaign_id, last_spend_date::varchar as last_spend_day,"
        f" {SPEND_LOADED_THROUGH}::varchar as loaded_through",
        ["platform", "campaign_id"],
        lambda ds: [not_after("loaded_through", "last_spend_day")],
    ),
    ("marts", "dim_products"): _rows_only("dim_products", "product_id"),
    ("marts", "mart_sales_daily"): _mart_suite(
        "mart_sales_daily",
        "order_date::varchar as order_day, category, region,"
        f" {ORDERS_LOADED_THROUGH}::varchar as loaded_through",
        ["order_day", "category", "region"],
        lambda ds: [
            not_after("loaded_through", "order_day"),
            fresh("order_day", ds),
        ],
    ),
    ("marts", "mart_funnel_daily"): _mart_suite(
        "mart_funnel_daily",
        "session_date::varchar as session_day, channel,"
        f" {SESSIONS_LOADED_THROUGH}::varchar as loaded_through",
        ["session_day", "channel"],
        lambda ds: [
            not_after("loaded_through", "session_day"),
            fresh("session_day", ds),
        ],
    ),
    ("marts", "mart_customer_ltv"): _mart_suite(
        "mart_customer_ltv",
        "cohort_month::varchar as cohort, as_of_date::varchar as as_of_day,"
        f" {ORDERS_LOADED_THROUGH}::varchar as loaded_through",
        ["cohort"],
        lambda ds: [
            # A cohort starts (its month's first day) by the last order day, itself loaded.
            not_after("as_of_day", "cohort"),
            not_after("loaded_through", "as_of_day"),
            fresh("as_of_day", ds),
        ],
    ),
    # The text marts may be empty on a quiet day (no review, no issue changed yet); what
    # they hold is never dated after the texts loaded. The docs are always there.
    ("marts", "fct_reviews"): _mart_suite(
        "fct_reviews",
        f"review_id, review_date::varchar as review_day, {REVIEWS_LOADED_THROUGH}::varchar"
        " as loaded_through",
        ["review_id"],
        lambda ds: [not_after("loaded_through", "review_day")],
    ),
    ("marts", "mart_review_sentiment_daily"): _mart_suite(
        "mart_review_sentiment_daily",
        "review_date::varchar as review_day, product_id,"
        f" {REVIEWS_LOADED_THROUGH}::varchar as loaded_through",
        ["review_day", "product_id"],
        lambda ds: [not_after("loaded_through", "review_day")],
    ),
    ("marts", "mart_issues_weekly"): _mart_suite(
        "mart_issues_weekly",
        "week_start::varchar as week_day, label,"
        f" {ISSUES_LOADED_THROUGH}::varchar as loaded_through",
        ["week_day", "label"],
        lambda ds: [not_after("loaded_through", "week_day")],
    ),
    ("marts", "mart_knowledge_chunks"): _rows_only("mart_knowledge_chunks", "chunk_id"),
}


def suite_for(mart: str) -> Suite:
    """The suite that gates a mart; one with nothing of its own here must not be empty."""
    return SUITES.get(("marts", mart)) or _mart_suite(
        entity=mart, projection="*", key_columns=[], checks=lambda ds: [not_empty()]
    )
