"""The raw gate against what the lake already holds: dropped and retyped fields, empty
deliveries, and the registry's `plausible` checks (reference, sum band, one value per key).

Every partition is staged and published with the ingest code on a real `file://` lake,
then the delivery is gated as `ingest_steps.gate` gates it (`read_known`, the suite, a
jsonl batch, GX); the expected failures are worked out by hand from the records here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from caravan.lake import Lake
from caravan.quality import raw
from caravan.quality.frames import jsonl_batch
from caravan.quality.gate import GateFailed, GateResult, run_gate
from caravan.sources import Delivered, ingest
from caravan.sources.registry import Reference, SourceSpec, load_registry

DS = "2026-11-08"
BEFORE = ["2026-11-05", "2026-11-06", "2026-11-07"]

REGISTRY = """
shop:
  kind: sql_database
  conn_id: shop
  entities:
    products:
      window: snapshot
      primary_key: product_id
      types: {price: decimal}
    order_items:
      primary_key: order_item_id
      types: {unit_price: decimal, quantity: integer}
      plausible:
        unit_price:
          reference: {entity: products, field: price, key: product_id, band: [0.5, 2.0]}
          sum_band: [0.2, 5.0]
ads:
  kind: rest_api
  conn_id: ads
  entities:
    insights:
      endpoint: {path: insights}
      primary_key: [account_id, campaign_id]
      plausible:
        account_currency: {stable_per: account_id}
"""

PRODUCTS = [{"product_id": "p1", "price": "20.00"}, {"product_id": "p2", "price": "5.50"}]


def item(n: int, product: str, price, **extra) -> dict:
    return {
        "order_item_id": f"i{n}",
        "product_id": product,
        "unit_price": price,
        "quantity": 1,
        **extra,
    }


# Dollars as the shop's NUMERIC column delivers them: decimal strings. 20 + 5.50 = 25.50 a day.
ITEMS = [item(1, "p1", "20.00", note="gift"), item(2, "p2", "5.50", note="")]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, SourceSpec]:
    path = tmp_path / "sources.yaml"
    path.write_text(REGISTRY)
    return load_registry(path)


def publish(lake: Lake, source: SourceSpec, entity: str, ds: str, records: list[dict]) -> None:
    delivered = [Delivered(r, f"record {n}") for n, r in enumerate(records, start=1)]
    staged = ingest.stage(lake, source.name, source.entities[entity], ds, delivered)
    ingest.publish(lake, staged, run_id=f"run-{ds}")


def gate(
    tmp_path: Path,
    lake: Lake,
    source: SourceSpec,
    entity: str,
    records: list[dict],
    **run: list[dict],
) -> GateResult:
    """Stage `records` (and the run's other entities, `run`), then gate them as ingest does;
    the result, or the GateFailed's result."""
    staged = {
        name: ingest.stage(
            lake,
            source.name,
            source.entities[name],
            DS,
            [Delivered(r, f"record {n}") for n, r in enumerate(rows, start=1)],
        )
        for name, rows in {**run, entity: records}.items()
    }
    files = {name: [path for path, _ in s.files] for name, s in staged.items()}
    spec = source.entities[entity]
    known = raw.read_known(lake, source, spec, DS, files, staged[entity].schema)
    suite = raw.suite(source, spec, known)
    batch = jsonl_batch(lake, files[entity], suite.projection, lookups=known.lookups)
    try:
        return run_gate(
            batch,
            suite.checks(DS),
            stage="raw",
            source=source.name,
            entity=entity,
            ds=DS,
            run_id="r",
            key_columns=suite.key_columns,
            warehouse_path=tmp_path / "warehouse.duckdb",
        )
    except GateFailed as failed:
        return failed.result


def failed(result: GateResult) -> list[tuple]:
    """(expectation, column, severity, unexpected keys) of each failed check."""
    return sorted(
        (
            row["expectation"],
            row["column_name"],
            row["severity"],
            sorted(json.loads(row["sample_keys"] or "[]"), key=str),
        )
        for row in result.failures
    )


def with_history(lake: Lake, sources, items=ITEMS) -> None:
    for day in BEFORE:
        publish(lake, sources["shop"], "products", day, PRODUCTS)
        publish(lake, sources["shop"], "order_items", day, items)


def test_the_same_shape_as_before_passes(tmp_path, lake, sources):
    with_history(lake, sources)
    result = gate(tmp_path, lake, sources["shop"], "order_items", ITEMS, products=PRODUCTS)
    assert result.passed and failed(result) == []


def test_a_dropped_field_fails_naming_it(tmp_path, lake, sources):
    with_history(lake, sources)
    dropped = [{k: v for k, v in r.items() if k != "note"} for r in ITEMS]
    result = gate(tmp_path, lake, sources["shop"], "order_items", dropped, products=PRODUCTS)
    assert not result.passed
    assert failed(result) == [
        ("expect_column_unique_value_count_to_be_between", "note__json_type", "error", [])
    ]
    known = raw.read_known(lake, sources["shop"], sources["shop"].entities["order_items"], DS)
    notes = [c.expectation.notes for c in raw.drift_checks(items_spec(sources), known)]
    assert "a dropped field: 'note' was string in ds=2026-11-07" in " ".join(map(str, notes))


def items_spec(sources):
    return sources["shop"].entities["order_items"]


def test_a_field_that_was_sometimes_null_may_be_absent(tmp_path, lake, sources):
    items = [ITEMS[0], {**ITEMS[1], "note": None}]  # `note` was string|null
    with_history(lake, sources, items)
    dropped = [{k: v for k, v in r.items() if k != "note"} for r in ITEMS]
    result = gate(tmp_path, lake, sources["shop"], "order_items", dropped, products=PRODUCTS)
    assert result.passed and failed(result) == []


def test_dollars_turned_into_cents_fail_as_retyped_against_the_catalogue_and_the_sums(
    tmp_path, lake, sources
):
    with_history(lake, sources)
    # The shop's column turned INTEGER cents: 2000 and 550, JSON numbers.
    cents = [item(1, "p1", 2000, note="gift"), item(2, "p2", 550, note="")]
    result = gate(tmp_path, lake, sources["shop"], "order_items", cents, products=PRODUCTS)
    both = [{"order_item_id": "i1"}, {"order_item_id": "i2"}]
    assert not result.passed
    assert failed(result) == [
        # 2550 against 0.2..5 x the median daily sum of 25.50 (5.10..127.50).
        ("expect_column_sum_to_be_between", "unit_price", "error", []),
        # 2000 / 20.00 = 550 / 5.50 = 100: outside 0.5..2.
        ("expect_column_values_to_be_between", "unit_price__reference_ratio", "error", both),
        # A decimal string before, a JSON integer now.
        ("expect_column_values_to_be_in_set", "unit_price__json_type", "error", both),
    ]
    [sums] = [r for r in result.failures if r["expectation"].endswith("sum_to_be_between")]
    assert json.loads(sums["observed_value"]) == 2550
    assert json.loads(sums["kwargs"])["max_value"] == pytest.approx(127.5)


def test_on_the_first_day_the_catalogue_still_catches_cents(tmp_path, lake, sources):
    # Nothing published yet: no drift, no sums to compare; the same run's products are.
    cents = [item(1, "p1", "2000", note="gift"), item(2, "p2", "5.50", note="")]
    result = gate(tmp_path, lake, sources["shop"], "order_items", cents, products=PRODUCTS)
    assert failed(result) == [
        (
            "expect_column_values_to_be_between",
            "unit_price__reference_ratio",
            "error",
            [{"order_item_id": "i1"}],
        )
    ]


def test_a_price_within_the_band_of_the_catalogue_passes(tmp_path, lake, sources):
    # A sale at 60 % of the catalogue price and a rise to 1.5x: real shops do both.
    items = [item(1, "p1", "12.00", note="gift"), item(2, "p2", "8.25", note="")]
    result = gate(tmp_path, lake, sources["shop"], "order_items", items, products=PRODUCTS)
    assert result.passed and failed(result) == []


def test_drift_can_be_made_a_warning(tmp_path, lake, sources):
    with_history(lake, sources)
    shop = sources["shop"]
    lenient = dataclasses.replace(
        shop,
        entities={
            **shop.entities,
            "order_items": dataclasses.replace(items_spec(sources), schema_drift="warn"),
        },
    )
    dropped = [{k: v for k, v in r.items() if k != "note"} for r in ITEMS]
    result = gate(tmp_path, lake, lenient, "order_items", dropped, products=PRODUCTS)
    assert result.passed
    assert failed(result) == [
        ("expect_column_unique_value_count_to_be_between", "note__json_type", "warn", [])
    ]


def test_an_empty_delivery_fails_unless_a_day_may_be_empty(tmp_path, lake, sources):
    result = gate(tmp_path, lake, sources["shop"], "order_items", [], products=PRODUCTS)
    assert failed(result) == [("expect_table_row_count_to_be_between", None, "error", [])]
    assert json.loads(result.failures[0]["observed_value"]) == 0
    shop = sources["shop"]
    quiet = dataclasses.replace(
        shop,
        entities={
            **shop.entities,
            "order_items": dataclasses.replace(items_spec(sources), may_be_empty=True),
        },
    )
    assert gate(tmp_path, lake, quiet, "order_items", [], products=PRODUCTS).passed


def test_an_account_whose_currency_changed_fails_naming_it(tmp_path, lake, sources):
    ads = sources["ads"]
    before = [
        {"account_id": "a1", "campaign_id": "c1", "account_currency": "EUR"},
        {"account_id": "a2", "campaign_id": "c2", "account_currency": "USD"},
    ]
    for day in BEFORE:
        publish(lake, ads, "insights", day, before)
    today = [
        {"account_id": "a1", "campaign_id": "c1", "account_currency": "USD"},  # was EUR
        {"account_id": "a2", "campaign_id": "c2", "account_currency": "USD"},
        {"account_id": "a3", "campaign_id": "c3", "account_currency": "GBP"},  # new: no past
    ]
    result = gate(tmp_path, lake, ads, "insights", today)
    assert failed(result) == [
        (
            "expect_column_pair_values_to_be_equal",
            "account_currency__stable,account_currency__previous",
            "error",
            [{"account_id": "a1", "campaign_id": "c1"}],
        )
    ]


def test_drift_checks_only_what_the_staged_schema_shows_drifted(lake, sources):
    with_history(lake, sources)
    spec = items_spec(sources)
    unknown = raw.read_known(lake, sources["shop"], spec, DS)
    # Unknown delivery schema (a published partition re-gated): every field is checked.
    assert raw.drift_fields(spec, unknown) == {
        "note": {"string"},
        "order_item_id": {"string"},
        "product_id": {"string"},
        "quantity": {"integer"},
        "unit_price": {"string"},
    }
    same = dataclasses.replace(unknown, delivered_schema=ingest.json_schema(ITEMS))
    assert raw.drift_fields(spec, same) == {}
    assert raw.drift_checks(spec, same) == []
    cents = {**ingest.json_schema(ITEMS), "unit_price": "integer"}
    drifted = dataclasses.replace(unknown, delivered_schema=cents)
    assert raw.drift_fields(spec, drifted) == {"unit_price": {"string"}}


def test_the_registry_reads_the_new_checks_and_refuses_bad_ones(tmp_path, sources):
    items = items_spec(sources)
    assert (items.schema_drift, items.may_be_empty, items.expected_rows) == ("error", False, None)
    [unit_price] = items.plausible
    assert unit_price.reference == Reference("products", "price", "product_id", (0.5, 2.0))
    assert unit_price.sum_band == (0.2, 5.0)
    head = "drop:\n  kind: file_drop\n  conn_id: c\n  entities:\n"
    head += "    rows:\n      files: '*'\n      primary_key: id\n"
    path = tmp_path / "bad.yaml"
    for bad, message in [
        ("      schema_drift: info\n", "schema_drift 'info' is not one of"),
        ("      expected_rows: 0\n", "expected_rows 0 is not a whole number of rows >= 1"),
        ("      plausible: {id: {median: 1}}\n", "plausible 'id': unknown field(s) ['median']"),
        (
            "      plausible: {id: {reference: {entity: rows, field: x}}}\n",
            "reference needs entity, field and key",
        ),
        (
            "      plausible: {id: {reference: {entity: other, field: x, key: id}}}\n",
            "reference entity 'other' is not an entity of this source",
        ),
        ("      plausible: {id: {sum_band: [2, 3]}}\n", "sum_band [2, 3] is not [low, high]"),
    ]:
        path.write_text(head + bad)
        with pytest.raises(ValueError, match=r"source 'drop': entity 'rows'") as raised:
            load_registry(path)
        assert message in str(raised.value)
