"""Partitions read through the process's one in-memory DuckDB database: each read sees the
files as they are now, in UTC, and a forked child reads with a database of its own."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import threading

import great_expectations.expectations as gxe

from caravan.lake import Lake
from caravan.quality.frames import jsonl_batch, query_files
from caravan.quality.gate import Check, validate_batch


def write_jsonl(path, records: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return str(path)


def lake_of(tmp_path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


PROJECTION = "json ->> '$.id' as id, (json ->> '$.at')::timestamptz as at"


def test_a_file_rewritten_in_place_is_read_as_it_is_now(tmp_path):
    path = tmp_path / "lake" / "raw" / "s" / "e" / "ds=2026-11-03" / "part-0.jsonl.gz"
    records = [{"id": "a", "at": "2026-11-03T10:00:00+02:00"}, {"id": "b", "at": None}]
    write_jsonl(path, records)
    first = jsonl_batch(lake_of(tmp_path), [str(path)], PROJECTION)

    write_jsonl(path, [*records, {"id": "c", "at": "2026-11-03T23:30:00-01:00"}])  # a rerun
    second = jsonl_batch(lake_of(tmp_path), [str(path)], PROJECTION)

    assert first["id"].tolist() == ["a", "b"]
    assert second["id"].tolist() == ["a", "b", "c"]
    # In UTC: 10:00 at +02:00 is 08:00; 23:30 at -01:00 is 00:30 the next day.
    assert [str(value) for value in second["at"]] == [
        "2026-11-03 08:00:00+00:00",
        "NaT",
        "2026-11-04 00:30:00+00:00",
    ]


def test_reads_in_threads_at_once_each_get_their_own_files(tmp_path):
    paths = {
        n: write_jsonl(tmp_path / f"part-{n}.jsonl.gz", [{"id": str(n)}] * n) for n in (1, 2, 3)
    }
    counts: dict[int, list[int]] = {}

    def read(n: int) -> None:
        counts[n] = [
            len(query_files(lake_of(tmp_path), "select * from read_json_objects($f)", {"f": [p]}))
            for p in [paths[n]] * 20
        ]

    threads = [threading.Thread(target=read, args=(n,)) for n in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counts == {1: [1] * 20, 2: [2] * 20, 3: [3] * 20}


def _gate_in_forked_child(path: str) -> list[tuple]:
    frame = query_files(
        Lake("file:///"), "select json ->> '$.id' as id from read_json_objects($f)", {"f": [path]}
    )
    result = validate_batch(
        frame,
        [Check(gxe.ExpectColumnValuesToNotBeNull(column="id"))],
        stage="raw",
        source="s",
        entity="e",
        ds="2026-11-03",
        run_id="child",
        key_columns=["id"],
    )
    return [(row["success"], row["unexpected_count"]) for row in result.rows]


def test_a_forked_child_reads_and_gates_after_its_parent_did(tmp_path):
    path = write_jsonl(tmp_path / "part-0.jsonl.gz", [{"id": "a"}, {"id": None}, {"id": "c"}])
    # The parent has its database and GX context before the fork (as a LocalExecutor's
    # supervisor would, had it gated anything).
    assert _gate_in_forked_child(path) == [(False, 1)]

    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_gate_in_forked_child, (path,))
        assert child.get(timeout=120) == [(False, 1)]
