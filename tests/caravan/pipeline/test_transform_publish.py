"""Publishing a Spark job's staged output: rows it set aside reach quarantine, and the
curated manifest counts them (delivered = rows + quarantined)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caravan.lake import Lake, Partition
from caravan.pipeline import transform_steps

DS = "2026-11-03"


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Lake:
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.delenv("CARAVAN_LAKE_URL", raising=False)
    return Lake(f"file://{tmp_path / 'lake'}")


def stage(lake: Lake, zone: str, rows: list[dict], entity: str = "ad_spend_daily") -> None:
    folder = Path(lake.staging_path(Partition(zone, "marketing", entity, DS)))
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-00000.parquet")


def stage_campaigns(lake: Lake) -> None:
    """unify_ad_spend's other output, staged by the same run."""
    stage(lake, "curated", [{"platform": "google_ads", "campaign_id": "1"}], "campaigns")


def manifest(lake: Lake, zone: str, entity: str = "ad_spend_daily") -> dict | None:
    path = Path(lake.path(Partition(zone, "marketing", entity, DS))) / "_manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_rows_without_a_rate_are_published_to_quarantine_and_counted(lake):
    stage(lake, "curated", [{"campaign_id": "1", "spend": 1.5}, {"campaign_id": "2", "spend": 2.0}])
    stage(lake, "quarantine", [{"reason": "no rate from GBP to USD for 2026-11-03"}])
    stage_campaigns(lake)

    published = transform_steps.publish("unify_ad_spend", [DS], "run-1")["rows"]
    assert published == {
        "curated/marketing/ad_spend_daily/ds=2026-11-03": 2,
        "curated/marketing/campaigns/ds=2026-11-03": 1,
    }

    curated = manifest(lake, "curated")
    assert (curated["delivered"], curated["rows"], curated["quarantined"]) == (3, 2, 1)
    quarantine = manifest(lake, "quarantine")
    assert (quarantine["rows"], quarantine["run_id"]) == (1, "run-1")
    # The spend rows set aside are the spend's: the campaigns partition counts none.
    campaigns = manifest(lake, "curated", "campaigns")
    assert (campaigns["delivered"], campaigns["rows"], campaigns["quarantined"]) == (1, 1, 0)
    assert manifest(lake, "quarantine", "campaigns") is None


def test_a_rerun_without_rows_set_aside_removes_the_old_quarantine(lake):
    stage(lake, "curated", [{"campaign_id": "1", "spend": 1.5}])
    stage(lake, "quarantine", [{"reason": "no rate from GBP to USD for 2026-11-03"}])
    stage_campaigns(lake)
    transform_steps.publish("unify_ad_spend", [DS], "run-1")

    stage(lake, "curated", [{"campaign_id": "1", "spend": 1.5}])  # the job cleared quarantine
    stage_campaigns(lake)
    transform_steps.publish("unify_ad_spend", [DS], "run-2")

    assert manifest(lake, "quarantine") is None
    curated = manifest(lake, "curated")
    assert (curated["delivered"], curated["quarantined"], curated["run_id"]) == (1, 0, "run-2")
