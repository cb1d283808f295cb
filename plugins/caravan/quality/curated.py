"""The curated gate: what a Spark job's output must hold before it is published.

Every curated dataset of the catalogue is gated: by its suite here, or, for one without
a suite yet, by its catalogue key (not null, unique).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.catalog import Dataset, curated_dataset
from caravan.contracts import (
    ATTRIBUTION_LOOKBACK_DAYS,
    ATTRIBUTION_MODELS,
    CHANNELS,
    ISSUE_TOPICS,
    REVIEW_TOPICS,
    SENTIMENTS,
)
from caravan.quality.checks import Check, zero_gap
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


def _suite(domain: str, entity: str, projection: str, checks) -> Suite:
    """A curated dataset's suite; its key (naming failing rows) is the catalogue's."""
    return Suite(
        stage="curated",
        source=domain,
        entity=entity,
        projection=projection,
        key_columns=list(curated_dataset(domain, entity).key),
        checks=checks,
    )


def key_suite(dataset: Dataset) -> Suite:
    """What every curated dataset must hold: its catalogue key present and unique."""
    key = list(dataset.key)
    unique = (
        gxe.ExpectColumnValuesToBeUnique(column=key[0])
        if len(key) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(column_list=key)
    )
    return Suite(
        stage="curated",
        source=dataset.domain,
        entity=dataset.name,
        projection="*",
        key_columns=key,
        checks=lambda ds: [*not_null(*key), Check(unique)],
    )


_CHECKED: tuple[Suite, ...] = (
    _suite(
        "marketing",
        "ad_spend_daily",
        projection="*, spend_date::varchar as spend_day",
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
    _suite(
        "sales",
        "orders",
        projection=(
            "*, updated_at::date::varchar as updated_day,"
            " datediff('day', order_date, updated_at::date) as days_from_order_to_update,"
            " gross_revenue - discount_amount - net_revenue as net_revenue_gap"
        ),
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
            zero_gap("net_revenue_gap"),
        ],
    ),
    _suite(
        "sales",
        "order_items",
        projection=(
            "*, updated_at::date::varchar as updated_day,"
            " datediff('day', order_date, updated_at::date) as days_from_order_to_update,"
            " quantity * unit_price - line_revenue as line_revenue_gap"
        ),
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
            zero_gap("line_revenue_gap"),
        ],
    ),
    _suite(
        "sales",
        "products",
        projection=(
            "*, datediff('second', created_at, updated_at) as seconds_from_creation_to_update"
        ),
        checks=lambda ds: [
            *not_null("product_id", "sku", "product_name", "price", "created_at", "updated_at"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="product_id")),
            *non_negative("price", "seconds_from_creation_to_update"),
            created_by_end_of(ds),
        ],
    ),
    _suite(
        "customers",
        "customers",
        projection=(
            "*, length(customer_key) as key_length,"
            " datediff('second', created_at, updated_at) as seconds_from_creation_to_update"
        ),
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
    _suite(
        "marketing",
        "campaigns",
        projection="*, platform || ':' || status as platform_status",
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
    _suite(
        "web",
        "sessions",
        projection=(
            "*, session_start::date::varchar as start_day, session_end::date::varchar as end_day,"
            " datediff('second', session_start, session_end) as seconds_from_start_to_end,"
            " events - events_on_ds as events_before_ds"
        ),
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
    _suite(
        "customers",
        "identity_map",
        projection=(
            "*, length(customer_key) as key_length,"
            " coalesce(email = lower(trim(email)), true) as email_is_normalised"
        ),
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
    _suite(
        "sales",
        "order_events",
        projection="*, first_sent_at::date::varchar as first_sent_day",
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
    _suite(
        "marketing",
        "order_attribution",
        projection="*, datediff('second', touch_at, placed_at) as seconds_from_touch_to_order",
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
    *(
        _suite(
            "enrichment",
            labels,
            projection="*, cast(source_ds as timestamp) as source_day_start",
            checks=lambda ds, key=key, topics=topics: [
                *not_null(key, "sentiment", "language", "labelled_by", "prompt_version"),
                Check(gxe.ExpectColumnValuesToBeUnique(column=key)),
                Check(gxe.ExpectColumnValuesToBeInSet(column="sentiment", value_set=SENTIMENTS)),
                Check(gxe.ExpectColumnValuesToBeInSet(column="primary_topic", value_set=topics)),
                Check(gxe.ExpectColumnValuesToMatchRegex(column="language", regex="^[a-z]{2}$")),
                # Texts of ds, or of an earlier day that a run's budget left for later.
                Check(
                    gxe.ExpectColumnValuesToBeBetween(
                        column="source_day_start", max_value=f"{ds}T00:00:00"
                    )
                ),
            ],
        )
        for labels, key, topics in (
            ("review_labels", "review_id", list(REVIEW_TOPICS)),
            ("issue_labels", "issue_number", list(ISSUE_TOPICS)),
        )
    ),
)
SUITES: dict[tuple[str, str], Suite] = {(s.source, s.entity): s for s in _CHECKED}


def suite_for(dataset: Dataset) -> Suite:
    """The suite that gates a curated dataset's partitions."""
    return SUITES.get((dataset.domain, dataset.name)) or key_suite(dataset)
