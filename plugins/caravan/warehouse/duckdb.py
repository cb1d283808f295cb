"""The embedded warehouse: one DuckDB file, written by one task at a time (a pool of one slot)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from caravan.lake import Lake, Partition
from caravan.quality.results import RESULT_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE, GateResult
from caravan.settings import Settings

# The connection `recording` keeps, by file: `connect` hands it out instead of a new one.
# By file, not by object: every DuckDBWarehouse of one file in a process shares it.
_HELD: dict[Path, duckdb.DuckDBPyConnection] = {}
os.register_at_fork(after_in_child=_HELD.clear)  # a forked child opens its own


@dataclass(frozen=True)
class DuckDBWarehouse:
    path: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DuckDBWarehouse:
        return cls(settings.warehouse_path)

    def landing_table(self, domain: str, entity: str) -> str:
        """`curated/<domain>/<entity>` lands in `landing.<domain>__<entity>`."""
        return f"landing.{domain}__{entity}"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held only as long as needed: other tasks write the same file. Inside
        `recording()`, that one (read-write: DuckDB allows one configuration of a file per
        process), with whatever transaction a failing caller left open rolled back."""
        path = Path(self.path)
        held = _HELD.get(path)
        if held is not None:
            try:
                yield held
            except BaseException:
                try:
                    held.rollback()
                except duckdb.TransactionException:  # no transaction was open
                    pass
                raise
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def recording(self) -> Iterator[None]:
        """One connection to the warehouse file for every `connect` inside: a gate task records
        a result per entity, partition or mart, and opening the file and checkpointing it on
        close cost about 40 ms each time (bench/gates.py). For tasks that hold the warehouse
        pool only (nothing else writes the file meanwhile)."""
        path = Path(self.path)
        if path in _HELD:
            yield
            return
        with self.connect() as con:
            _HELD[path] = con
            try:
                yield
            finally:
                del _HELD[path]

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        """Replace one `ds` of a landing table with the published curated partition."""
        partition = Partition("curated", domain, entity, ds)
        manifest, files = lake.published(partition)
        table = self.landing_table(domain, entity)
        # The ds comes from the manifest's partition, not from the `ds=` in the file paths
        # (DuckDB would add that as a second `ds` column).
        source = (
            "(select *, cast($ds as date) as ds"
            " from read_parquet($files, hive_partitioning = false))"
        )
        with lake.local_files(files) as local, self.connect() as con:
            params = {"ds": ds, "files": local}
            con.execute("begin")
            con.execute("create schema if not exists landing")
            con.execute(
                f"create table if not exists {table} as select * from {source} limit 0", params
            )
            _add_new_columns(con, table, source, params)
            con.execute(f"delete from {table} where ds = cast($ds as date)", {"ds": ds})
            con.execute(f"insert into {table} by name select * from {source}", params)
            loaded = con.execute(
                f"select count(*) from {table} where ds = cast($ds as date)", {"ds": ds}
            ).fetchone()[0]
            # Else rolled back.
            lake.check_rows(partition, manifest, loaded, f"the load into {table}")
            con.execute("commit")
        return loaded

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        """A mart as built (in `marts`, before publishing), projected for its gate."""
        # Not read-only: in-process dbt may hold the file open read-write, and DuckDB
        # refuses a second connection to one file with another configuration.
        with self.connect() as con:
            return con.execute(f"select {projection} from marts.{table} as source_rows").df()

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame:
        return self.mart_frame(table, projection)  # DuckDB reads it in-process: no network

    def publish_analytics(self, marts: tuple[str, ...]) -> None:
        """Copy the gated marts into `analytics` in one transaction: analysts see all or nothing."""
        with self.connect() as con:
            con.execute("begin")
            con.execute("create schema if not exists analytics")
            for mart in marts:
                con.execute(
                    f"create or replace table analytics.{mart} as select * from marts.{mart}"
                )
            con.execute("commit")

    def record_validation_results(self, result: GateResult) -> None:
        """Append a gate's rows to `quality.validation_results`, replacing an earlier attempt
        of the same run, in one transaction.

        Only the same checks are replaced: one partition may be validated by several suites
        in one run (a job's own suite, then its reconciliation with its inputs). One
        statement deletes, one inserts: a row at a time (`executemany`) costs about three
        times as much. Most of what is left is DuckDB opening the file and checkpointing it
        on close.
        """
        run = list(result.run_key())
        checks = result.check_keys()
        with self.connect() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_SCHEMA}")
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} ("
                + ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS)
                + ")"
            )
            con.begin()
            if checks:
                # Numbered parameters: DuckDB binds a DELETE's `?`s out of the text's order.
                check_values = _placeholders(len(checks), ["VARCHAR", "VARCHAR"], first=6)
                row_values = _placeholders(len(result.rows), [kind for _, kind in RESULT_COLUMNS])
                con.execute(
                    f"DELETE FROM {RESULTS_TABLE} AS results"
                    f" USING (VALUES {check_values})"
                    " AS checks (expectation, kwargs)"
                    " WHERE results.stage = $1 AND results.source = $2 AND results.entity = $3"
                    " AND results.ds = $4 AND results.run_id = $5"
                    " AND results.expectation = checks.expectation"
                    " AND results.kwargs IS NOT DISTINCT FROM checks.kwargs",
                    run + [value for check in checks for value in check],
                )
                con.execute(
                    f"INSERT INTO {RESULTS_TABLE} ({', '.join(name for name, _ in RESULT_COLUMNS)})"
                    f" VALUES {row_values}",
                    [row[name] for row in result.rows for name, _ in RESULT_COLUMNS],
                )
            con.commit()


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, source: str, params: dict) -> None:
    """Add the columns a later partition brings (a field a source started to deliver), as
    the Snowflake and BigQuery loads do; earlier days read them as null."""
    incoming = con.execute(f"select * from {source} limit 0", params).description
    schema, name = table.split(".")
    existing = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns"
            " where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    for column, kind, *_ in incoming:
        if column not in existing:
            con.execute(f'alter table {table} add column "{column}" {kind}')


def _placeholders(rows: int, types: list[str], first: int = 1) -> str:
    """`(CAST($1 AS type), …), …`, numbered from `first`: each value typed, whatever Python
    value (or None) binds it."""
    numbers = iter(range(first, first + rows * len(types)))
    return ", ".join(
        "(" + ", ".join(f"CAST(${next(numbers)} AS {kind})" for kind in types) + ")"
        for _ in range(rows)
    )
