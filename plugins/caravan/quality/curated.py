"""The curated gate: what a Spark job's output must hold before it is published."""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.contracts import ATTRIBUTION_LOOKBACK_DAYS, ATTRIBUTION_MODELS, CHANNELS
from caravan.quality.checks import Check
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


def day_before(ds: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(ds) - timedelta(days=1)).isoformat()


def end_of_day(ds: str) -> str:
    """The instant ds ends (UTC): a snapshot of ds holds what existed before it."""
    from datetime import date, timedelta

    return f"{(date.fromisoformat(ds) + timedelta(days=1)).isoformat()}T00:00:00"


def created_by_end_of(ds: str) -> Check:
    """A snapshot of ds holds only what was created by the end of ds."""
    return Check(
        gxe.ExpectColumnValuesToBeBetween(
            column="created_at", max_value=end_of_day(ds), strict_max=True
        )
    )


def raw_rows(source: str, entity: str, ds: str) -> int:
    """The rows a published raw partition holds (from its manifest)."""
    from caravan.lake import Lake, Partition
    from caravan.settings import get_settings

    partition = Partition("raw", source, entity, ds)
    manifest = Lake(get_settings().lake_url).read_manifest(partition)
    if manifest is None:
        raise FileNotFoundError(f"{partition} is not published")
    return manifest.rows


def every_event_in_one_session(events: int) -> Check:
    """Every event of the day's export is in exactly one session: Σ events_on_ds = events."""
    return Check(
        gxe.ExpectColumnSumToBeBetween(column="events_on_ds", min_value=events, max_value=events)
    )


def not_null(*columns: str) -> list[Check]:
    return [Check(gxe.ExpectColumnValuesToNotBeNull(column=c)) for c in columns]


def non_negative(*columns: str) -> list[Check]:
    return [Check(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)) for c in columns]


ORDER_STATUSES = ["placed", "shipped", "delivered", "cancelled", "refunded"]
# A campaign's status as each platform names it (Google's CampaignStatus, Meta's configured
# `status`), lower-cased, prefixed with the platform.
CAMPAIGN_STATUSES = [
    *(f"google_ads:{status}" for status in ("enabled", "paused", "removed")),
    *(f"meta_ads:{status}" for status in ("active", "paused", "deleted", "archived")),
]
ORDER_EVENT_TYPES = ["order_placed", "invoice_paid", "order_shipped"]
ID_TYPES = ["shop_customer", "crm_contact", "web_visitor"]
LINKS = ["email", "user_id", "transaction_id", "none"]

SUITES: dict[tuple[str, str], Suite] = {
    ("marketing", "ad_spend_daily"): Suite(
        stage="curated",
        source="marketing",
        entity="ad_spend_daily",
        projection="*, spend_date::varchar as spend_day",
        key_columns=["spend_date", "platform", "campaign_id"],
        checks=lambda ds: [
            *not_null("spend_date", "platform", "campaign_id", "currency", "spend"),
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
            *not_null("order_id", "customer_key", "order_date", "status", "net_revenue"),
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
    ("sales", "order_items"): Suite(
        stage="curated",
        source="sales",
        entity="order_items",
        projection=(
            "*, updated_at::date::varchar as updated_day,"
            " datediff('day', order_date, updated_at::date) as days_from_order_to_update,"
            " quantity * unit_price - line_revenue as line_revenue_gap"
        ),
        key_columns=["order_item_id"],
        checks=lambda ds: [
            *not_null(
                "order_item_id",
                "order_id",
                "product_id",
                "quantity",
                "unit_price",
                "line_revenue",
                "order_date",
                "updated_at",
            ),
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_item_id")),
            # The lines of the orders changed on ds, placed then or before.
            Check(gxe.ExpectColumnValuesToBeInSet(column="updated_day", value_set=[ds])),
            Check(
                gxe.ExpectColumnValuesToBeBetween(column="days_from_order_to_update", min_value=0)
            ),
            *non_negative("quantity", "unit_price", "line_revenue"),
            # line_revenue = quantity × unit_price, to the cent.
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="line_revenue_gap", min_value=0, max_value=0
                )
            ),
        ],
    ),
    ("sales", "products"): Suite(
        stage="curated",
        source="sales",
        entity="products",
        projection=(
            "*, datediff('second', created_at, updated_at) as seconds_from_creation_to_update"
        ),
        key_columns=["product_id"],
        checks=lambda ds: [
            *not_null("product_id", "sku", "product_name", "price", "created_at", "updated_at"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="product_id")),
            *non_negative("price", "seconds_from_creation_to_update"),
            created_by_end_of(ds),
        ],
    ),
    ("customers", "customers"): Suite(
        stage="curated",
        source="customers",
        entity="customers",
        projection=(
            "*, length(customer_key) as key_length,"
            " datediff('second', created_at, updated_at) as seconds_from_creation_to_update"
        ),
        key_columns=["customer_id"],
        checks=lambda ds: [
            *not_null("customer_id", "customer_key", "created_at", "updated_at"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="customer_id")),
            Check(
                gxe.ExpectColumnValuesToBeBetween(column="key_length", min_value=16, max_value=16)
            ),
            *non_negative("seconds_from_creation_to_update"),
            created_by_end_of(ds),
        ],
    ),
    ("marketing", "campaigns"): Suite(
        stage="curated",
        source="marketing",
        entity="campaigns",
        projection="*, platform || ':' || status as platform_status",
        key_columns=["platform", "campaign_id"],
        checks=lambda ds: [
            *not_null("platform", "campaign_id", "campaign_name", "status"),
            Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=["platform", "campaign_id"])),
            Check(gxe.ExpectColumnValuesToBeInSet(column="platform", value_set=PLATFORMS)),
            Check(
                gxe.ExpectColumnValuesToBeInSet(
                    column="platform_status", value_set=CAMPAIGN_STATUSES
                )
            ),
        ],
    ),
    ("web", "sessions"): Suite(
        stage="curated",
        source="web",
        entity="sessions",
        projection=(
            "*, session_start::date::varchar as start_day, session_end::date::varchar as end_day,"
            " datediff('second', session_start, session_end) as seconds_from_start_to_end,"
            " events - events_on_ds as events_before_ds"
        ),
        key_columns=["session_id"],
        checks=lambda ds: [
            *not_null("session_id", "user_pseudo_id", "session_start", "session_end", "channel"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="session_id")),
            # Start ≤ end; a session is in the partition of each day it was active on.
            Check(
                gxe.ExpectColumnValuesToBeBetween(column="seconds_from_start_to_end", min_value=0)
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="end_day", value_set=[ds])),
            Check(
                gxe.ExpectColumnValuesToBeInSet(column="start_day", value_set=[day_before(ds), ds])
            ),
            Check(gxe.ExpectColumnValuesToBeBetween(column="events_on_ds", min_value=1)),
            Check(gxe.ExpectColumnValuesToBeBetween(column="events_before_ds", min_value=0)),
            Check(gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=list(CHANNELS))),
            every_event_in_one_session(raw_rows("web_analytics", "events", ds)),
        ],
    ),
    ("customers", "identity_map"): Suite(
        stage="curated",
        source="customers",
        entity="identity_map",
        projection=(
            "*, length(customer_key) as key_length,"
            " coalesce(email = lower(trim(email)), true) as email_is_normalised"
        ),
        key_columns=["id_type", "id_value"],
        checks=lambda ds: [
            *not_null("customer_key", "id_type", "id_value", "linked_via"),
            Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=["id_type", "id_value"])),
            Check(gxe.ExpectColumnValuesToBeInSet(column="id_type", value_set=ID_TYPES)),
            Check(gxe.ExpectColumnValuesToBeInSet(column="linked_via", value_set=LINKS)),
            Check(
                gxe.ExpectColumnValuesToBeBetween(column="key_length", min_value=16, max_value=16)
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="email_is_normalised", value_set=[True])),
        ],
    ),
    ("sales", "order_events"): Suite(
        stage="curated",
        source="sales",
        entity="order_events",
        projection="*, first_sent_at::date::varchar as first_sent_day",
        key_columns=["order_id", "event_type"],
        checks=lambda ds: [
            *not_null("order_id", "event_type", "occurred_at", "first_message_id", "first_app"),
            Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=["order_id", "event_type"])),
            Check(
                gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=ORDER_EVENT_TYPES)
            ),
            # Reported on ds for the first time: its first message arrived that day.
            Check(gxe.ExpectColumnValuesToBeInSet(column="first_sent_day", value_set=[ds])),
            Check(gxe.ExpectColumnValuesToBeBetween(column="messages", min_value=1)),
            Check(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0)),
        ],
    ),
    ("marketing", "order_attribution"): Suite(
        stage="curated",
        source="marketing",
        entity="order_attribution",
        projection="*, datediff('second', touch_at, placed_at) as seconds_from_touch_to_order",
        key_columns=["order_id", "attribution_model", "session_id"],
        checks=lambda ds: [
            *not_null("order_id", "customer_key", "attribution_model", "channel", "weight"),
            Check(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["order_id", "attribution_model", "session_id"]
                )
            ),
            Check(
                gxe.ExpectColumnValuesToBeInSet(
                    column="attribution_model", value_set=list(ATTRIBUTION_MODELS)
                )
            ),
            Check(gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=list(CHANNELS))),
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="weight", min_value=0, max_value=1, strict_min=True
                )
            ),
            # Touchpoints inside the lookback window (direct rows have none: null, not checked).
            Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="seconds_from_touch_to_order",
                    min_value=0,
                    max_value=ATTRIBUTION_LOOKBACK_DAYS * 86_400,
                )
            ),
        ],
    ),
}
