"""Partitions read as pandas frames through DuckDB (Arrow-backed), for the gates."""

from __future__ import annotations

import duckdb
import pandas as pd

from caravan.lake import Lake


def jsonl_frame(
    lake: Lake, paths: list[str], columns: dict[str, str], projection: str
) -> pd.DataFrame:
    """Gzip JSON-lines files, read with an explicit top-level schema, then projected.

    An explicit schema reads an empty file too, and a field of the wrong type
    surfaces as a null after `try_cast` in the projection instead of a crash.
    """
    query = (
        f"select {projection} from read_json($files, columns = $columns,"
        " format = 'newline_delimited', compression = 'gzip') as source_rows"
    )
    with lake.local_files(paths) as files, duckdb.connect() as con:
        return con.execute(query, {"files": files, "columns": columns}).df()


def parquet_frame(lake: Lake, paths: list[str], projection: str = "*") -> pd.DataFrame:
    query = f"select {projection} from read_parquet($files) as source_rows"
    with lake.local_files(paths) as files, duckdb.connect() as con:
        return con.execute(query, {"files": files}).df()
