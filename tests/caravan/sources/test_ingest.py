"""Staging and publishing a delivery: quarantine with reasons, counts that reconcile.

Deliveries are built by hand; counts and reasons below are worked out from them.
The entity specs are the real ones from dags/sources.yaml.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from caravan.lake import Lake, Partition
from caravan.sources import Delivered
from caravan.sources.ingest import (
    QuarantineRateExceeded,
    Staged,
    check_quarantine_rate,
    field_value,
    publish,
    stage,
)
from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(REPO / "dags" / "sources.yaml")
PERFORMANCE = REGISTRY["google_ads"].entities["campaign_performance"]
ORDERS = REGISTRY["shop_db"].entities["orders"]
DS = "2026-03-01"


def performance_row(campaign_id: str, cost: str) -> dict:
    return {
        "campaign": {"id": campaign_id, "name": f"c{campaign_id}"},
        "metrics": {"costMicros": cost, "impressions": "10"},
        "segments": {"date": DS},
    }


GOOD_1 = performance_row("1", "1000000")
GOOD_2 = performance_row("2", "2500000")
GOOD_3 = performance_row("3", "0")
NOT_A_DICT = ["campaign", "1"]
NO_CAMPAIGN_ID = {
    "campaign": {"name": "no id"},
    "metrics": {"costMicros": "5"},
    "segments": {"date": DS},
}
CAMPAIGN_NOT_AN_OBJECT = {"campaign": "7", "metrics": {"costMicros": "5"}, "segments": {"date": DS}}
# Delivery order: positions 1..6 (1-based).
DELIVERY = [GOOD_1, NOT_A_DICT, GOOD_2, NO_CAMPAIGN_ID, GOOD_3, CAMPAIGN_NOT_AN_OBJECT]


def delivered(records: list) -> list[Delivered]:
    """Records as an API delivers them, numbered from 1 in their origin."""
    return [Delivered(record, f"test record {n}") for n, record in enumerate(records, start=1)]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


def folder(
    tmp_path: Path, zone: str, source: str = "google_ads", entity: str = "campaign_performance"
) -> Path:
    return tmp_path / "lake" / zone / source / entity / f"ds={DS}"


def read_jsonl_gz(path: Path) -> list:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def read_manifest(path: Path) -> dict:
    return json.loads((path / "_manifest.json").read_text())


def test_stage_splits_a_delivery_into_loadable_and_quarantined_records(lake):
    staged = stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY))
    # 6 delivered: 3 good, 3 rejected (a list, a missing campaign.id, a campaign that is a string).
    assert (staged.delivered, staged.rows, staged.quarantined) == (6, 3, 3)
    assert [rows for _, rows in staged.files] == [3]
    assert [rows for _, rows in staged.quarantine_files] == [3]
    assert staged.schema == {"campaign": "object", "metrics": "object", "segments": "object"}


def test_publish_sends_rejected_records_to_quarantine_with_reason_and_original(lake, tmp_path):
    publish(lake, stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY)), run_id="run-1")

    quarantine = folder(tmp_path, "quarantine")
    manifest = read_manifest(quarantine)
    [entry] = manifest["files"]
    rejected = read_jsonl_gz(quarantine / entry["path"])
    assert [(r["origin"], r["reason"], r["record"]) for r in rejected] == [
        ("test record 2", "record is a list, not an object", NOT_A_DICT),
        ("test record 4", "missing required field 'campaign.id'", NO_CAMPAIGN_ID),
        ("test record 6", "missing required field 'campaign.id'", CAMPAIGN_NOT_AN_OBJECT),
    ]
    assert {(r["source"], r["entity"], r["ds"]) for r in rejected} == {
        ("google_ads", "campaign_performance", DS)
    }
    # The quarantine partition holds 3 records, all of them published there.
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (3, 3, 0)


def test_publish_puts_only_loadable_records_in_raw_and_the_counts_reconcile(lake, tmp_path):
    returned = publish(
        lake, stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY)), run_id="run-1"
    )

    raw = folder(tmp_path, "raw")
    manifest = read_manifest(raw)
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (6, 3, 3)
    assert manifest["delivered"] == manifest["rows"] + manifest["quarantined"]
    assert manifest["run_id"] == "run-1"
    [entry] = manifest["files"]
    assert read_jsonl_gz(raw / entry["path"]) == [GOOD_1, GOOD_2, GOOD_3]
    assert (returned.delivered, returned.rows, returned.quarantined) == (6, 3, 3)
    assert [p for p in (tmp_path / "lake" / "staging").rglob("*") if p.is_file()] == []


def test_a_clean_delivery_publishes_no_quarantine(lake, tmp_path):
    publish(
        lake,
        stage(lake, "google_ads", PERFORMANCE, DS, delivered([GOOD_1, GOOD_2])),
        run_id="run-1",
    )
    manifest = read_manifest(folder(tmp_path, "raw"))
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (2, 2, 0)
    assert not folder(tmp_path, "quarantine").exists()


def test_a_rerun_that_rejects_nothing_removes_the_old_quarantine_partition(lake, tmp_path):
    publish(lake, stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY)), run_id="run-1")
    assert (folder(tmp_path, "quarantine") / "_manifest.json").exists()

    publish(
        lake,
        stage(lake, "google_ads", PERFORMANCE, DS, delivered([GOOD_1, GOOD_2])),
        run_id="run-2",
    )

    assert not folder(tmp_path, "quarantine").exists()
    assert (
        lake.published_files(Partition("quarantine", "google_ads", "campaign_performance", DS))
        == []
    )
    manifest = read_manifest(folder(tmp_path, "raw"))
    assert (manifest["run_id"], manifest["delivered"], manifest["quarantined"]) == ("run-2", 2, 0)


def test_a_rerun_with_fewer_rejects_replaces_the_quarantine_partition(lake, tmp_path):
    publish(lake, stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY)), run_id="run-1")
    publish(
        lake,
        stage(lake, "google_ads", PERFORMANCE, DS, delivered([GOOD_1, NOT_A_DICT])),
        run_id="run-2",
    )
    quarantine = folder(tmp_path, "quarantine")
    manifest = read_manifest(quarantine)
    [entry] = manifest["files"]
    assert [r["record"] for r in read_jsonl_gz(quarantine / entry["path"])] == [NOT_A_DICT]
    assert (manifest["run_id"], manifest["rows"]) == ("run-2", 1)


def test_an_empty_delivery_publishes_an_empty_partition(lake, tmp_path):
    publish(lake, stage(lake, "google_ads", PERFORMANCE, DS, delivered([])), run_id="run-1")
    manifest = read_manifest(folder(tmp_path, "raw"))
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (0, 0, 0)
    assert read_jsonl_gz(folder(tmp_path, "raw") / manifest["files"][0]["path"]) == []


def test_flat_records_quarantined_for_a_missing_or_null_required_field(lake, tmp_path):
    good = {
        "order_id": 1,
        "customer_id": 9,
        "created_at": "2026-03-01T10:00:00",
        "updated_at": "2026-03-01T10:00:00",
        "status": "x",
    }
    no_status = {k: v for k, v in good.items() if k != "status"}
    null_customer = {**good, "order_id": 2, "customer_id": None}
    zero_ids = {**good, "order_id": 0, "customer_id": 0}  # falsy but present: loadable
    delivery = [good, no_status, null_customer, zero_ids, "text"]

    staged = stage(lake, "shop_db", ORDERS, DS, delivered(delivery))
    publish(lake, staged, run_id="run-1")

    quarantine = folder(tmp_path, "quarantine", "shop_db", "orders")
    raw = folder(tmp_path, "raw", "shop_db", "orders")
    raw_manifest = read_manifest(raw)
    assert (raw_manifest["delivered"], raw_manifest["rows"], raw_manifest["quarantined"]) == (
        5,
        2,
        3,
    )
    assert read_jsonl_gz(raw / "part-00000.jsonl.gz") == [good, zero_ids]
    rejected = read_jsonl_gz(quarantine / "part-00000.jsonl.gz")
    assert [(r["origin"], r["reason"]) for r in rejected] == [
        ("test record 2", "missing required field 'status'"),
        ("test record 3", "missing required field 'customer_id'"),
        ("test record 5", "record is a str, not an object"),
    ]


def test_staged_survives_an_xcom_json_round_trip_and_publishes(lake, tmp_path):
    staged = stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY))
    through_xcom = Staged.from_xcom(json.loads(json.dumps(staged.to_xcom())))
    assert through_xcom == staged
    publish(lake, through_xcom, run_id="run-1")
    assert read_manifest(folder(tmp_path, "raw"))["rows"] == 3


@pytest.mark.parametrize(
    ("record", "path", "expected"),
    [
        ({"campaign": {"id": "7"}}, "campaign.id", "7"),
        ({"campaign": {"id": 0}}, "campaign.id", 0),
        ({"campaign": {"name": "x"}}, "campaign.id", None),
        ({"campaign": "7"}, "campaign.id", None),
        ({"a": {"b": {"c": [1]}}}, "a.b.c", [1]),
        ({}, "a", None),
    ],
)
def test_field_value_follows_dotted_paths(record, path, expected):
    assert field_value(record, path) == expected


def test_a_quarantine_rate_above_the_threshold_fails_naming_source_field_and_file(lake):
    staged = stage(lake, "google_ads", PERFORMANCE, DS, delivered(DELIVERY))  # 3 of 6 rejected
    with pytest.raises(QuarantineRateExceeded) as exceeded:
        check_quarantine_rate(staged, threshold=0.4)
    message = str(exceeded.value)
    assert message.startswith(
        "google_ads/campaign_performance ds=2026-03-01: 3 of 6 records (50.0%) went to quarantine"
    )
    assert "threshold of 40.0%" in message
    assert "missing required field 'campaign.id' (2)" in message
    assert "record is a list, not an object (1)" in message
    assert "First rejected: test record 2: record is a list, not an object;" in message
    assert message.endswith(
        f"{lake.staging_path(Partition('quarantine', 'google_ads', 'campaign_performance', DS))}"
        "/part-00000.jsonl.gz"
    )


def test_a_quarantine_failure_over_many_distinct_values_stays_short(lake):
    """2,000 records, each with its own bad date: the message counts them as one reason
    and shows five of them, not every one (it once listed every record)."""
    bad = [
        {**performance_row(str(n), "10"), "segments": {"date": f"2016{n:06d}"}} for n in range(2000)
    ]
    staged = stage(lake, "google_ads", PERFORMANCE, DS, delivered(bad))
    assert staged.reasons == {"field 'segments.date' is not a date": 2000}
    with pytest.raises(QuarantineRateExceeded) as exceeded:
        check_quarantine_rate(staged, threshold=0.01)
    message = str(exceeded.value)
    assert "Reasons: field 'segments.date' is not a date (2000)." in message
    assert message.count("'2016") == 5  # the first five rejected, with their values
    assert len(message) < 1500


@pytest.mark.parametrize(
    ("delivery", "threshold"), [(DELIVERY, 0.5), ([GOOD_1, GOOD_2], 0.0), ([], 0.0)]
)
def test_a_quarantine_rate_at_or_below_the_threshold_passes(lake, delivery, threshold):
    check_quarantine_rate(
        stage(lake, "google_ads", PERFORMANCE, DS, delivered(delivery)), threshold
    )


def test_a_field_of_the_wrong_type_sends_the_record_to_quarantine_naming_field_and_value(lake):
    wrong_cost = performance_row("4", "N/A")
    wrong_date = {**performance_row("5", "10"), "segments": {"date": "yesterday"}}
    staged = stage(lake, "google_ads", PERFORMANCE, DS, delivered([GOOD_1, wrong_cost, wrong_date]))
    assert (staged.delivered, staged.rows, staged.quarantined) == (3, 1, 2)
    assert staged.reasons == {  # counted by field and type; each record keeps its value
        "field 'metrics.costMicros' is not an integer": 1,
        "field 'segments.date' is not a date": 1,
    }


def test_an_unparsable_delivery_goes_to_quarantine_with_its_text_and_error(lake, tmp_path):
    broken = Delivered('{"campaign": {"id"', "drop.jsonl line 7", "line is not valid JSON (x)")
    publish(lake, stage(lake, "google_ads", PERFORMANCE, DS, [broken]), run_id="run-1")
    quarantine = folder(tmp_path, "quarantine")
    [rejected] = read_jsonl_gz(quarantine / "part-00000.jsonl.gz")
    assert rejected["reason"] == "line is not valid JSON (x)"
    assert rejected["origin"] == "drop.jsonl line 7"
    assert rejected["record"] == '{"campaign": {"id"'
