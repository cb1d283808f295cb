"""Partitions read as pandas frames through DuckDB (Arrow-backed), for the gates."""

from __future__ import annotations

import duckdb
import pandas as pd

from caravan.lake import Lake


def _connection(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if not lake.is_local:
        con.register_filesystem(lake.fs)
    return con


def jsonl_frame(
    lake: Lake, paths: list[str], columns: dict[str, str], projection: str
) -> pd.DataFrame:
    """Gzip JSON-lines files, read with an explicit top-level schema, then projected.

    An explicit schema reads an empty file too, and a field of the wrong type
    surfaces as a null after `try_cast` in the projection instead of a crash.
    """
    con = _connection(lake)
    try:
        urls = [lake.reader_url(p) for p in paths]
        query = (
            f"select {projection} from read_json($urls, columns = $columns,"
            " format = 'newline_delimited', compression = 'gzip') as source_rows"
        )
        return con.execute(query, {"urls": urls, "columns": columns}).df()
    finally:
        con.close()


def parquet_frame(lake: Lake, paths: list[str], projection: str = "*") -> pd.DataFrame:
    con = _connection(lake)
    try:
        urls = [lake.reader_url(p) for p in paths]
        query = f"select {projection} from read_parquet($urls) as source_rows"
        return con.execute(query, {"urls": urls}).df()
    finally:
        con.close()
