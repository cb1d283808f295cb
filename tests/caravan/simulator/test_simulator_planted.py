"""Planted records: the right shape, wrong values; staging lets them through, the raw gate
must not. Served over real HTTP and judged by the registry's real raw suite."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import date, timedelta

import pytest
import requests

from caravan.lake import Lake
from caravan.quality import raw
from caravan.quality.frames import jsonl_batch
from caravan.quality.gate import validate_batch
from caravan.settings import get_settings
from caravan.simulator import google_ads_api
from caravan.simulator.__main__ import parse_args, plant_of
from caravan.simulator.faults import (
    DUPLICATE_KEY,
    NEGATIVE_COST,
    Faults,
    Plant,
    google_performance_key,
    planted_keys,
)
from caravan.simulator.world import World
from caravan.sources.ingest import rejection_reason
from caravan.sources.registry import load_registry

WORLD = World(seed=42)
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
FIRST_PLANTED = DAYS[1]
REGISTRY = load_registry(get_settings().dags_dir / "sources.yaml")
GOOGLE = REGISTRY["google_ads"]
PERFORMANCE = GOOGLE.entities["campaign_performance"]


def keys_of(day: date) -> list[str]:
    return [google_performance_key(p.campaign_id, day) for p in WORLD.campaign_performance(day)]


def served(plant: Plant | None) -> list[dict]:
    """Every campaign_performance row for DAYS, through the simulator's HTTP API."""
    server = google_ads_api.make_server(WORLD, page_size=4, faults=Faults(plant=plant))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"{server.url}/v21/customers/{WORLD.google_ads_customer_id}/googleAds:search"
    query = (
        "SELECT campaign.id, metrics.cost_micros, segments.date FROM campaign "
        f"WHERE segments.date BETWEEN '{DAYS[0]}' AND '{DAYS[-1]}'"
    )
    headers = {"Authorization": "Bearer t", "developer-token": "d"}
    rows, token = [], None
    try:
        while True:
            body = {"query": query, **({"pageToken": token} if token else {})}
            page = requests.post(url, json=body, headers=headers, timeout=10).json()
            rows += page["results"]
            token = page.get("nextPageToken")
            if token is None:
                return rows
    finally:
        server.shutdown()
        server.server_close()


def row_key(row: dict) -> str:
    return google_performance_key(
        row["campaign"]["id"], date.fromisoformat(row["segments"]["date"])
    )


def test_two_of_each_days_five_rows_are_planted_from_the_first_day_on():
    plant = Plant(NEGATIVE_COST, FIRST_PLANTED)
    entity = "google_ads/campaign_performance"
    picked = {day: planted_keys(WORLD.seed, plant, entity, day, keys_of(day)) for day in DAYS}

    assert picked[DAYS[0]] == []
    for day in DAYS[1:]:
        assert len(keys_of(day)) == 5
        assert len(picked[day]) == 2  # round(0.4 × 5)
        assert set(picked[day]) <= set(keys_of(day))
    # Deterministic: the same seed picks the same rows.
    assert picked[DAYS[1]] == planted_keys(WORLD.seed, plant, entity, DAYS[1], keys_of(DAYS[1]))
    truth = google_ads_api.planted_records(WORLD, DAYS, plant)
    assert truth == {key: NEGATIVE_COST for day in DAYS for key in picked[day]}


def test_negative_cost_rows_pass_staging_and_carry_a_negative_cost_where_planted():
    plant = Plant(NEGATIVE_COST, FIRST_PLANTED)
    truth = google_ads_api.planted_records(WORLD, DAYS, plant)
    clean = {row_key(row): row for row in served(None)}
    rows = served(plant)

    assert len(rows) == len(clean) == 15
    for row in rows:
        key = row_key(row)
        assert rejection_reason(row, PERFORMANCE) is None  # staging keeps it
        cost = int(row["metrics"]["costMicros"])
        if key in truth:
            assert cost == -max(int(clean[key]["metrics"]["costMicros"]), 10_000)
        else:
            assert row == clean[key]


def test_duplicate_key_rows_are_served_twice():
    plant = Plant(DUPLICATE_KEY, FIRST_PLANTED)
    truth = google_ads_api.planted_records(WORLD, DAYS, plant)
    rows = served(plant)

    assert len(truth) == 4
    assert len(rows) == 15 + 4
    counts = {key: [row_key(r) for r in rows].count(key) for key in map(row_key, rows)}
    assert {key for key, n in counts.items() if n == 2} == set(truth)


@pytest.mark.parametrize(
    ("kind", "expectation", "column"),
    [
        (NEGATIVE_COST, "expect_column_values_to_be_between", "metrics_costMicros"),
        (DUPLICATE_KEY, "expect_compound_columns_to_be_unique", "campaign_id,segments_date"),
    ],
)
def test_the_raw_gate_fails_on_exactly_the_planted_rows(tmp_path, kind, expectation, column):
    plant = Plant(kind, FIRST_PLANTED)
    truth = google_ads_api.planted_records(WORLD, DAYS, plant)
    path = tmp_path / "part-0.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.writelines(json.dumps(row) + "\n" for row in served(plant))
    suite = raw.suite(GOOGLE, PERFORMANCE)
    frame = jsonl_batch(Lake(f"file://{tmp_path}"), [str(path)], suite.projection)

    result = validate_batch(
        frame,
        suite.checks(str(DAYS[-1])),
        stage="raw",
        source="google_ads",
        entity="campaign_performance",
        ds=str(DAYS[-1]),
        run_id="r",
        key_columns=suite.key_columns,
    )

    assert not result.passed
    [failure] = [row for row in result.failures if row["severity"] == "error"]
    assert (failure["expectation"], failure["column_name"]) == (expectation, column)
    # Samples name rows by the suite's key columns: campaign id, then date.
    campaign, day = suite.key_columns
    samples = {
        google_performance_key(str(s[campaign]), date.fromisoformat(str(s[day])[:10]))
        for s in json.loads(failure["sample_keys"])
    }
    assert samples == set(truth)


def test_the_plant_knob_on_the_serve_command():
    args = parse_args(["serve", "--plant", "negative_cost", "--plant-from", "2026-11-02"])
    assert plant_of(args) == Plant(NEGATIVE_COST, date(2026, 11, 2))
    assert plant_of(parse_args(["serve"])) is None
    with pytest.raises(SystemExit, match="--plant needs --plant-from"):
        plant_of(parse_args(["serve", "--plant", "duplicate_key"]))


def test_plant_parse_names_what_is_wrong():
    assert Plant.parse("duplicate_key", date(2026, 11, 1)) == Plant(
        DUPLICATE_KEY, date(2026, 11, 1)
    )
    assert Plant.parse("negative_cost@2026-11-03", date(2026, 11, 1)).first_day == date(2026, 11, 3)
    with pytest.raises(ValueError, match="planted class 'negative_costs': expected one of"):
        Plant.parse("negative_costs", date(2026, 11, 1))
    with pytest.raises(ValueError, match="'11/03' is not a YYYY-MM-DD date"):
        Plant.parse("negative_cost@11/03", date(2026, 11, 1))
