"""The ad spend reconciliation: curated spend against raw spend, worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caravan.lake import Lake
from caravan.quality.gate import GateFailed, run_gate
from caravan.quality.reconcile import AD_SPEND_RECONCILIATION, ad_spend_frame
from caravan.sources import Delivered
from caravan.sources.ingest import publish, stage
from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
DS = "2026-11-03"
GOOGLE = {
    "campaign": {"id": "11", "name": "c11"},
    "metrics": {"costMicros": "12345678", "impressions": "10", "clicks": "1"},
    "segments": {"date": DS},
}
META = [
    {"account_id": "1", "account_currency": "EUR", "campaign_id": "31", "spend": "10.05",
     "impressions": "5", "clicks": "1", "actions": [], "date_start": DS},
    {"account_id": "2", "account_currency": "USD", "campaign_id": "41", "spend": "3.20",
     "impressions": "5", "clicks": "1", "actions": [], "date_start": DS},
    # No GBP rate: the job puts this row in quarantine, so it is in neither side.
    {"account_id": "3", "account_currency": "GBP", "campaign_id": "51", "spend": "9.99",
     "impressions": "5", "clicks": "1", "actions": [], "date_start": DS},
]  # fmt: skip
RATES = [{"date": DS, "currency": "EUR", "quote_currency": "USD", "rate": "1.1000"}]
# By hand: 12345678 micros = 12.345678; 10.05 EUR × 1.1 = 11.055 → 11.06; 3.20 USD as is.
CURATED = [
    ("google_ads", "11", "12.345678"),
    ("meta_ads", "31", "11.060000"),
    ("meta_ads", "41", "3.200000"),
]


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(f"file://{tmp_path / 'lake'}")
    registry = load_registry(REPO / "dags" / "sources.yaml")
    for source, entity, rows in [
        ("google_ads", "campaign_performance", [GOOGLE]),
        ("meta_ads", "insights", META),
        ("fx_rates", "rates", RATES),
    ]:
        delivered = [Delivered(r, f"record {n}") for n, r in enumerate(rows, start=1)]
        spec = registry[source].entities[entity]
        publish(lake, stage(lake, source, spec, DS, delivered), run_id="test")
    return lake


def curated(tmp_path: Path, rows: list[tuple[str, str, str]]) -> list[str]:
    path = tmp_path / "curated.parquet"
    table = pa.table(
        {
            "spend_date": pa.array([date.fromisoformat(DS)] * len(rows), pa.date32()),
            "platform": [p for p, _, _ in rows],
            "campaign_id": [c for _, c, _ in rows],
            "spend": pa.array([Decimal(s) for _, _, s in rows], pa.decimal128(18, 6)),
        }
    )
    pq.write_table(table, path)
    return [str(path)]


def gate(tmp_path, lake, rows):
    frame = ad_spend_frame(lake, DS, curated(tmp_path, rows), "USD")
    checks = AD_SPEND_RECONCILIATION.checks(DS)
    return run_gate(
        frame,
        checks,
        stage="curated",
        source="marketing",
        entity="ad_spend_daily",
        ds=DS,
        run_id="test",
        key_columns=AD_SPEND_RECONCILIATION.key_columns,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )


def test_curated_spend_that_matches_raw_to_the_micro_passes(tmp_path, lake):
    assert gate(tmp_path, lake, CURATED).passed


def test_a_cent_off_fails_naming_the_campaign(tmp_path, lake):
    rows = [*CURATED[:1], ("meta_ads", "31", "11.050000"), *CURATED[2:]]  # rounded down
    with pytest.raises(GateFailed) as failed:
        gate(tmp_path, lake, rows)
    assert "difference" in str(failed.value) and '"campaign_id": "31"' in str(failed.value)


def test_a_dropped_row_and_an_extra_row_fail(tmp_path, lake):
    rows = [*CURATED[:2], ("meta_ads", "51", "9.990000")]  # 41 dropped, 51 not from raw
    with pytest.raises(GateFailed) as failed:
        gate(tmp_path, lake, rows)
    message = str(failed.value)
    assert "curated_spend" in message and '"campaign_id": "41"' in message
    assert "raw_spend" in message and '"campaign_id": "51"' in message
