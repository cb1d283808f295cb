"""Partitions read as pandas frames through DuckDB (Arrow-backed), for the gates."""

from __future__ import annotations

from contextlib import ExitStack

import duckdb
import pandas as pd

from caravan.lake import Lake


def query_files(lake: Lake, query: str, files: dict[str, list[str]], **params) -> pd.DataFrame:
    """DuckDB SQL over lake files, in UTC: each named list of paths is bound to `$<name>`
    (as local files: copied down from a bucket for the query's duration), as is each of
    `params`."""
    with ExitStack() as stack:
        local = {
            name: stack.enter_context(lake.local_files(paths)) for name, paths in files.items()
        }
        con = stack.enter_context(duckdb.connect())
        con.execute("set TimeZone = 'UTC'")
        return con.execute(query, {**local, **params}).df()


def jsonl_frame(lake: Lake, paths: list[str], projection: str) -> pd.DataFrame:
    """Gzip JSON-lines files, each record read whole as a `json` value, then projected.

    Reading records whole works for any source's shape and for an empty file; the
    projection pulls and casts the fields a suite checks (`try_cast`, never a crash).
    """
    query = (
        f"select {projection} from read_json_objects($files,"
        " format = 'newline_delimited', compression = 'gzip') as source_rows"
    )
    return query_files(lake, query, {"files": paths})


def parquet_frame(lake: Lake, paths: list[str], projection: str = "*") -> pd.DataFrame:
    query = f"select {projection} from read_parquet($files) as source_rows"
    return query_files(lake, query, {"files": paths})
