"""Issue 6's expectations with hand-worked values: raw types and volume band, marts
future dates, emptiness and freshness; real GX and DuckDB, no mocks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from caravan.lake import Lake
from caravan.quality import marts, raw
from caravan.quality.frames import jsonl_batch
from caravan.quality.gate import GateFailed, run_gate, validate_batch
from caravan.sources import Delivered, ingest
from caravan.sources.registry import (
    DEFAULT_ROW_COUNT_BAND,
    EntitySpec,
    SourceSpec,
    load_registry,
)

DS = "2026-11-08"
REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(REPO / "dags" / "sources.yaml")


# --- raw: types ------------------------------------------------------------------------


def performance_row(campaign_id: str, day: str, **metrics: object) -> dict:
    return {
        "campaign": {"id": campaign_id, "name": f"Campaign {campaign_id}"},
        "metrics": {
            "costMicros": "1000000",
            "impressions": "100",
            "clicks": "5",
            "conversions": 1.0,
            **metrics,
        },
        "segments": {"date": day},
    }


def stage_untyped(lake: Lake, source: str, entity: str, records: list[dict]) -> list[str]:
    """Stage with no required fields and no types, so wrong-typed values reach the gate."""
    spec = EntitySpec(entity, ("id",), (), "data_interval")
    delivered = [Delivered(record, f"record {n}") for n, record in enumerate(records, start=1)]
    return [path for path, _ in ingest.stage(lake, source, spec, DS, delivered).files]


def raw_gate(
    tmp_path, source: str, entity: str, records: list[dict], prior_rows=None, registry=REGISTRY
):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    source_spec = registry[source]
    known = raw.Known(prior_rows=prior_rows or {})
    suite = raw.suite(source_spec, source_spec.entities[entity], known)
    frame = jsonl_batch(lake, stage_untyped(lake, source, entity, records), suite.projection)
    return run_gate(
        frame,
        suite.checks(DS),
        stage="raw",
        source=source,
        entity=entity,
        ds=DS,
        run_id="test-run",
        key_columns=suite.key_columns,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )


def recorded_failures(tmp_path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "select expectation, column_name, severity, unexpected_count, sample_keys"
            " from quality.validation_results where not success order by column_name"
        ).fetchall()


RATINGS = """
shop:
  kind: file_drop
  conn_id: shop_conn
  entities:
    ratings:
      files: "ratings_${ds}.jsonl"
      primary_key: id
      types: {stars: integer}
      accepted_values: {stars: ["1", "2", "3", "4", "5"]}
"""


def test_accepted_values_of_an_integer_field_are_compared_as_integers(tmp_path):
    """Quoted in the YAML or not, the values of an integer field are integers: a 5 and a
    "3" pass, a 7 fails alone (as text they made every record fail)."""
    path = tmp_path / "sources.yaml"
    path.write_text(RATINGS)
    records = [{"id": "a", "stars": 5}, {"id": "b", "stars": "3"}, {"id": "c", "stars": 7}]
    with pytest.raises(GateFailed):
        raw_gate(tmp_path, "shop", "ratings", records, registry=load_registry(path))
    assert recorded_failures(tmp_path) == [
        ("expect_column_values_to_be_in_set", "stars", "error", 1, json.dumps([{"id": "c"}]))
    ]


def test_a_fractional_impressions_count_fails_naming_the_column_and_the_record(tmp_path):
    # 12.5 as bigint is 13 in DuckDB: without the type check it would pass as 13.
    records = [
        performance_row("11", DS),
        performance_row("12", DS, impressions="12.5"),
        performance_row("13", DS, clicks=True),  # a JSON boolean is no integer either
    ]
    with pytest.raises(GateFailed) as failed:
        raw_gate(tmp_path, "google_ads", "campaign_performance", records)
    assert recorded_failures(tmp_path) == [
        (
            "expect_column_values_to_be_null",
            "metrics_clicks__mistyped",
            "error",
            1,
            json.dumps([{"campaign_id": "13", "segments_date__text": DS}]),
        ),
        (
            "expect_column_values_to_be_null",
            "metrics_impressions__mistyped",
            "error",
            1,
            json.dumps([{"campaign_id": "12", "segments_date__text": DS}]),
        ),
    ]
    # The message shows each offending value as delivered, beside its record's keys.
    message = str(failed.value)
    assert (
        "metrics_impressions__mistyped: 1 unexpected, sample keys:"
        ' {"campaign_id": "12", "segments_date__text": "2026-11-08"}; their values: "12.5"'
    ) in message
    assert '{"campaign_id": "13", "segments_date__text": "2026-11-08"}; their values: "true"' in (
        message
    )


def test_a_wrong_typed_key_is_still_named_by_its_delivered_text(tmp_path):
    records = [performance_row("11", DS), performance_row("12", "Nov 8")]
    with pytest.raises(GateFailed):
        raw_gate(tmp_path, "google_ads", "campaign_performance", records)
    failures = {row[1]: row for row in recorded_failures(tmp_path)}
    # Of the wrong type, and cast to null: a required field missing too.
    assert set(failures) == {"segments_date__mistyped", "segments_date"}
    assert json.loads(failures["segments_date__mistyped"][4]) == [
        {"campaign_id": "12", "segments_date__text": "Nov 8"}
    ]


def test_typed_values_of_the_right_type_pass_and_nulls_are_left_to_not_null(tmp_path):
    records = [
        performance_row("11", DS, impressions=100, conversions="2.5"),
        performance_row("12", DS, clicks=None, conversions=3),
    ]
    result = raw_gate(tmp_path, "google_ads", "campaign_performance", records)
    assert result.passed and not result.failures, result.summary()


# --- raw: volume -----------------------------------------------------------------------


def test_the_volume_band_is_the_median_of_the_week_before_times_the_band():
    prior = {"2026-11-01": 100, "2026-11-03": 110, "2026-11-05": 90}  # median 100
    assert raw.row_count_bounds(prior, DS, (0.5, 2.0)) == (50, 200, 100)
    # An even count: median (100 + 110) / 2 = 105; 0.5 x 105 = 52.5 rounds up to 53.
    prior["2026-11-07"] = 120
    assert raw.row_count_bounds(prior, DS, (0.5, 2.0)) == (53, 210, 105)
    assert raw.row_count_bounds(prior, DS, (0.8, 1.25)) == (84, 131, 105)
    # Exactly on the band: 0.85 x 100 = 85 and 1.15 x 100 = 115 (not 86 and 114 as floats).
    prior = {"2026-11-01": 100, "2026-11-03": 100, "2026-11-05": 100}
    assert raw.row_count_bounds(prior, DS, (0.85, 1.15)) == (85, 115, 100)


def test_only_the_seven_days_before_ds_count_from_the_first_one_published():
    outside = {"2026-10-31": 1000, DS: 1000, "2026-11-09": 1000}  # ds-8, ds, ds+1
    assert raw.row_count_bounds(outside, DS, (0.5, 2.0)) is None
    one = {"2026-11-07": 110}
    assert raw.row_count_bounds({**outside, **one}, DS, (0.5, 2.0)) == (55, 220, 110)
    two = {**one, "2026-11-01": 100}  # median 105
    assert raw.row_count_bounds({**outside, **two}, DS, (0.5, 2.0)) == (53, 210, 105)
    three = {**two, "2026-11-04": 300}  # median 110
    assert raw.row_count_bounds({**outside, **three}, DS, (0.5, 2.0)) == (55, 220, 110)


def test_before_any_day_is_published_the_registry_expected_rows_seed_the_band():
    assert raw.row_count_bounds({}, DS, (0.5, 2.0), expected_rows=40) == (20, 80, 40)
    # Once a day is published, what it holds wins over the registry's guess.
    assert raw.row_count_bounds({"2026-11-07": 10}, DS, (0.5, 2.0), 40) == (5, 20, 10)


def deals_entity(**changes) -> tuple[SourceSpec, EntitySpec]:
    """CRM deals: an entity with the default band, [0.5, 2.0], and severity, warn."""
    source = REGISTRY["crm"]
    entity = source.entities["deals"]
    return source, dataclasses.replace(entity, **changes)


def volume_rows(rows: int, prior: dict[str, int], **changes):
    """The volume check's recorded row for a partition of `rows` rows."""
    source, entity = deals_entity(**changes)
    checks = [band_check(entity, prior)]
    result = validate_batch(
        pd.DataFrame({"order_id": range(rows)}),
        checks,
        stage="raw",
        source=source.name,
        entity=entity.name,
        ds=DS,
        run_id="r",
        key_columns=["order_id"],
    )
    return result, result.rows[0]


def band_check(entity: EntitySpec, prior: dict[str, int]):
    """The volume band's check: the one of the volume checks with an upper bound."""
    [check] = [
        c for c in raw.volume_checks(entity, DS, prior) if c.expectation.max_value is not None
    ]
    return check


PRIOR = {"2026-11-01": 100, "2026-11-02": 110, "2026-11-03": 90, "2026-11-04": 95}  # median 97.5


@pytest.mark.parametrize(("rows", "success"), [(48, False), (49, True), (195, True), (196, False)])
def test_the_volume_check_passes_on_the_band_edges_and_warns_outside(rows, success):
    # 0.5 x 97.5 = 48.75 -> at least 49; 2.0 x 97.5 = 195 -> at most 195.
    result, row = volume_rows(rows, PRIOR)
    assert row["expectation"] == "expect_table_row_count_to_be_between"
    assert row["success"] is success
    assert row["severity"] == "warn"
    assert json.loads(row["observed_value"]) == rows
    assert json.loads(row["kwargs"])["min_value"] == 49
    assert json.loads(row["kwargs"])["max_value"] == 195
    assert result.passed  # a warning never blocks
    if not success:
        assert "[warn] expect_table_row_count_to_be_between" in result.summary()
        assert "passed with warnings" in result.summary()


def test_the_volume_check_carries_its_median_and_history():
    _, entity = deals_entity()
    check = band_check(entity, PRIOR)
    assert check.expectation.meta == {
        "median_rows": 97.5,
        "row_count_band": [0.5, 2.0],
        "prior_rows": PRIOR,
    }


def test_an_entity_can_make_its_volume_band_an_error():
    result, row = volume_rows(300, PRIOR, row_count_band=(0.9, 1.1), row_count_severity="error")
    assert (row["success"], row["severity"]) == (False, "error")
    assert json.loads(row["kwargs"])["min_value"] == 88  # ceil(0.9 x 97.5 = 87.75)
    assert json.loads(row["kwargs"])["max_value"] == 107  # floor(1.1 x 97.5 = 107.25)
    assert not result.passed


def row_count_checks(entity: EntitySpec, prior: dict[str, int]) -> list[tuple]:
    """(min, max, severity) of each row-count check of the entity's raw checks."""
    source = REGISTRY["crm"]
    return [
        (c.expectation.min_value, c.expectation.max_value, c.severity)
        for c in raw.checks(source, entity, DS, raw.Known(prior_rows=prior))
        if c.expectation.expectation_type == "expect_table_row_count_to_be_between"
    ]


def test_without_history_only_an_empty_delivery_fails():
    _, entity = deals_entity()
    assert row_count_checks(entity, {}) == [(1, None, "error")]
    _, may_be_empty = deals_entity(may_be_empty=True)
    assert row_count_checks(may_be_empty, {}) == []


def test_with_history_a_near_empty_delivery_is_an_error_and_a_swing_a_warning():
    _, entity = deals_entity()
    # median 97.5: near-empty under ceil(0.1 x 97.5) = 10 rows; the band 49..195.
    assert row_count_checks(entity, PRIOR) == [
        (1, None, "error"),
        (10, None, "error"),
        (49, 195, "warn"),
    ]
    _, may_be_empty = deals_entity(may_be_empty=True)
    assert row_count_checks(may_be_empty, PRIOR) == [(49, 195, "warn")]


def publish_rows(lake: Lake, entity: EntitySpec, ds: str, rows: int) -> None:
    delivered = [Delivered({"order_id": n}, f"row {n}") for n in range(rows)]
    staged = ingest.stage(lake, "shop_db", entity, ds, delivered)
    ingest.publish(lake, staged, run_id=f"run-{ds}")


def test_prior_rows_are_read_from_the_published_manifests_of_the_week_before(tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    entity = EntitySpec("orders", ("order_id",), ("order_id",), "data_interval")
    publish_rows(lake, entity, "2026-10-31", 50)  # ds-8: outside the week
    publish_rows(lake, entity, "2026-11-01", 7)
    publish_rows(lake, entity, "2026-11-07", 4)
    publish_rows(lake, entity, DS, 9)  # the run's own (a rerun): not history
    # Staged but never published: readers do not see it.
    ingest.stage(lake, "shop_db", entity, "2026-11-05", [Delivered({"order_id": 1}, "r")])
    assert raw.read_prior_rows(lake, "shop_db", "orders", DS) == {
        "2026-11-01": 7,
        "2026-11-07": 4,
    }


def test_the_registry_band_defaults_and_refusals(tmp_path):
    deals = REGISTRY["crm"].entities["deals"]
    assert (deals.row_count_band, deals.row_count_severity) == (DEFAULT_ROW_COUNT_BAND, "warn")
    assert DEFAULT_ROW_COUNT_BAND == (0.5, 2.0)
    assert REGISTRY["shop_db"].entities["orders"].row_count_band == (0.5, 3.0)
    head = "drop:\n  kind: file_drop\n  conn_id: c\n  entities:\n    rows:\n"
    head += "      files: '*'\n      primary_key: id\n"
    path = tmp_path / "sources.yaml"
    path.write_text(head + "      row_count_band: [0.8, 1.5]\n      row_count_severity: error\n")
    rows = load_registry(path)["drop"].entities["rows"]
    assert (rows.row_count_band, rows.row_count_severity) == ((0.8, 1.5), "error")
    for bad, message in [
        ("row_count_band: [1.2, 2]", "row_count_band [1.2, 2] is not [low, high]"),
        ("row_count_band: 2", "row_count_band 2 is not [low, high]"),
        ("row_count_severity: info", "row_count_severity 'info' is not one of"),
    ]:
        path.write_text(head + f"      {bad}\n")
        with pytest.raises(ValueError, match=r"source 'drop': entity 'rows': ") as raised:
            load_registry(path)
        assert message in str(raised.value)


def test_published_partitions_are_the_history_of_a_real_gate(tmp_path):
    """Through the raw gate as ingest runs it: 3 published days of 10 rows, then 31, above
    the registry's band for orders, [0.5, 3.0] x 10."""
    lake = Lake(f"file://{tmp_path / 'lake'}")
    source = REGISTRY["shop_db"]
    entity = EntitySpec("orders", ("order_id",), ("order_id",), "data_interval")
    for day in ("2026-11-05", "2026-11-06", "2026-11-07"):
        publish_rows(lake, entity, day, 10)
    records = [
        {
            "order_id": n,
            "customer_id": 1,
            "status": "placed",
            "created_at": f"{DS}T09:00:00",
            "updated_at": f"{DS}T09:00:00",
        }
        for n in range(31)
    ]
    known = raw.read_known(lake, source, source.entities["orders"], DS)
    assert known.prior_rows == {"2026-11-05": 10, "2026-11-06": 10, "2026-11-07": 10}
    suite = raw.suite(source, source.entities["orders"], known)
    frame = jsonl_batch(lake, stage_untyped(lake, "shop_db", "orders", records), suite.projection)
    result = run_gate(
        frame,
        suite.checks(DS),
        stage="raw",
        source="shop_db",
        entity="orders",
        ds=DS,
        run_id="r",
        key_columns=suite.key_columns,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )
    assert result.passed
    [warning] = result.failures
    assert (warning["expectation"], warning["severity"]) == (
        "expect_table_row_count_to_be_between",
        "warn",
    )
    assert json.loads(warning["observed_value"]) == 31
    assert json.loads(warning["kwargs"]) == {"min_value": 5, "max_value": 30}


# --- marts -----------------------------------------------------------------------------

RUN_DS = "2026-11-07"


def warehouse_with(tmp_path, *statements: str) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        for statement in statements:
            con.execute(statement)
    return path


def fct_orders(*rows: str) -> str:
    """Orders of 10.00 net each: (order_id, order_date, status, ds)."""
    return (
        "create table marts.fct_orders as select order_id, 'c' || order_id as customer_key,"
        " order_date::date as order_date, status, 10.00::decimal(18, 2) as gross_revenue,"
        " 0.00::decimal(18, 2) as discount_amount, 10.00::decimal(18, 2) as net_revenue,"
        f" ds::date as ds from (values {', '.join(rows)}) as t(order_id, order_date, status, ds)"
    )


def marts_gate(warehouse: Path, mart: str, ds: str = RUN_DS):
    suite = marts.SUITES[("marts", mart)]
    with duckdb.connect(str(warehouse)) as con:
        frame = con.execute(f"select {suite.projection} from marts.{mart}").df()
    return run_gate(
        frame,
        suite.checks(ds),
        stage="marts",
        source="marts",
        entity=mart,
        ds=ds,
        run_id="r",
        key_columns=suite.key_columns,
        warehouse_path=warehouse,
    )


ORDERS = (
    "('1', '2026-11-06', 'placed', '2026-11-06')",
    "('2', '2026-11-06', 'shipped', '2026-11-07')",
)


def test_fct_orders_of_the_run_pass(tmp_path):
    result = marts_gate(warehouse_with(tmp_path, fct_orders(*ORDERS)), "fct_orders")
    assert result.passed and not result.failures, result.summary()


def test_an_order_dated_after_the_partition_that_delivered_it_fails(tmp_path):
    future = "('3', '2026-11-08', 'placed', '2026-11-07')"
    with pytest.raises(GateFailed) as failed:
        marts_gate(warehouse_with(tmp_path, fct_orders(*ORDERS, future)), "fct_orders")
    [row] = failed.value.result.failures
    assert row["expectation"] == "expect_column_pair_values_a_to_be_greater_than_b"
    assert row["column_name"] == "partition_day,order_day"
    assert (row["severity"], row["unexpected_count"]) == ("error", 1)
    assert json.loads(row["sample_keys"]) == [{"order_id": "3"}]


def test_a_stale_fct_orders_warns_and_does_not_block(tmp_path):
    # The latest partition loaded is 2026-11-07; the run is for 2026-11-08.
    result = marts_gate(warehouse_with(tmp_path, fct_orders(*ORDERS)), "fct_orders", "2026-11-08")
    assert result.passed
    [row] = result.failures
    assert row["expectation"] == "expect_column_max_to_be_between"
    assert (row["column_name"], row["severity"]) == ("partition_day", "warn")
    assert json.loads(row["observed_value"]) == "2026-11-07"
    assert json.loads(row["kwargs"])["min_value"] == "2026-11-08"


def roi_warehouse(tmp_path, *rows: str) -> Path:
    """Facts loaded through the run's day; ROI rows `(report_date, channel, campaign_id,
    attribution_model)`, if any."""
    values = f"values {', '.join(rows)}" if rows else "select null, null, null, null limit 0"
    return warehouse_with(
        tmp_path,
        fct_orders(f"('1', '{RUN_DS}', 'placed', '{RUN_DS}')"),
        f"create table marts.fct_ad_spend_daily as select date '{RUN_DS}' as ds",
        f"create table marts.mart_marketing_roi as select * from ({values})"
        " as t(report_date, channel, campaign_id, attribution_model)",
    )


ROI_ROWS = (
    f"(date '{RUN_DS}', 'google_ads', '11', 'last_touch')",
    "(date '2026-11-06', 'meta_ads', '21', 'last_touch')",
)


def test_a_roi_of_the_facts_loaded_passes(tmp_path):
    result = marts_gate(roi_warehouse(tmp_path, *ROI_ROWS), "mart_marketing_roi")
    assert result.passed and not result.failures, result.summary()


def test_an_empty_roi_fails_and_warns_that_it_is_behind(tmp_path):
    with pytest.raises(GateFailed) as failed:
        marts_gate(roi_warehouse(tmp_path), "mart_marketing_roi")
    rows = {row["expectation"]: row for row in failed.value.result.failures}
    assert set(rows) == {"expect_table_row_count_to_be_between", "expect_column_max_to_be_between"}
    empty = rows["expect_table_row_count_to_be_between"]
    assert (empty["severity"], json.loads(empty["observed_value"])) == ("error", 0)
    assert rows["expect_column_max_to_be_between"]["severity"] == "warn"


def test_a_roi_day_after_the_facts_loaded_fails_naming_its_row(tmp_path):
    later = "(date '2026-11-08', 'google_ads', '11', 'first_touch')"
    with pytest.raises(GateFailed) as failed:
        marts_gate(roi_warehouse(tmp_path, *ROI_ROWS, later), "mart_marketing_roi")
    [row] = failed.value.result.failures
    assert (row["column_name"], row["severity"], row["unexpected_count"]) == (
        "loaded_through,report_day",
        "error",
        1,
    )
    assert json.loads(row["sample_keys"]) == [
        {
            "report_day": "2026-11-08",
            "channel": "google_ads",
            "campaign_id": "11",
            "attribution_model": "first_touch",
        }
    ]


def test_a_mart_day_after_everything_loaded_fails(tmp_path):
    warehouse = warehouse_with(
        tmp_path,
        fct_orders(*ORDERS),
        "create table marts.mart_sales_daily as select * from (values"
        " (date '2026-11-06', 'shoes', 'eu', 2, 20.00),"
        " (date '2026-11-08', 'shoes', 'eu', 1, 0.00))"
        " as t(order_date, category, region, units, net_revenue)",
    )
    with pytest.raises(GateFailed) as failed:
        marts_gate(warehouse, "mart_sales_daily")
    [row] = failed.value.result.failures
    assert row["column_name"] == "loaded_through,order_day"
    assert json.loads(row["sample_keys"]) == [
        {"order_day": "2026-11-08", "category": "shoes", "region": "eu"}
    ]


def test_every_marts_check_has_a_deliberate_severity_and_freshness_warns():
    for suite in marts.SUITES.values():
        for check in suite.checks(RUN_DS):
            kind = check.expectation.expectation_type
            expected = "warn" if kind == "expect_column_max_to_be_between" else "error"
            assert check.severity == expected, (suite.entity, kind)


# What dbt's tests own (dbt_project/models/marts/**/_*__models.yml), the marts gate does
# not check again: the gate's checks are date orderings, freshness and emptiness only.
GATE_OWNED = {
    "expect_column_pair_values_a_to_be_greater_than_b",  # no date beyond what was loaded
    "expect_column_max_to_be_between",  # freshness against the run's ds
    "expect_table_row_count_to_be_between",  # not empty
}


def test_the_marts_gate_checks_only_what_dbt_cannot_say():
    for suite in marts.SUITES.values():
        kinds = {check.expectation.expectation_type for check in suite.checks(RUN_DS)}
        assert kinds <= GATE_OWNED, (suite.entity, kinds - GATE_OWNED)


def dbt_column_tests() -> dict[tuple[str, str], list]:
    """(model, column) -> its dbt data tests, from the marts' YAML."""
    tests = {}
    for path in (REPO / "dbt_project" / "models" / "marts").glob("*/_*__models.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            for column in model.get("columns", []):
                tests[(model["name"], column["name"])] = column.get("data_tests", [])
    return tests


def expressions(tests: list) -> set:
    return {
        test["caravan_expression_is_true"]["arguments"]["expression"]
        for test in tests
        if isinstance(test, dict) and "caravan_expression_is_true" in test
    }


def test_the_rules_the_marts_gate_left_have_their_dbt_test():
    """The value rules the marts gate checked until dbt owned them, each now a dbt test."""
    tests = dbt_column_tests()
    assert "not_null" in tests[("fct_orders", "order_date")]
    assert expressions(tests[("fct_ad_spend_daily", "spend")]) == {"spend >= 0"}
    assert expressions(tests[("mart_marketing_roi", "spend")]) == {"spend >= 0"}
    assert expressions(tests[("mart_sales_daily", "units")]) == {"units >= 1"}
    assert expressions(tests[("mart_funnel_daily", "sessions")]) == {"sessions >= 1"}
    assert expressions(tests[("mart_funnel_daily", "conversion_rate")]) == {
        "conversion_rate between 0 and 1"
    }
    assert expressions(tests[("mart_customer_ltv", "customers")]) == {"customers >= 1"}
