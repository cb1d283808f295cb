"""A rerun of a job for the same `ds` stages the same data: same rows, in the same order,
and the same Parquet file but for one thing Spark's Parquet writer leaves to chance.

That one thing (docs/spark.md, "Reruns"): the footer lists each column chunk's encodings
in the iteration order of a Java HashSet of enum constants, whose hash codes are identity
hash codes, different in each JVM (parquet-java 1.17, apache/parquet-java#3215). So two
runs in two processes may write files whose sha256 differ though every row, every page
and every statistic is the same; in one JVM they are the same bytes.

Each run here is the job's `main` in a process of its own, as each try of an Airflow task is.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from caravan.lake import Lake, Partition
from tests.spark_jobs.test_range import event, publish_raw

REPO = Path(__file__).resolve().parents[2]
D0, D1 = "2026-11-01", "2026-11-02"
SITE = "https://shop.example.com"
CAMPAIGNS = ("21", "22", "")
PAGES = ("/", "/products/FW-001", "/collections/apparel", "/cart")
NAMES = ("page_view", "view_item", "add_to_cart", "begin_checkout", "purchase")


def a_day_of_events(ds: str, visitors: int) -> list[dict]:
    """Visitors with one to five events each, two minutes apart, at an hour of the day of
    their own: one session per visitor, with pages, utm tags, signed-in users and purchases
    enough that the columns have values to encode."""
    events = []
    for v in range(visitors):
        campaign = CAMPAIGNS[v % 3]
        url = f"{SITE}{PAGES[v % 4]}" + (
            f"?utm_source=google&utm_medium=cpc&utm_campaign={campaign}" if campaign else ""
        )
        for n in range(1 + v % 5):
            events.append(
                event(
                    f"{ds} {v % 24:02}:{v % 20 + 2 * n:02}:{v % 60:02}",
                    NAMES[n],
                    f"visitor-{v:03}",
                    url=url,
                    user_id=f"user-{v}" if v % 2 else None,
                    tx=f"{ds}-{v}" if NAMES[n] == "purchase" else None,
                )
            )
    return events


def run_job(lake: Lake, ds: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARAVAN_")}
    result = subprocess.run(
        [sys.executable, "-m", "spark_jobs.sessionize_web_events", "--ds", ds, "--lake", lake.url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def staged_file(lake: Lake, partition: Partition) -> Path:
    [path] = Path(lake.staging_path(partition)).glob("*.parquet")
    return path


def footer(path: Path) -> bytes:
    """The Parquet footer (Thrift FileMetaData): before the last 8 bytes, its length and
    the magic `PAR1`."""
    data = path.read_bytes()
    assert data[-4:] == b"PAR1"
    (length,) = struct.unpack("<I", data[-8:-4])
    return data[-8 - length : -8]


def metadata_but_encodings_order(path: Path) -> dict:
    """What the footer says, with each column chunk's encodings as a set."""
    metadata = pq.read_metadata(path)
    row_groups = [metadata.row_group(i).to_dict() for i in range(metadata.num_row_groups)]
    for row_group in row_groups:
        for column in row_group["columns"]:
            column["encodings"] = sorted(column["encodings"])
    return {
        "created_by": metadata.created_by,
        "key_value": metadata.metadata,
        "schema": str(metadata.schema).split("\n", 1)[1],  # (its first line: an address)
        "rows": metadata.num_rows,
        "row_groups": row_groups,
    }


def test_a_rerun_stages_the_same_rows_pages_and_statistics(tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    # The day before too: ds reads it (sessions crossing midnight), two files in one scan.
    publish_raw(lake, "web_analytics", "events", D0, a_day_of_events(D0, 60))
    publish_raw(lake, "web_analytics", "events", D1, a_day_of_events(D1, 120))
    partition = Partition("curated", "web", "sessions", D1)

    run_job(lake, D1)
    first = tmp_path / "first.parquet"
    shutil.copy(staged_file(lake, partition), first)
    run_job(lake, D1)
    again = staged_file(lake, partition)

    rows, rows_again = pq.read_table(first), pq.read_table(again)
    # One session per visitor of D1; D0's sessions (a day earlier) have no event on D1.
    assert rows.num_rows == 120
    assert rows_again.equals(rows)  # the same rows in the same order
    assert metadata_but_encodings_order(again) == metadata_but_encodings_order(first)
    # Every byte before the footer (the column chunks: pages, dictionaries) is the same,
    # and the footer has the same length and the same bytes, in an order that may differ.
    first_footer, footer_again = footer(first), footer(again)
    assert again.stat().st_size == first.stat().st_size
    size = first.stat().st_size - 8 - len(first_footer)
    assert again.read_bytes()[:size] == first.read_bytes()[:size]
    assert sorted(footer_again) == sorted(first_footer)
