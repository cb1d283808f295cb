"""The stage suites on planted bad data: each fails its gate naming the expectation,
column and keys, and clean data passes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from caravan.lake import Lake, Partition
from caravan.quality import raw
from caravan.quality.frames import jsonl_batch
from caravan.quality.gate import GateFailed, run_gate
from caravan.settings import Settings
from caravan.simulator.world import World, end_of_day
from caravan.sources import Delivered, ingest
from caravan.sources.registry import EntitySpec, load_registry

DS = "2026-11-01"
REGISTRY = load_registry(Path(__file__).resolve().parents[3] / "dags" / "sources.yaml")


def performance_row(campaign_id: str, day: str, cost_micros: str) -> dict:
    return {
        "campaign": {
            "resourceName": f"customers/1/campaigns/{campaign_id}",
            "id": campaign_id,
            "name": f"Campaign {campaign_id}",
        },
        "metrics": {
            "costMicros": cost_micros,
            "impressions": "100",
            "clicks": "5",
            "conversions": 1.0,
        },
        "segments": {"date": day},
    }


def gate_staged(tmp_path, source, entity, records, ds=DS):
    """Stage everything (no required fields, no types: bad data must reach the gate), then
    run the real registry entity's raw suite on it."""
    lake = Lake(f"file://{tmp_path / 'lake'}")
    spec = EntitySpec(entity, ("id",), (), "data_interval")
    delivered = [Delivered(record, f"record {n}") for n, record in enumerate(records, start=1)]
    staged = ingest.stage(lake, source, spec, ds, delivered)
    source_spec = REGISTRY[source]
    suite = raw.suite(source_spec, source_spec.entities[entity])
    frame = jsonl_batch(lake, [p for p, _ in staged.files], suite.projection)
    result = run_gate(
        frame,
        suite.checks(ds),
        stage="raw",
        source=source,
        entity=entity,
        ds=ds,
        run_id="test-run",
        key_columns=suite.key_columns,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )
    return lake, result


def failed_expectations(tmp_path) -> set[tuple[str, str]]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return set(
            con.execute(
                "select expectation, column_name from quality.validation_results where not success"
            ).fetchall()
        )
    finally:
        con.close()


def test_negative_cost_fails_the_raw_gate_and_nothing_is_published(tmp_path):
    records = [performance_row("11", DS, "1000000"), performance_row("12", DS, "-5000000")]
    with pytest.raises(GateFailed) as failed:
        gate_staged(tmp_path, "google_ads", "campaign_performance", records)
    message = str(failed.value)
    assert "raw gate google_ads/campaign_performance ds=2026-11-01" in message
    assert "expect_column_values_to_be_between" in message and "metrics_costMicros" in message
    assert '"campaign_id": "12"' in message
    assert failed_expectations(tmp_path) == {
        ("expect_column_values_to_be_between", "metrics_costMicros")
    }
    lake = Lake(f"file://{tmp_path / 'lake'}")
    assert lake.read_manifest(Partition("raw", "google_ads", "campaign_performance", DS)) is None


def test_a_row_from_another_day_and_a_duplicate_fail_the_raw_gate(tmp_path):
    records = [
        performance_row("11", DS, "1000000"),
        performance_row("11", DS, "2000000"),
        performance_row("12", "2026-10-30", "1000000"),  # in the 2-day lookback: fine
        performance_row("13", "2026-10-29", "1000000"),  # before it
        performance_row("14", "2026-11-02", "1000000"),  # after the run's day
    ]
    with pytest.raises(GateFailed) as failed:
        gate_staged(tmp_path, "google_ads", "campaign_performance", records)
    assert failed_expectations(tmp_path) == {
        ("expect_compound_columns_to_be_unique", "campaign_id,segments_date"),
        ("expect_column_values_to_be_in_set", "window_day"),
    }
    assert '"campaign_id": "13"' in str(failed.value)
    assert '"campaign_id": "14"' in str(failed.value)
    assert '"campaign_id": "12"' not in str(failed.value)


def test_a_cost_that_is_not_a_number_fails_as_null(tmp_path):
    records = [performance_row("11", DS, "twelve dollars")]
    with pytest.raises(GateFailed, match="metrics_costMicros"):
        gate_staged(tmp_path, "google_ads", "campaign_performance", records)


def test_the_simulators_records_pass_every_raw_suite(tmp_path):
    world = World(seed=3)
    day = date.fromisoformat(DS)
    # The orders as the shop holds them at the end of the day: changed on it.
    orders = [o.as_of(end_of_day(day)) for o in world.orders_on(day)]
    records = {
        ("google_ads", "campaign_performance"): [
            performance_row(p.campaign_id, DS, str(p.cost_micros))
            for p in world.campaign_performance(day)
        ],
        ("shop_db", "orders"): [
            {
                "order_id": o.order_id,
                "customer_id": o.customer_id,
                "status": o.status,
                "discount_amount": str(o.discount_amount),
                "created_at": o.created_at.isoformat(),
                "updated_at": o.updated_at.isoformat(),
            }
            for o in orders
        ],
        ("shop_db", "order_items"): [
            {
                "order_item_id": i.order_item_id,
                "order_id": i.order_id,
                "product_id": i.product_id,
                "quantity": i.quantity,
                "unit_price": str(i.unit_price),
                "created_at": o.created_at.isoformat(),
                "updated_at": o.updated_at.isoformat(),
            }
            for o in orders
            for i in o.items
        ],
    }
    for (source, entity), rows in records.items():
        _, result = gate_staged(tmp_path, source, entity, rows)
        assert result.passed and not result.failures, result.summary()


def test_an_order_dated_outside_its_partition_fails_the_raw_gate(tmp_path):
    records = [
        {
            "order_id": 1,
            "customer_id": 7,
            "status": "placed",
            "discount_amount": "0",
            "created_at": "2026-11-01T09:00:00",
            "updated_at": "2026-11-02T00:00:01",  # changed the next day: not this partition's
        }
    ]
    with pytest.raises(GateFailed) as failed:
        gate_staged(tmp_path, "shop_db", "orders", records)
    assert "window_day" in str(failed.value) and '{"order_id": "1"}' in str(failed.value)


def test_dbt_catches_attribution_that_does_not_add_up_to_revenue(tmp_path, monkeypatch):
    """Revenue per attribution model, ROAS and spend on mart_marketing_roi are dbt's tests
    to check (the marts gate leaves them to dbt): dbt's own run of them on planted marts."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    settings = Settings.from_env()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_orders as select * from (values"
            " ('1', 100.00::decimal(18,2), true), ('2', 50.00::decimal(18,2), false),"
            " ('3', 25.00::decimal(18,2), true)) as t(order_id, net_revenue, is_revenue)"
        )
        # 100 + 25 = 125 of revenue; last_touch credits 120. ROAS -10 and spend -4 planted.
        con.execute(
            "create table marts.mart_marketing_roi as select * from (values"
            " (date '2026-11-01', 'google_ads', '11', 'last_touch', 100.00, 10.00, -10.0),"
            " (date '2026-11-01', 'meta_ads', '21', 'last_touch', 0.00, -4.00, null),"
            " (date '2026-11-01', 'direct', '(none)', 'last_touch', 20.00, 0.00, null))"
            " as t(report_date, channel, campaign_id, attribution_model,"
            " attributed_revenue, spend, roas)"
        )
        con.execute("alter table marts.mart_marketing_roi add column cpa decimal(18, 2)")
        con.execute("alter table marts.mart_marketing_roi add column cac decimal(18, 2)")
    project = str(settings.dbt_project_dir)
    run = dbtRunner().invoke(
        [
            "test",
            "--select",
            "mart_marketing_roi,test_name:caravan_sums_match",
            "mart_marketing_roi,test_name:caravan_expression_is_true",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ]  # fmt: skip
    )
    outcomes = {
        (
            result.node.test_metadata.name,
            result.node.test_metadata.kwargs.get("expression")
            or result.node.test_metadata.kwargs.get("column"),
        ): (result.status, result.failures)
        for result in run.result
    }
    assert outcomes == {
        ("caravan_sums_match", "attributed_revenue"): ("fail", 1),
        ("caravan_expression_is_true", "roas >= 0 and cpa >= 0 and cac >= 0"): ("fail", 1),
        ("caravan_expression_is_true", "spend >= 0"): ("fail", 1),
    }
