"""The curated gates of curate_orders' and unify_ad_spend's entities (order lines, products,
customers, campaigns) on planted bad data: each fails naming the expectation, the column
and the keys; clean data passes. Expected figures are worked out by hand."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caravan.assets import TRANSFORM_JOBS
from caravan.lake import Lake, Partition
from caravan.quality import curated, reconcile
from caravan.quality.frames import parquet_batch
from caravan.quality.gate import GateFailed, GateResult, run_gate
from caravan.quality.suites import Suite
from caravan.sources import Delivered
from caravan.sources.ingest import publish, stage
from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
DS = "2026-11-03"
MONEY = pa.decimal128(18, 2)

ITEM_TYPES = {
    "order_item_id": pa.string(),
    "order_id": pa.string(),
    "product_id": pa.string(),
    "quantity": pa.int64(),
    "unit_price": MONEY,
    "line_revenue": MONEY,
    "order_date": pa.date32(),
    "updated_at": pa.timestamp("us"),
}
PRODUCT_TYPES = {
    "product_id": pa.string(),
    "sku": pa.string(),
    "product_name": pa.string(),
    "category": pa.string(),
    "price": MONEY,
    "created_at": pa.timestamp("us"),
    "updated_at": pa.timestamp("us"),
}
CUSTOMER_TYPES = {
    "customer_id": pa.string(),
    "customer_key": pa.string(),
    "region": pa.string(),
    "created_at": pa.timestamp("us"),
    "updated_at": pa.timestamp("us"),
}
CAMPAIGN_TYPES = {
    "platform": pa.string(),
    "campaign_id": pa.string(),
    "campaign_name": pa.string(),
    "account_id": pa.string(),
    "status": pa.string(),
    "objective": pa.string(),
    "created_at": pa.timestamp("us"),
}
ORDER_TYPES = {"order_id": pa.string(), "gross_revenue": MONEY, "units": pa.int64()}

PLACED = datetime(2026, 11, 2, 9, 30)
CHANGED = datetime(2026, 11, 3, 14, 0)
# sha256("ann@x.com")[:16] and sha256("bob@y.org")[:16], worked out once with hashlib
ANN = "0b2d6603047b0e23"
BOB = "855fb34030755eca"


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


def write_staged(lake: Lake, domain: str, entity: str, types: dict, rows: list[tuple]) -> list[str]:
    """A job's staged output: one Parquet file in staging/curated/<domain>/<entity>/ds=DS."""
    folder = Path(lake.staging_path(Partition("curated", domain, entity, DS)))
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(list(types.items()))
    table = pa.Table.from_pylist([dict(zip(types, row, strict=True)) for row in rows], schema)
    pq.write_table(table, folder / "part-00000.parquet")
    return [str(folder / "part-00000.parquet")]


def publish_raw(lake: Lake, source: str, entity: str, rows: list[dict]) -> None:
    spec = load_registry(REPO / "dags" / "sources.yaml")[source].entities[entity]
    delivered = [Delivered(row, f"record {n}") for n, row in enumerate(rows, start=1)]
    publish(lake, stage(lake, source, spec, DS, delivered), run_id="test")


def gate(tmp_path, suite: Suite, frame) -> GateResult:
    return run_gate(
        frame,
        suite.checks(DS),
        stage=suite.stage,
        source=suite.source,
        entity=suite.entity,
        ds=DS,
        run_id="test",
        key_columns=suite.key_columns,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )


def gate_suite(tmp_path, lake, domain, entity, types, rows) -> GateResult:
    suite = curated.SUITES[(domain, entity)]
    paths = write_staged(lake, domain, entity, types, rows)
    return gate(tmp_path, suite, parquet_batch(lake, paths, suite.projection))


def failed_checks(tmp_path) -> set[tuple[str, str | None, str]]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        return set(
            con.execute(
                "select expectation, column_name, severity from quality.validation_results"
                " where not success"
            ).fetchall()
        )


def test_every_output_of_every_job_has_a_curated_suite():
    outputs = {output for job_outputs in TRANSFORM_JOBS.values() for output in job_outputs}
    assert {
        ("sales", "order_items"),
        ("sales", "products"),
        ("customers", "customers"),
        ("marketing", "campaigns"),
    } <= outputs
    assert outputs <= curated.SUITES.keys()


# --- order lines -----------------------------------------------------------------------


def item(item_id, order_id, quantity, price, revenue, updated_at=CHANGED) -> tuple:
    return (
        item_id, order_id, "1001", quantity, Decimal(price), Decimal(revenue), PLACED.date(),
        updated_at,
    )  # fmt: skip


CLEAN_ITEMS = [
    item("11", "1", 2, "129.00", "258.00"),  # 2 × 129.00
    item("12", "1", 1, "45.00", "45.00"),
    item("31", "3", 3, "19.50", "58.50"),  # 3 × 19.50
]


def test_clean_order_lines_pass(tmp_path, lake):
    result = gate_suite(tmp_path, lake, "sales", "order_items", ITEM_TYPES, CLEAN_ITEMS)
    assert result.passed and not result.failures, result.summary()


def test_a_line_revenue_that_is_not_quantity_times_price_fails_naming_the_line(tmp_path, lake):
    rows = [
        *CLEAN_ITEMS,
        item("32", "3", 3, "7.99", "23.96"),  # 3 × 7.99 = 23.97: a cent short
        item("33", "3", -1, "7.99", "-7.99"),  # a negative quantity (and revenue)
        item("34", "4", 1, "5.00", "5.00", datetime(2026, 11, 4, 0, 0, 1)),  # changed the 4th
        item("11", "1", 2, "129.00", "258.00"),  # line 11 twice
    ]
    with pytest.raises(GateFailed) as failed:
        gate_suite(tmp_path, lake, "sales", "order_items", ITEM_TYPES, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_between", "line_revenue_gap", "error"),
        ("expect_column_values_to_be_between", "quantity", "error"),
        ("expect_column_values_to_be_between", "line_revenue", "error"),
        ("expect_column_values_to_be_in_set", "updated_day", "error"),
        ("expect_column_values_to_be_unique", "order_item_id", "error"),
    }
    message = str(failed.value)
    assert '{"order_item_id": "32"}' in message and '{"order_item_id": "34"}' in message


# --- products --------------------------------------------------------------------------


def product(product_id, price, created_at=datetime(2020, 1, 1)) -> tuple:
    return (product_id, f"SKU-{product_id}", f"Product {product_id}", "footwear",
            Decimal(price), created_at, created_at)  # fmt: skip


def test_clean_products_pass(tmp_path, lake):
    rows = [product("1001", "129.00"), product("1002", "0.00")]
    result = gate_suite(tmp_path, lake, "sales", "products", PRODUCT_TYPES, rows)
    assert result.passed and not result.failures, result.summary()


def test_a_negative_price_a_duplicate_and_a_product_from_after_ds_fail(tmp_path, lake):
    rows = [
        product("1001", "129.00"),
        product("1001", "119.00"),
        product("1002", "-1.00"),
        product("1003", "9.00", datetime(2026, 11, 4)),  # created the day after ds
        product("1004", "9.00", datetime(2026, 11, 3, 23, 59, 59)),  # the last second of ds
    ]
    with pytest.raises(GateFailed) as failed:
        gate_suite(tmp_path, lake, "sales", "products", PRODUCT_TYPES, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_unique", "product_id", "error"),
        ("expect_column_values_to_be_between", "price", "error"),
        ("expect_column_values_to_be_between", "created_at", "error"),
    }
    message = str(failed.value)
    assert '{"product_id": "1003"}' in message and '{"product_id": "1004"}' not in message


# --- customers -------------------------------------------------------------------------


def test_a_customer_without_a_key_or_updated_before_created_fails(tmp_path, lake):
    rows = [
        ("1", ANN, "UK", datetime(2026, 9, 1), datetime(2026, 9, 1)),
        ("2", None, "UK", datetime(2026, 9, 1), datetime(2026, 9, 1)),
        ("3", "0b2d6603", "CA", datetime(2026, 9, 1), datetime(2026, 9, 1)),  # a short key
        ("4", BOB, "CA", datetime(2026, 9, 2), datetime(2026, 9, 1)),  # updated before created
    ]
    with pytest.raises(GateFailed) as failed:
        gate_suite(tmp_path, lake, "customers", "customers", CUSTOMER_TYPES, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_not_be_null", "customer_key", "error"),
        ("expect_column_values_to_be_between", "key_length", "error"),
        ("expect_column_values_to_be_between", "seconds_from_creation_to_update", "error"),
    }
    assert '{"customer_id": "3"}' in str(failed.value)


RAW_CUSTOMERS = [
    {"customer_id": 1, "email": " Ann@X.com ", "first_name": "Ann", "last_name": "Lee",
     "region": "UK", "created_at": "2026-09-01T00:00:00", "updated_at": "2026-09-01T00:00:00"},
    {"customer_id": 2, "email": "bob@y.org", "first_name": "Bob", "last_name": "Roe",
     "region": "CA", "created_at": "2026-09-02T00:00:00", "updated_at": "2026-09-02T00:00:00"},
]  # fmt: skip


def customers_reconciliation(tmp_path, lake, rows, types=CUSTOMER_TYPES) -> GateResult:
    publish_raw(lake, "shop_db", "customers", RAW_CUSTOMERS)
    paths = write_staged(lake, "customers", "customers", types, rows)
    frame = reconcile.customers_frame(lake, DS, paths)
    return gate(tmp_path, reconcile.CUSTOMERS_RECONCILIATION, frame)


def customer(customer_id: str, key: str) -> tuple:
    return (customer_id, key, "UK", datetime(2026, 9, 1), datetime(2026, 9, 1))


def test_the_customers_of_the_snapshot_keyed_by_their_email_pass(tmp_path, lake):
    rows = [customer("1", ANN), customer("2", BOB)]
    result = customers_reconciliation(tmp_path, lake, rows)
    assert result.passed and not result.failures, result.summary()


def test_a_wrong_key_a_missing_and_an_extra_customer_fail(tmp_path, lake):
    rows = [customer("1", BOB), customer("9", ANN)]  # 1 keyed as Bob; 2 missing; 9 not in raw
    with pytest.raises(GateFailed) as failed:
        customers_reconciliation(tmp_path, lake, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_in_set", "key_matches", "error"),
        ("expect_column_values_to_be_in_set", "in_curated", "error"),
        ("expect_column_values_to_be_in_set", "in_raw", "error"),
    }
    message = str(failed.value)
    for customer_id in ("1", "2", "9"):
        assert f'{{"customer_id": "{customer_id}"}}' in message


def test_an_email_column_fails_the_customers_gate(tmp_path, lake):
    rows = [(*customer("1", ANN), "ann@x.com"), (*customer("2", BOB), "bob@y.org")]
    with pytest.raises(GateFailed) as failed:
        customers_reconciliation(tmp_path, lake, rows, {**CUSTOMER_TYPES, "email": pa.string()})
    assert failed_checks(tmp_path) == {("expect_table_columns_to_match_set", None, "error")}
    assert "ann@x.com" not in str(failed.value).split("observed")[0]


# --- order lines against the orders the same run staged --------------------------------


def items_reconciliation(tmp_path, lake, orders, items) -> GateResult:
    write_staged(lake, "sales", "orders", ORDER_TYPES, orders)
    paths = write_staged(lake, "sales", "order_items", ITEM_TYPES, items)
    frame = reconcile.order_items_frame(lake, DS, paths)
    return gate(tmp_path, reconcile.ORDER_ITEMS_RECONCILIATION, frame)


# Order 1: 258.00 + 45.00 = 303.00 in 3 units; order 3: 58.50 in 3; order 5 has no lines.
ORDERS = [
    ("1", Decimal("303.00"), 3),
    ("3", Decimal("58.50"), 3),
    ("5", Decimal("0.00"), 0),
]


def test_lines_that_add_up_to_their_orders_pass(tmp_path, lake):
    result = items_reconciliation(tmp_path, lake, ORDERS, CLEAN_ITEMS)
    assert result.passed and not result.failures, result.summary()


def test_lines_that_do_not_add_up_fail_naming_the_order(tmp_path, lake):
    orders = [("1", Decimal("303.01"), 3), ("3", Decimal("58.50"), 4), ORDERS[2]]
    with pytest.raises(GateFailed) as failed:
        items_reconciliation(tmp_path, lake, orders, CLEAN_ITEMS)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_between", "revenue_gap", "error"),
        ("expect_column_values_to_be_between", "units_gap", "error"),
    }
    message = str(failed.value)
    assert '{"order_id": "1"}' in message and '{"order_id": "3"}' in message


def test_lines_of_an_order_not_in_the_partition_are_a_warning(tmp_path, lake):
    items = [*CLEAN_ITEMS, item("71", "7", 1, "9.00", "9.00")]  # order 7 was quarantined
    result = items_reconciliation(tmp_path, lake, ORDERS, items)
    assert result.passed
    assert [(f["column_name"], f["severity"]) for f in result.failures] == [("has_order", "warn")]
    assert '"order_id": "7"' in result.failures[0]["sample_keys"]


# --- campaigns -------------------------------------------------------------------------


def campaign(platform, campaign_id, status, created_at=None) -> tuple:
    return (platform, campaign_id, f"Campaign {campaign_id}", "123", status, "search", created_at)


CLEAN_CAMPAIGNS = [
    campaign("google_ads", "11", "enabled"),
    campaign("google_ads", "12", "removed"),
    campaign("meta_ads", "31", "active", datetime(2026, 10, 1)),
    campaign("meta_ads", "32", "archived", datetime(2026, 10, 1)),
]


def test_clean_campaigns_pass(tmp_path, lake):
    result = gate_suite(tmp_path, lake, "marketing", "campaigns", CAMPAIGN_TYPES, CLEAN_CAMPAIGNS)
    assert result.passed and not result.failures, result.summary()


def test_a_status_from_the_other_platform_a_duplicate_and_no_name_fail(tmp_path, lake):
    rows = [
        *CLEAN_CAMPAIGNS,
        campaign("google_ads", "13", "active"),  # Meta's word, not Google's
        campaign("meta_ads", "31", "paused"),  # 31 twice
        ("meta_ads", "33", None, "1", "paused", "outcome_sales", None),
        campaign("tiktok_ads", "41", "enabled"),
    ]
    with pytest.raises(GateFailed) as failed:
        gate_suite(tmp_path, lake, "marketing", "campaigns", CAMPAIGN_TYPES, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_in_set", "platform_status", "error"),
        ("expect_compound_columns_to_be_unique", "platform,campaign_id", "error"),
        ("expect_column_values_to_not_be_null", "campaign_name", "error"),
        ("expect_column_values_to_be_in_set", "platform", "error"),
    }
    assert '{"campaign_id": "13", "platform": "google_ads"}' in str(failed.value)


def google_campaign(campaign_id: str) -> dict:
    return {"campaign": {"id": campaign_id, "name": f"Campaign {campaign_id}",
                         "status": "ENABLED", "advertisingChannelType": "SEARCH"}}  # fmt: skip


def google_spend(campaign_id: str) -> dict:
    return {"campaign": {"id": campaign_id}, "segments": {"date": DS},
            "metrics": {"costMicros": "1000000", "impressions": "1", "clicks": "1"}}  # fmt: skip


def meta_spend(campaign_id: str) -> dict:
    return {"account_id": "1", "account_currency": "USD", "campaign_id": campaign_id,
            "spend": "1.00", "date_start": DS}  # fmt: skip


@pytest.fixture
def raw_campaigns(lake) -> Lake:
    """Google: campaigns 11 and 12, spend of 11. Meta: campaign 31; spend of 31 and of 39,
    a campaign its snapshot no longer lists."""
    publish_raw(lake, "google_ads", "campaigns", [google_campaign("11"), google_campaign("12")])
    publish_raw(lake, "google_ads", "campaign_performance", [google_spend("11")])
    meta = {"account_id": "1", "name": "Meta 31", "status": "ACTIVE", "objective": "OUTCOME_SALES"}
    publish_raw(lake, "meta_ads", "campaigns", [{"id": "31", **meta}])
    publish_raw(lake, "meta_ads", "insights", [meta_spend("31"), meta_spend("39")])
    return lake


def campaigns_reconciliation(tmp_path, lake, rows) -> GateResult:
    paths = write_staged(lake, "marketing", "campaigns", CAMPAIGN_TYPES, rows)
    frame = reconcile.campaigns_frame(lake, DS, paths)
    return gate(tmp_path, reconcile.CAMPAIGNS_RECONCILIATION, frame)


def test_the_snapshots_campaigns_pass_and_spend_without_a_campaign_is_a_warning(
    tmp_path, raw_campaigns
):
    rows = [
        campaign("google_ads", "11", "enabled"),
        campaign("google_ads", "12", "enabled"),
        campaign("meta_ads", "31", "active"),
    ]
    result = campaigns_reconciliation(tmp_path, raw_campaigns, rows)
    assert result.passed
    assert [(f["column_name"], f["severity"], f["unexpected_count"]) for f in result.failures] == [
        ("spend_campaign_curated", "warn", 1)
    ]
    assert '"campaign_id": "39"' in result.failures[0]["sample_keys"]


def test_a_dropped_campaign_and_one_not_in_the_snapshot_fail(tmp_path, raw_campaigns):
    rows = [
        campaign("google_ads", "11", "enabled"),  # 12 dropped
        campaign("meta_ads", "31", "active"),
        campaign("meta_ads", "12", "active"),  # Google's 12 under the wrong platform
    ]
    with pytest.raises(GateFailed) as failed:
        campaigns_reconciliation(tmp_path, raw_campaigns, rows)
    assert failed_checks(tmp_path) == {
        ("expect_column_values_to_be_in_set", "snapshot_campaign_curated", "error"),
        ("expect_column_values_to_be_in_set", "curated_campaign_in_snapshot", "error"),
        ("expect_column_values_to_be_in_set", "spend_campaign_curated", "warn"),
    }
    message = str(failed.value)
    assert '{"campaign_id": "12", "platform": "google_ads"}' in message
    assert '{"campaign_id": "12", "platform": "meta_ads"}' in message


def test_the_key_of_an_email_is_its_normalised_sha256_prefix():
    """ANN and BOB above, worked out independently of DuckDB and Spark."""
    import hashlib

    assert hashlib.sha256(b"ann@x.com").hexdigest()[:16] == ANN
    assert hashlib.sha256(b"bob@y.org").hexdigest()[:16] == BOB
