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


def test_the_real_registry_declares_the_systems_the_feeds_and_their_entities():
    registry = load_registry(SOURCES_YAML)

    assert {name: (s.kind, s.conn_id) for name, s in registry.items()} == {
        "google_ads": ("rest_api", "google_ads_default"),
        "meta_ads": ("rest_api", "meta_ads_default"),
        "crm": ("rest_api", "crm_default"),
        "web_analytics": ("file_drop", "web_analytics_default"),
        "shop_db": ("sql_database", "shop_db_default"),
        "sales_ops": ("file_drop", "sales_ops_default"),
        "fx_rates": ("file_drop", "fx_rates_default"),
        "issue_tracker": ("rest_api", "issue_tracker_default"),
        "docs": ("file_drop", "docs_default"),
    }
    assert {name: list(s.entities) for name, s in registry.items()} == {
        "google_ads": ["campaigns", "ad_groups", "campaign_performance"],
        "meta_ads": ["campaigns", "adsets", "insights"],
        "crm": ["contacts", "deals"],
        "web_analytics": ["events"],
        "shop_db": ["customers", "products", "orders", "order_items", "reviews"],
        "sales_ops": ["messages"],
        "fx_rates": ["rates"],
        "issue_tracker": ["issues", "comments"],
        "docs": ["chunks"],
    }
    # Ad platforms restate recent days, the rates feed repeats two weeks; the rest deliver
    # each day once.
    assert {name: s.lookback_days for name, s in registry.items() if s.lookback_days} == {
        "google_ads": 2,
        "meta_ads": 2,
        "fx_rates": 13,
    }


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
            "segments.date",
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
            ("order_id", "customer_id", "created_at", "updated_at", "status"),
            "data_interval",
            "updated_at",
        ),
        (
            "shop_db",
            "order_items",
            ("order_item_id",),
            ("order_item_id", "order_id", "product_id", "quantity", "unit_price", "updated_at"),
            "data_interval",
            "updated_at",
        ),
        (
            "crm",
            "contacts",
            ("id",),
            ("id", "properties.email", "updatedAt"),
            "data_interval",
            "properties.lastmodifieddate",
        ),
        (
            "web_analytics",
            "events",
            ("user_pseudo_id", "event_timestamp", "event_name"),
            ("user_pseudo_id", "event_timestamp", "event_name"),
            "data_interval",
            "event_timestamp",
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


def test_kind_settings_are_carried_through(tmp_path):
    path = write(
        tmp_path,
        """
api:
  kind: rest_api
  conn_id: api_conn
  lookback_days: 3
  client: {auth: bearer, paginator: {type: json_link, next_url_path: next}}
  entities:
    things:
      endpoint: {path: "things/${ds}", data_selector: items}
      primary_key: id
      types: {updated: timestamp, price: decimal}
      incremental_field: updated
      non_negative: [price]
      accepted_values: {state: [new, old]}
      min_rows: 1
drop:
  kind: file_drop
  conn_id: drop_conn
  entities:
    rows:
      files: "rows_${ds}.csv"
      format: csv
      primary_key: [a, b]
      duplicates_expected: true
""",
    )
    registry = load_registry(path)
    api, things = registry["api"], registry["api"].entities["things"]
    assert api.lookback_days == 3
    assert api.client["auth"] == "bearer"
    assert things.endpoint == {"path": "things/${ds}", "data_selector": "items"}
    assert {name: t.describe() for name, t in things.types.items()} == {
        "updated": "timestamp",
        "price": "decimal",
    }
    assert things.non_negative == ("price",)
    assert things.accepted_values == {"state": ("new", "old")}
    assert things.min_rows == 1
    assert things.checked_fields == ("id", "updated", "price", "state")
    rows = registry["drop"].entities["rows"]
    assert (rows.files, rows.format, rows.duplicates_expected) == ("rows_${ds}.csv", "csv", True)


@pytest.mark.parametrize(
    ("entity_yaml", "message"),
    [
        ("      primary_key: id\n      types: {x: money}\n", "field 'x': type 'money'"),
        (
            "      primary_key: id\n      incremental_field: x\n",
            "incremental_field 'x' needs a type",
        ),
        ("      primary_key: id\n      colour: red\n", "unknown field(s) ['colour']"),
        ("      primary_key: id\n      endpoint: {path: x}\n", "unknown field(s) ['endpoint']"),
        ("      primary_key: id\n      format: xml\n      files: '*'\n", "format 'xml'"),
        ("      primary_key: id\n", "missing field 'files'"),
        (
            "      files: '*'\n      primary_key: id\n      types: {n: integer}\n"
            "      accepted_values: {n: [1, two]}\n",
            "accepted_values of 'n' (integer): 'two' is not an integer",
        ),
        (
            "      files: '*'\n      primary_key: id\n      accepted_values: {n: 3}\n",
            "accepted_values of 'n': 3 is not a list of values",
        ),
    ],
)
def test_an_entity_that_cannot_work_is_refused_naming_source_entity_and_field(
    tmp_path, entity_yaml, message
):
    path = write(
        tmp_path, "drop:\n  kind: file_drop\n  conn_id: c\n  entities:\n    rows:\n" + entity_yaml
    )
    with pytest.raises(ValueError) as raised:
        load_registry(path)
    assert f"{path}: source 'drop': entity 'rows': " in str(raised.value)
    assert message in str(raised.value)


def test_a_rest_api_entity_needs_an_endpoint_path(tmp_path):
    path = write(
        tmp_path,
        "crm:\n  kind: rest_api\n  conn_id: c\n  entities:\n    contacts:\n      primary_key: id\n",
    )
    with pytest.raises(ValueError, match=r"entity 'contacts': missing field 'endpoint.path'"):
        load_registry(path)


def test_a_negative_lookback_is_refused_naming_the_source(tmp_path):
    path = write(
        tmp_path,
        "shop:\n  kind: sql_database\n  conn_id: c\n  lookback_days: -1\n"
        "  entities:\n    orders:\n      primary_key: id\n",
    )
    with pytest.raises(ValueError, match=r"source 'shop': lookback_days -1"):
        load_registry(path)


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
      types: {updated_at: timestamp}
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
        "crm:\n  kind: sql_database\n  conn_id: crm\n  entities:\n    contacts:\n"
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


def test_accepted_values_are_held_as_the_gate_compares_them(tmp_path):
    """In the field's type when it has one; as the JSON text of an untyped field."""
    path = write(
        tmp_path,
        """
drop:
  kind: file_drop
  conn_id: c
  entities:
    rows:
      files: "*"
      primary_key: id
      types: {stars: integer, share: decimal}
      accepted_values:
        stars: ["1", 2]
        share: ["0.5", 1]
        flag: [true, 1, yes please]
""",
    )
    rows = load_registry(path)["drop"].entities["rows"]
    assert rows.accepted_values == {
        "stars": (1, 2),
        "share": (0.5, 1.0),
        "flag": ("true", "1", "yes please"),
    }
