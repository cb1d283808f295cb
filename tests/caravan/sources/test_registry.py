"""The source registry: the real dags/sources.yaml, and malformed files written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
SOURCES_YAML = REPO / "dags" / "sources.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_the_real_registry_declares_two_sources_and_six_entities():
    registry = load_registry(SOURCES_YAML)

    assert sorted(registry) == ["google_ads", "shop_db"]
    google, shop = registry["google_ads"], registry["shop_db"]
    assert (google.kind, google.conn_id) == ("rest_api", "google_ads_default")
    assert (shop.kind, shop.conn_id) == ("sql_database", "shop_db_default")
    assert list(google.entities) == ["campaigns", "campaign_performance"]
    assert list(shop.entities) == ["customers", "products", "orders", "order_items"]


@pytest.mark.parametrize(
    ("source", "entity", "primary_key", "required", "window", "incremental_field"),
    [
        (
            "google_ads",
            "campaigns",
            ("campaign.id",),
            ("campaign.id", "campaign.name"),
            "snapshot",
            None,
        ),
        (
            "google_ads",
            "campaign_performance",
            ("campaign.id", "segments.date"),
            ("campaign.id", "segments.date", "metrics.costMicros"),
            "data_interval",
            None,
        ),
        (
            "shop_db",
            "customers",
            ("customer_id",),
            ("customer_id", "email", "created_at"),
            "snapshot",
            None,
        ),
        ("shop_db", "products", ("product_id",), ("product_id", "price"), "snapshot", None),
        (
            "shop_db",
            "orders",
            ("order_id",),
            ("order_id", "customer_id", "created_at", "status"),
            "data_interval",
            "created_at",
        ),
        (
            "shop_db",
            "order_items",
            ("order_item_id",),
            ("order_item_id", "order_id", "product_id", "quantity", "unit_price"),
            "data_interval",
            "created_at",
        ),
    ],
)
def test_the_real_registry_entity_specs(
    source, entity, primary_key, required, window, incremental_field
):
    spec = load_registry(SOURCES_YAML)[source].entities[entity]
    assert spec.name == entity
    assert spec.primary_key == primary_key
    assert spec.required == required
    assert spec.window == window
    assert spec.incremental_field == incremental_field


def test_required_defaults_to_the_primary_key_and_window_to_data_interval(tmp_path):
    path = write(
        tmp_path,
        """
shop:
  kind: sql_database
  conn_id: shop_conn
  entities:
    orders:
      primary_key: [order_id, line]
""",
    )
    orders = load_registry(path)["shop"].entities["orders"]
    assert orders.primary_key == ("order_id", "line")
    assert orders.required == ("order_id", "line")
    assert orders.window == "data_interval"
    assert orders.incremental_field is None


def test_schedule_and_incremental_field_are_carried_through(tmp_path):
    path = write(
        tmp_path,
        """
shop:
  kind: sql_database
  conn_id: shop_conn
  schedule: "30 2 * * *"
  entities:
    orders:
      primary_key: [order_id]
      incremental_field: updated_at
      window: snapshot
""",
    )
    source = load_registry(path)["shop"]
    assert source.schedule == "30 2 * * *"
    assert source.entities["orders"].incremental_field == "updated_at"
    assert source.entities["orders"].window == "snapshot"


def test_an_empty_file_is_an_empty_registry(tmp_path):
    assert load_registry(write(tmp_path, "")) == {}


def test_a_source_without_kind_is_refused_naming_file_source_and_field(tmp_path):
    path = write(
        tmp_path,
        """
crm:
  conn_id: crm_default
  entities:
    contacts:
      primary_key: [id]
""",
    )
    with pytest.raises(ValueError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert str(path) in message
    assert "'crm'" in message
    assert "'kind'" in message


def test_an_unknown_window_is_refused_naming_file_source_entity_and_field(tmp_path):
    path = write(
        tmp_path,
        """
crm:
  kind: rest_api
  conn_id: crm_default
  entities:
    contacts:
      primary_key: [id]
      window: weekly
""",
    )
    with pytest.raises(ValueError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert str(path) in message
    assert "'crm'" in message
    assert "'contacts'" in message
    assert "window" in message
    assert "'weekly'" in message


def test_an_unknown_kind_is_refused_naming_file_source_and_value(tmp_path):
    path = write(tmp_path, "crm:\n  kind: graphql\n  conn_id: c\n  entities: {}\n")
    with pytest.raises(ValueError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert str(path) in message
    assert "'crm'" in message
    assert "kind 'graphql'" in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("crm:\n  kind: rest_api\n  entities: {}\n", "'conn_id'"),
        ("crm:\n  kind: rest_api\n  conn_id: c\n", "'entities'"),
        (
            "crm:\n  kind: rest_api\n  conn_id: c\n  entities:\n    contacts:\n"
            "      window: snapshot\n",
            "'primary_key'",
        ),
    ],
)
def test_a_missing_field_is_refused_naming_file_source_and_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert str(path) in message
    assert "'crm'" in message
    assert field in message


def test_an_entity_with_an_empty_body_is_refused_naming_the_missing_field(tmp_path):
    path = write(tmp_path, "crm:\n  kind: rest_api\n  conn_id: c\n  entities:\n    contacts:\n")
    with pytest.raises(ValueError, match="'primary_key'") as raised:
        load_registry(path)
    assert str(path) in str(raised.value)
    assert "'crm'" in str(raised.value)


def test_a_scalar_primary_key_is_not_split_into_characters(tmp_path):
    path = write(
        tmp_path,
        "shop:\n  kind: sql_database\n  conn_id: c\n  entities:\n"
        "    orders:\n      primary_key: order_id\n",
    )
    try:
        spec = load_registry(path)["shop"].entities["orders"]
    except ValueError as error:  # refusing it, naming the field, is as good
        assert "primary_key" in str(error)
    else:
        assert spec.primary_key == ("order_id",)
        assert spec.required == ("order_id",)


def test_quarantine_thresholds_come_from_the_registry_with_a_default(tmp_path):
    real = load_registry(REPO / "dags" / "sources.yaml")
    assert real["google_ads"].quarantine_threshold == 0.0
    assert real["shop_db"].quarantine_threshold == 0.01
    path = write(
        tmp_path,
        "crm:\n  kind: rest_api\n  conn_id: crm\n  entities:\n    contacts:\n"
        "      primary_key: [id]\n",
    )
    assert load_registry(path)["crm"].quarantine_threshold == 0.01


def test_a_threshold_outside_zero_to_one_is_refused_naming_the_source(tmp_path):
    path = write(
        tmp_path,
        "crm:\n  kind: rest_api\n  conn_id: crm\n  quarantine_threshold: 5\n"
        "  entities:\n    contacts:\n      primary_key: [id]\n",
    )
    with pytest.raises(ValueError, match=r"source 'crm': quarantine_threshold 5 is not a share"):
        load_registry(path)
