"""Reading history: which earlier days a job reads (holes fail), and which row of a key wins."""

from __future__ import annotations

import gzip

import pytest
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition, PartitionCorrupt
from spark_jobs.common.io import (
    HistoryGap,
    days_before,
    history,
    latest_per_key,
    read_raw_days,
)


def lake_with_days(tmp_path, *days: str) -> Lake:
    for day in days:
        folder = tmp_path / "lake" / "curated" / "web" / "sessions" / f"ds={day}"
        folder.mkdir(parents=True)
        (folder / "_manifest.json").write_text("{}")
    return Lake(f"file://{tmp_path / 'lake'}")


def test_days_before_are_the_earlier_dates_oldest_first():
    assert days_before("2026-03-01", 3) == ["2026-02-26", "2026-02-27", "2026-02-28"]


def test_days_before_history_began_are_skipped(tmp_path):
    lake = lake_with_days(tmp_path, "2026-11-02", "2026-11-03")
    assert history(lake, "curated", "web", "sessions", "2026-11-04", 5) == [
        "2026-11-02",
        "2026-11-03",
    ]
    assert history(lake, "curated", "web", "sessions", "2026-11-02", 5) == []


def test_a_missing_day_after_history_began_fails_naming_it(tmp_path):
    lake = lake_with_days(tmp_path, "2026-11-01", "2026-11-03")
    with pytest.raises(HistoryGap, match=r"2026-11-02 is not published"):
        history(lake, "curated", "web", "sessions", "2026-11-04", 3)


def test_a_backfill_of_an_early_day_reads_what_is_before_it_only(tmp_path):
    lake = lake_with_days(tmp_path, "2026-11-05", "2026-11-06")
    assert history(lake, "curated", "web", "sessions", "2026-11-03", 2) == []


def test_the_latest_partition_wins_unless_an_earlier_row_is_preferred(spark):
    frame = spark.createDataFrame(
        [
            ("v1", "K-linked", "user_id", "2026-11-02"),
            ("v1", "K-own", "none", "2026-11-03"),  # seen again, anonymously
            ("v2", "K-own", "none", "2026-11-02"),
            ("v2", "K-linked", "transaction_id", "2026-11-03"),
            ("v3", "K-old", "none", "2026-11-01"),
            ("v3", "K-new", "none", "2026-11-02"),
        ],
        "id_value STRING, customer_key STRING, linked_via STRING, ds STRING",
    )
    latest = {r["id_value"]: r["customer_key"] for r in latest_per_key(frame, "id_value").collect()}
    assert latest == {"v1": "K-own", "v2": "K-linked", "v3": "K-new"}
    linked = F.col("linked_via") != "none"
    held = latest_per_key(frame, "id_value", preferred=linked).collect()
    assert {r["id_value"]: r["customer_key"] for r in held} == {
        "v1": "K-linked",
        "v2": "K-linked",
        "v3": "K-new",
    }


def test_a_raw_file_changed_after_publishing_stops_the_read_before_spark_sees_it(spark, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    partition = Partition("raw", "shop_db", "orders", "2026-11-02")
    folder = lake.staging_path(partition)
    staged = [lake.write_jsonl_gz(folder, "a.jsonl.gz", [{"order_id": "o1", "total": "10.00"}])]
    lake.publish(partition, staged, run_id="r", delivered=1, quarantined=0, schema={}, producer="t")
    schema = "order_id STRING, total STRING"
    read = read_raw_days(spark, lake, "shop_db", "orders", ["2026-11-02"], schema)
    assert [tuple(row) for row in read.collect()] == [("o1", "10.00", "2026-11-02")]

    part = tmp_path / "lake/raw/shop_db/orders/ds=2026-11-02/part-00000.jsonl.gz"
    part.write_bytes(gzip.compress(b'{"order_id": "o1", "total": "100.00"}\n', mtime=0))
    with pytest.raises(PartitionCorrupt, match=r"raw/shop_db/orders/ds=2026-11-02 does not match"):
        read_raw_days(spark, lake, "shop_db", "orders", ["2026-11-02"], schema)
