"""Partitions read as pandas frames through DuckDB (Arrow-backed), for the gates."""

from __future__ import annotations

import duckdb
import pandas as pd

from caravan.lake import Lake


def jsonl_frame(lake: Lake, paths: list[str], projection: str) -> pd.DataFrame:
    """Gzip JSON-lines files, each record read whole as a `json` value, then projected.

    Reading records whole works for any source's shape and for an empty file; the
    projection pulls and casts the fields a suite checks (`try_cast`, never a crash).
    """
    query = (
        f"select {projection} from read_json_objects($files,"
        " format = 'newline_delimited', compression = 'gzip') as source_rows"
    )
    with lake.local_files(paths) as files, duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(query, {"files": files}).df()


def parquet_frame(lake: Lake, paths: list[str], projection: str = "*") -> pd.DataFrame:
    query = f"select {projection} from read_parquet($files) as source_rows"
    with lake.local_files(paths) as files, duckdb.connect() as con:
        return con.execute(query, {"files": files}).df()
