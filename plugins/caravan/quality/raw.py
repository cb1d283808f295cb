"""The raw gate: what a source's partition must hold before it is published.

Each suite reads the staged JSON lines with an explicit schema (everything as
text or JSON, so a wrong type shows up as a null after `try_cast`, never as a
crash) and checks keys, types, the data interval and non-negative metrics.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from caravan.quality.gate import Check
from caravan.quality.suites import Suite


def _not_null(*columns: str) -> list[Check]:
    return [Check(gxe.ExpectColumnValuesToNotBeNull(column=c)) for c in columns]


def _non_negative(*columns: str) -> list[Check]:
    return [Check(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)) for c in columns]


def _on_day(column: str, ds: str) -> Check:
    """Records of a data-interval entity belong to the run's day."""
    return Check(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[ds]))


# Top-level JSON fields of each raw entity, read as text or JSON.
RAW_COLUMNS: dict[tuple[str, str], dict[str, str]] = {
    ("google_ads", "campaigns"): {"campaign": "JSON"},
    ("google_ads", "campaign_performance"): {
        "campaign": "JSON",
        "metrics": "JSON",
        "segments": "JSON",
    },
    ("shop_db", "customers"): {
        "customer_id": "VARCHAR",
        "email": "VARCHAR",
        "region": "VARCHAR",
        "created_at": "VARCHAR",
    },
    ("shop_db", "products"): {
        "product_id": "VARCHAR",
        "sku": "VARCHAR",
        "category": "VARCHAR",
        "price": "VARCHAR",
    },
    ("shop_db", "orders"): {
        "order_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "status": "VARCHAR",
        "discount_amount": "VARCHAR",
        "created_at": "VARCHAR",
    },
    ("shop_db", "order_items"): {
        "order_item_id": "VARCHAR",
        "order_id": "VARCHAR",
        "product_id": "VARCHAR",
        "quantity": "VARCHAR",
        "unit_price": "VARCHAR",
        "created_at": "VARCHAR",
    },
}

ORDER_STATUSES = ["placed", "shipped", "delivered", "cancelled"]

SUITES: dict[tuple[str, str], Suite] = {
    ("google_ads", "campaigns"): Suite(
        stage="raw",
        source="google_ads",
        entity="campaigns",
        projection="campaign->>'id' as campaign_id, campaign->>'name' as campaign_name",
        key_columns=["campaign_id"],
        checks=lambda ds: [
            *_not_null("campaign_id", "campaign_name"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="campaign_id")),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        ],
    ),
    ("google_ads", "campaign_performance"): Suite(
        stage="raw",
        source="google_ads",
        entity="campaign_performance",
        projection=(
            "campaign->>'id' as campaign_id, segments->>'date' as date,"
            " try_cast(metrics->>'costMicros' as bigint) as cost_micros,"
            " try_cast(metrics->>'impressions' as bigint) as impressions,"
            " try_cast(metrics->>'clicks' as bigint) as clicks,"
            " try_cast(metrics->>'conversions' as double) as conversions"
        ),
        key_columns=["campaign_id", "date"],
        checks=lambda ds: [
            *_not_null("campaign_id", "date", "cost_micros", "impressions", "clicks"),
            Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=["campaign_id", "date"])),
            _on_day("date", ds),
            *_non_negative("cost_micros", "impressions", "clicks", "conversions"),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        ],
    ),
    ("shop_db", "customers"): Suite(
        stage="raw",
        source="shop_db",
        entity="customers",
        projection="customer_id, email, try_cast(created_at as timestamp) as created_at",
        key_columns=["customer_id"],
        checks=lambda ds: [
            *_not_null("customer_id", "email", "created_at"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="customer_id")),
            Check(
                gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"^\s*[^@\s]+@[^@\s]+\s*$")
            ),
        ],
    ),
    ("shop_db", "products"): Suite(
        stage="raw",
        source="shop_db",
        entity="products",
        projection="product_id, category, try_cast(price as decimal(18, 2)) as price",
        key_columns=["product_id"],
        checks=lambda ds: [
            *_not_null("product_id", "price"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="product_id")),
            *_non_negative("price"),
        ],
    ),
    ("shop_db", "orders"): Suite(
        stage="raw",
        source="shop_db",
        entity="orders",
        projection=(
            "order_id, customer_id, status,"
            " try_cast(discount_amount as decimal(18, 2)) as discount_amount,"
            " cast(try_cast(created_at as timestamp) as date)::varchar as created_date"
        ),
        key_columns=["order_id"],
        checks=lambda ds: [
            *_not_null("order_id", "customer_id", "status", "discount_amount", "created_date"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
            Check(gxe.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES)),
            _on_day("created_date", ds),
            *_non_negative("discount_amount"),
        ],
    ),
    ("shop_db", "order_items"): Suite(
        stage="raw",
        source="shop_db",
        entity="order_items",
        projection=(
            "order_item_id, order_id, product_id,"
            " try_cast(quantity as bigint) as quantity,"
            " try_cast(unit_price as decimal(18, 2)) as unit_price,"
            " cast(try_cast(created_at as timestamp) as date)::varchar as created_date"
        ),
        key_columns=["order_item_id"],
        checks=lambda ds: [
            *_not_null("order_item_id", "order_id", "product_id", "quantity", "unit_price"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="order_item_id")),
            Check(gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1)),
            *_non_negative("unit_price"),
            _on_day("created_date", ds),
        ],
    ),
}
