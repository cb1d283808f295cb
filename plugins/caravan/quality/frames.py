"""Partitions read as pandas frames through DuckDB (Arrow-backed), for the gates.

A process reads them all through one in-memory DuckDB database, a cursor (DuckDB's own
connection to it) per query: starting a database costs about 9 ms of CPU, more than
reading a demo day's partition, and each raw or curated gate reads one or two frames.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

import duckdb
import pandas as pd

from caravan.lake import Lake
from caravan.quality.batches import PartitionChunks
from caravan.sources.fields import register_duckdb

#: Rows a gate validates in one frame: a larger partition is validated in chunks this size
#: (GX's pandas engine holds several copies of what it checks).
CHUNK_ROWS = 250_000


_database: duckdb.DuckDBPyConnection | None = None
_database_lock = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A new connection (cursor) to the process's in-memory DuckDB database, in UTC."""
    global _database
    with _database_lock:
        if _database is None:
            # No cache of file contents across queries: a rerun rewrites staged files, and a
            # long-lived process would hold every partition it read.
            _database = duckdb.connect(config={"enable_external_file_cache": False})
            register_duckdb(_database)  # the raw gate reads typed fields as staging does
        cursor = _database.cursor()
    cursor.execute("set TimeZone = 'UTC'")  # the cursor's own setting
    return cursor


def _forget_database_in_child() -> None:
    """A forked child makes its own database: DuckDB does not promise to survive a fork."""
    global _database, _database_lock
    _database, _database_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_database_in_child)


@contextmanager
def _files_query(
    lake: Lake, query: str, files: dict[str, list[str]], params: dict
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB cursor that has run `query`, for the files' duration (see query_files)."""
    with ExitStack() as stack:
        local = {
            name: stack.enter_context(lake.local_files(paths)) for name, paths in files.items()
        }
        con = stack.enter_context(_cursor())
        yield con.execute(query, {**local, **params})


def query_files(lake: Lake, query: str, files: dict[str, list[str]], **params) -> pd.DataFrame:
    """DuckDB SQL over lake files, in UTC: each named list of paths is bound to `$<name>`
    (as local files: copied down from a bucket for the query's duration), as is each of
    `params`."""
    with _files_query(lake, query, files, params) as result:
        return result.df()


def partition_batch(
    lake: Lake, query: str, files: dict[str, list[str]], rows: int, chunk_rows: int = CHUNK_ROWS
) -> pd.DataFrame | PartitionChunks:
    """What a gate validates of a partition of `rows` rows: one frame, or chunks of
    `chunk_rows` (DuckDB's pandas conversion both ways, so the same types)."""
    if rows <= chunk_rows:
        return query_files(lake, query, files)
    vectors = max(1, chunk_rows // duckdb.__standard_vector_size__)

    def read_chunks() -> Iterator[pd.DataFrame]:
        with _files_query(lake, query, files, {}) as result:
            while len(chunk := result.fetch_df_chunk(vectors)):
                yield chunk

    def read_columns(columns: list[str]) -> pd.DataFrame:
        named = ", ".join(f'"{column}"' for column in columns) or "1 as row_marker"
        return query_files(lake, f"select {named} from ({query}) as checked", files)

    return PartitionChunks(rows, read_chunks, read_columns)


def jsonl_records(files: str) -> str:
    """DuckDB SQL for the gzip JSON-lines files bound to `$<files>`, one `json` value a
    record (a FROM item: the gates' partitions, and the files a projection joins)."""
    return f"read_json_objects(${files}, format = 'newline_delimited', compression = 'gzip')"


def jsonl_batch(
    lake: Lake,
    paths: list[str],
    projection: str,
    rows: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    lookups: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame | PartitionChunks:
    """Gzip JSON-lines files, each record read whole as a `json` value, then projected;
    in chunks when `rows` (the files' records) is more than a frame should hold.

    Reading records whole works for any source's shape and for an empty file; the
    projection pulls and casts the fields a suite checks (`try_cast`, never a crash).
    It may read other files (a reference entity's, the previous partition's), each list
    of `lookups` bound to `$<name>`.
    """
    query = f"select {projection} from {jsonl_records('files')} as source_rows"
    return partition_batch(lake, query, {**(lookups or {}), "files": paths}, rows, chunk_rows)


def parquet_batch(
    lake: Lake,
    paths: list[str],
    projection: str = "*",
    rows: int = 0,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame | PartitionChunks:
    """Parquet files, projected; in chunks when `rows` is more than a frame should hold."""
    query = f"select {projection} from read_parquet($files) as source_rows"
    return partition_batch(lake, query, {"files": paths}, rows, chunk_rows)
