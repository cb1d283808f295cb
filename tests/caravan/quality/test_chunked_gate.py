"""A partition too large for one frame is validated in chunks, with the outcome of a whole
frame: real DuckDB reading real Parquet, real GX; expected values worked out by hand."""

from __future__ import annotations

import json

import duckdb
import great_expectations.expectations as gxe
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caravan.lake import Lake
from caravan.quality.frames import parquet_batch
from caravan.quality.gate import Check, PartitionChunks, validate_batch

WHERE = {"stage": "curated", "source": "web", "entity": "sessions", "ds": "2026-11-02"}
ROWS = 5000
# DuckDB hands rows over a vector (2048 rows) at a time, and a chunk ends with its file:
# chunks of at most 2048 rows, at least three of them.
CHUNK_ROWS = duckdb.__standard_vector_size__


@pytest.fixture
def partition(tmp_path) -> tuple[Lake, list[str]]:
    """Sessions 0..4999 over two files; planted: no channel on sessions 7, 2500 and 4999
    (in different chunks), a negative page count on 4100, session id 3000 reused by 60."""
    ids = list(range(ROWS))
    ids[3000] = 60
    channels = ["google_ads" if n % 2 else "direct" for n in range(ROWS)]
    for n in (7, 2500, 4999):
        channels[n] = None
    pages = [1 + n % 5 for n in range(ROWS)]
    pages[4100] = -1
    table = pa.table({"session_id": ids, "channel": channels, "pages": pages})
    folder = tmp_path / "lake" / "curated" / "web" / "sessions" / "ds=2026-11-02"
    folder.mkdir(parents=True)
    paths = []
    for number, part in enumerate((table.slice(0, 2600), table.slice(2600))):
        path = folder / f"part-{number}.parquet"
        pq.write_table(part, path)
        paths.append(str(path))
    return Lake(f"file://{tmp_path / 'lake'}"), paths


CHECKS = [
    Check(gxe.ExpectColumnValuesToNotBeNull(column="channel")),
    Check(gxe.ExpectColumnValuesToBeBetween(column="pages", min_value=0)),
    Check(gxe.ExpectColumnValuesToBeUnique(column="session_id")),
    Check(gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=ROWS)),
    Check(gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=["google_ads", "direct"])),
]


def test_a_partition_over_the_chunk_size_is_read_in_chunks(partition):
    lake, paths = partition
    batch = parquet_batch(lake, paths, "*", rows=ROWS, chunk_rows=CHUNK_ROWS)
    assert isinstance(batch, PartitionChunks)
    sizes = [len(chunk) for chunk in batch.read_chunks()]
    assert (sum(sizes), max(sizes) <= CHUNK_ROWS, len(sizes) >= 3) == (ROWS, True, True)
    assert list(batch.read_columns(["session_id"]).columns) == ["session_id"]
    assert len(batch.read_columns([])) == ROWS
    small = parquet_batch(lake, paths, "*", rows=ROWS, chunk_rows=ROWS)
    assert len(small) == ROWS  # a frame, whole


def test_chunked_validation_adds_up_to_the_whole_partition(partition):
    lake, paths = partition
    batch = parquet_batch(lake, paths, "*", rows=ROWS, chunk_rows=CHUNK_ROWS)

    result = validate_batch(batch, CHECKS, **WHERE, run_id="r1", key_columns=["session_id"])

    not_null, non_negative, unique, row_count, in_set = result.rows
    # Row-wise: counted over the three chunks.
    assert (not_null["success"], not_null["unexpected_count"]) == (False, 3)
    assert json.loads(not_null["sample_keys"]) == [
        {"session_id": 7}, {"session_id": 2500}, {"session_id": 4999}
    ]  # fmt: skip
    assert json.loads(not_null["observed_value"]) == {
        "element_count": ROWS,
        "unexpected_percent": 3 / ROWS * 100,
    }
    assert (non_negative["success"], non_negative["unexpected_count"]) == (False, 1)
    assert json.loads(non_negative["sample_keys"]) == [{"session_id": 4100}]
    # 4997 channels present, all in the set; the three nulls are the not-null check's.
    assert (in_set["success"], in_set["unexpected_count"]) == (True, 0)
    assert json.loads(in_set["observed_value"])["missing_count"] == 3
    # Partition-wide: session 60 in chunk one and its reuse (row 3000) in chunk two.
    assert (unique["success"], unique["unexpected_count"]) == (False, 2)
    assert json.loads(unique["sample_keys"]) == [{"session_id": 60}, {"session_id": 60}]
    assert (row_count["success"], json.loads(row_count["observed_value"])) == (True, ROWS)
    assert [row["expectation"] for row in result.rows] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_unique",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_set",
    ]
    assert not result.passed


def test_a_clean_partition_in_chunks_passes(partition, tmp_path):
    lake, paths = partition
    con = duckdb.connect()
    clean = tmp_path / "clean.parquet"
    con.execute(
        f"copy (select session_id, coalesce(channel, 'direct') as channel, abs(pages) as pages"
        f" from read_parquet({paths}) where session_id <> 60 or pages <> 1)"
        f" to '{clean}' (format parquet)"
    )
    rows = con.execute(f"select count(*) from '{clean}'").fetchone()[0]
    batch = parquet_batch(lake, [str(clean)], "*", rows=rows, chunk_rows=CHUNK_ROWS)
    assert isinstance(batch, PartitionChunks)

    result = validate_batch(batch, CHECKS, **WHERE, run_id="r1", key_columns=["session_id"])

    assert [row["expectation"] for row in result.failures] == []
