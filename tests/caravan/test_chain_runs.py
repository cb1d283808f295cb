"""The order of a chain's DAG runs, one day at a time and with a range run of the transform."""

from __future__ import annotations

from caravan.runner import chain_runs

DAGS = ("ingest_a", "ingest_b", "transform", "warehouse")
DAYS = ["2026-11-01", "2026-11-02"]


def test_every_dag_for_each_day_in_turn():
    assert chain_runs(DAGS, DAYS) == [
        ("ingest_a", ["2026-11-01"]),
        ("ingest_b", ["2026-11-01"]),
        ("transform", ["2026-11-01"]),
        ("warehouse", ["2026-11-01"]),
        ("ingest_a", ["2026-11-02"]),
        ("ingest_b", ["2026-11-02"]),
        ("transform", ["2026-11-02"]),
        ("warehouse", ["2026-11-02"]),
    ]


def test_a_range_run_transforms_once_after_every_ingest_and_before_every_warehouse():
    assert chain_runs(DAGS, DAYS, spark_range=True) == [
        ("ingest_a", ["2026-11-01"]),
        ("ingest_b", ["2026-11-01"]),
        ("ingest_a", ["2026-11-02"]),
        ("ingest_b", ["2026-11-02"]),
        ("transform", DAYS),
        ("warehouse", ["2026-11-01"]),
        ("warehouse", ["2026-11-02"]),
    ]


def test_a_range_without_the_transform_runs_day_by_day():
    assert chain_runs(("ingest_a",), DAYS, spark_range=True) == [
        ("ingest_a", ["2026-11-01"]),
        ("ingest_a", ["2026-11-02"]),
    ]


def test_dates_before_a_dags_start_are_named_per_dag_with_how_many():
    from datetime import date

    from caravan.runner import dates_before_start

    runs = chain_runs(("ingest_a", "transform"), ["2025-12-30", "2025-12-31", "2026-01-01"])
    starts = {"ingest_a": date(2026, 1, 1), "transform": date(2025, 12, 31)}
    assert dates_before_start(runs, starts) == [
        "ingest_a starts on 2026-01-01, so it has nothing to run for 2 date(s):"
        " 2025-12-30 .. 2025-12-31",
        "transform starts on 2025-12-31, so it has nothing to run for 1 date(s): 2025-12-30",
    ]
    assert dates_before_start(runs[-2:], starts) == []  # 2026-01-01: both run
