"""The embedded warehouse: one DuckDB file, written by one task at a time (a pool of one slot)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from caravan.lake import Lake, Partition
from caravan.warehouse import PUBLISHED_MARTS


def landing_table(domain: str, entity: str) -> str:
    """`curated/<domain>/<entity>` lands in `landing.<domain>__<entity>`."""
    return f"landing.{domain}__{entity}"


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection held only as long as needed: other tasks write the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def load_partition(warehouse: Path, lake: Lake, domain: str, entity: str, ds: str) -> int:
    """Replace one `ds` of a landing table with the published curated partition."""
    files = lake.published_files(Partition("curated", domain, entity, ds))
    if not files:
        raise FileNotFoundError(f"curated/{domain}/{entity}/ds={ds} is not published in {lake.url}")
    table = landing_table(domain, entity)
    # The ds comes from the manifest's partition, not from the `ds=` in the file paths
    # (DuckDB would add that as a second `ds` column).
    source = (
        "(select *, cast($ds as date) as ds from read_parquet($files, hive_partitioning = false))"
    )
    with lake.local_files(files) as local, connect(warehouse) as con:
        params = {"ds": ds, "files": local}
        con.execute("begin")
        con.execute("create schema if not exists landing")
        con.execute(f"create table if not exists {table} as select * from {source} limit 0", params)
        con.execute(f"delete from {table} where ds = cast($ds as date)", {"ds": ds})
        con.execute(f"insert into {table} by name select * from {source}", params)
        loaded = con.execute(
            f"select count(*) from {table} where ds = cast($ds as date)", {"ds": ds}
        ).fetchone()[0]
        con.execute("commit")
    return loaded


def mart_frame(warehouse: Path, table: str, projection: str) -> pd.DataFrame:
    """A mart as built (in `marts`, before publishing), projected for its gate."""
    # Not read-only: in-process dbt may hold the file open read-write, and DuckDB
    # refuses a second connection to one file with another configuration.
    with connect(warehouse) as con:
        return con.execute(f"select {projection} from marts.{table} as source_rows").df()


def record_validation_results(warehouse: Path, result) -> None:
    """Append a gate's rows to `quality.validation_results`, replacing an earlier attempt of
    the same run, in one transaction.

    Only the same checks are replaced: one partition may be validated by several suites
    in one run (a job's own suite, then its reconciliation with its inputs).
    """
    from caravan.quality.gate import RESULT_COLUMNS, RESULTS_TABLE, _parse_ds

    columns = ", ".join(name for name, _ in RESULT_COLUMNS)
    placeholders = ", ".join("?" for _ in RESULT_COLUMNS)
    ds = _parse_ds(result.ds, where=f"{result.stage} gate {result.source}/{result.entity}")
    with connect(Path(warehouse)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS quality")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} ("
            + ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS)
            + ")"
        )
        con.begin()
        checks = sorted({(row["expectation"], row["kwargs"]) for row in result.rows})
        con.executemany(
            f"DELETE FROM {RESULTS_TABLE} WHERE stage = ? AND source = ? AND entity = ?"
            " AND ds = ? AND run_id = ? AND expectation = ? AND kwargs IS NOT DISTINCT FROM ?",
            [
                [result.stage, result.source, result.entity, ds, result.run_id, *check]
                for check in checks
            ],
        )
        if result.rows:
            con.executemany(
                f"INSERT INTO {RESULTS_TABLE} ({columns}) VALUES ({placeholders})",
                [[row[name] for name, _ in RESULT_COLUMNS] for row in result.rows],
            )
        con.commit()


def publish_analytics(warehouse: Path, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None:
    """Copy the gated marts into `analytics` in one transaction: analysts see all or nothing."""
    with connect(warehouse) as con:
        con.execute("begin")
        con.execute("create schema if not exists analytics")
        for mart in marts:
            con.execute(f"create or replace table analytics.{mart} as select * from marts.{mart}")
        con.execute("commit")
