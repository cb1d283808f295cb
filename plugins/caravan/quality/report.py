"""`caravan quality`: the latest gate outcome of every stage, source and entity.

Reads `quality.validation_results` where the gates record it: in Snowflake with the
Snowflake target, in the DuckDB warehouse file otherwise. For each stage, source and
entity it takes the latest `ds` (or the `ds` asked for) and, within it, the latest gate
run (`run_id` of the newest row); a run counts every suite that validated the partition in
it (a job's own suite and its reconciliation). Exit status: 0 when no latest result has a
failing `error` expectation (warnings allowed), 1 when one has, 2 when there is nothing to
report (no warehouse, no results, nothing matching the filters, or the warehouse
locked by a run that is writing to it).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import duckdb

from caravan.quality.names import gate_page
from caravan.quality.results import RESULTS_SCHEMA, RESULTS_TABLE, RESULTS_TABLE_NAME
from caravan.settings import Settings

STAGE_ORDER = ("raw", "curated", "marts")
#: Sample keys shown per failing expectation; the table keeps up to 20.
SAMPLES_SHOWN = 5

EXIT_OK, EXIT_FAILED, EXIT_NOTHING = 0, 1, 2

# The rows of each stage/source/entity's latest run: latest ds first, then that ds's run
# with the newest row. Portable SQL (DuckDB, Snowflake): `{p}` is the driver's positional
# placeholder; the parameters are stage, source, ds, each twice (NULL: any).
_LATEST_ROWS = f"""
with filtered as (
    select *
    from {RESULTS_TABLE}
    where ({{p}} is null or stage = {{p}})
      and ({{p}} is null or source = {{p}})
      and ({{p}} is null or ds = {{p}})
),
ranked as (
    select stage, source, entity, ds, run_id,
        row_number() over (
            partition by stage, source, entity order by validated_at desc, ds desc
        ) as recency
    from filtered
)
select filtered.stage, filtered.source, filtered.entity, filtered.ds, filtered.run_id,
    filtered.validated_at, filtered.expectation, filtered.column_name, filtered.severity,
    filtered.success, filtered.unexpected_count, filtered.sample_keys, filtered.observed_value
from filtered
inner join ranked
    on filtered.stage = ranked.stage and filtered.source = ranked.source
    and filtered.entity = ranked.entity and filtered.ds = ranked.ds
    and filtered.run_id = ranked.run_id
where ranked.recency = 1
"""


@dataclass(frozen=True)
class GateStatus:
    """The latest run of one stage/source/entity, summed over its expectations."""

    stage: str
    source: str
    entity: str
    ds: dt.date
    run_id: str
    checks: int
    errors: int
    warnings: int

    @property
    def status(self) -> str:
        return "FAIL" if self.errors else "WARN" if self.warnings else "PASS"


def summarise(rows: list[dict]) -> list[GateStatus]:
    """One status per stage/source/entity from its latest run's rows, in stage order."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["stage"], row["source"], row["entity"], row["ds"], row["run_id"])
        groups.setdefault(key, []).append(row)
    statuses = [
        GateStatus(
            *key,
            checks=len(group),
            errors=sum(not row["success"] and row["severity"] == "error" for row in group),
            warnings=sum(not row["success"] and row["severity"] == "warn" for row in group),
        )
        for key, group in groups.items()
    ]
    return sorted(statuses, key=lambda s: (_stage_rank(s.stage), s.stage, s.source, s.entity))


def exit_status(statuses: list[GateStatus]) -> int:
    if not statuses:
        return EXIT_NOTHING
    return EXIT_FAILED if any(status.errors for status in statuses) else EXIT_OK


def format_statuses(statuses: list[GateStatus]) -> str:
    header = ("stage", "source", "entity", "ds", "checks", "errors", "warnings", "status", "run")
    lines = [header] + [
        (
            s.stage,
            s.source,
            s.entity,
            s.ds.isoformat(),
            str(s.checks),
            str(s.errors),
            str(s.warnings),
            s.status,
            s.run_id,
        )
        for s in statuses
    ]
    numeric = {4, 5, 6}
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    ]
    counts = {name: sum(s.status == name for s in statuses) for name in ("PASS", "WARN", "FAIL")}
    tally = ", ".join(f"{count} {name}" for name, count in counts.items())
    text.append(f"{len(statuses)} gates: {tally}")
    return "\n".join(text)


def format_failures(rows: list[dict], site_dir: Path | None = None) -> str:
    """Each failing expectation of the latest runs: column, unexpected count, sample keys,
    and the run's Data Docs page when it exists."""
    failing = [row for row in rows if not row["success"]]
    failing.sort(
        key=lambda r: (
            _stage_rank(r["stage"]),
            r["stage"],
            r["source"],
            r["entity"],
            r["severity"] != "error",
            r["expectation"],
            r["column_name"] or "",
        )
    )
    lines = []
    pages_shown: set[Path] = set()
    for row in failing:
        where = f"{row['stage']} {row['source']}/{row['entity']} ds={row['ds'].isoformat()}"
        column = f"column {row['column_name']}" if row["column_name"] else "table"
        lines.append(
            f"[{row['severity']}] {where}: {row['expectation']} on {column}: {_detail(row)}"
        )
        if site_dir is not None:
            page = gate_page(
                site_dir,
                stage=row["stage"],
                source=row["source"],
                entity=row["entity"],
                ds=row["ds"].isoformat(),
                run_id=row["run_id"],
                validated_at=row["validated_at"],
            )
            if page.exists() and page not in pages_shown:
                pages_shown.add(page)
                lines.append(f"    Data Docs: {page.as_uri()}")
    return "\n".join(lines) if lines else "No failing expectations in the latest runs."


def report(
    settings: Settings,
    *,
    stage: str | None = None,
    source: str | None = None,
    ds: str | None = None,
    failures: bool = False,
    out: TextIO | None = None,
) -> int:
    """Print the latest status per stage/source/entity; return the exit status."""
    out = out or sys.stdout  # looked up now: tests and callers may replace sys.stdout
    if ds is not None:
        ds = _parse_ds(ds)
    # Where the gates record (warehouse.targets): Snowflake's quality schema on Snowflake,
    # the DuckDB file otherwise (BigQuery's gates record there too).
    if settings.target == "snowflake":
        where = "Snowflake"
        rows = read_latest_rows_snowflake(settings, stage=stage, source=source, ds=ds)
    else:
        path = where = settings.warehouse_path
        if not path.exists():
            print(f"No warehouse at {path}: no gate has run yet (try `caravan demo`).", file=out)
            return EXIT_NOTHING
        try:
            rows = read_latest_rows(path, stage=stage, source=source, ds=ds)
        except duckdb.IOException as error:  # e.g. a run holds the file's write lock
            print(f"Cannot read {path} now: {error}", file=out)
            return EXIT_NOTHING
    if rows is None:
        print(f"No gate results yet: {where} has no {RESULTS_TABLE} table.", file=out)
        return EXIT_NOTHING
    statuses = summarise(rows)
    if not statuses:
        asked = ", ".join(
            f"{name}={value}"
            for name, value in (("stage", stage), ("source", source), ("ds", ds))
            if value is not None
        )
        print(f"No gate results in {RESULTS_TABLE} for {asked or 'any gate'}.", file=out)
        return EXIT_NOTHING
    print(f"Latest gate results ({RESULTS_TABLE} in {where})\n", file=out)
    print(format_statuses(statuses), file=out)
    site = settings.data_docs_dir
    if failures:
        print("\nFailing expectations:", file=out)
        print(format_failures(rows, site), file=out)
    index = site / "index.html"
    if index.exists():
        print(f"\nData Docs: {index.as_uri()}", file=out)
    else:
        print(f"\nNo Data Docs yet under {site}.", file=out)
    return exit_status(statuses)


def read_latest_rows(
    path: Path, *, stage: str | None, source: str | None, ds: dt.date | None
) -> list[dict] | None:
    """The rows of each latest run; None when the results table does not exist."""
    with duckdb.connect(str(path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables"
            f" where table_schema = '{RESULTS_SCHEMA}' and table_name = '{RESULTS_TABLE_NAME}'"
        ).fetchone()[0]
        if not exists:
            return None
        cursor = con.execute(_LATEST_ROWS.format(p="?"), _parameters(stage, source, ds))
        return _dicts(cursor)


def read_latest_rows_snowflake(
    settings: Settings, *, stage: str | None, source: str | None, ds: dt.date | None
) -> list[dict] | None:
    """As read_latest_rows, in Snowflake's `quality.validation_results` (the connection of
    the Snowflake target)."""
    from caravan.warehouse.snowflake import SnowflakeWarehouse

    with SnowflakeWarehouse.from_settings(settings).connect() as con:
        cursor = con.cursor()
        cursor.execute(
            "select count(*) from information_schema.tables"
            f" where lower(table_schema) = '{RESULTS_SCHEMA}'"
            f" and lower(table_name) = '{RESULTS_TABLE_NAME}'"
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(_LATEST_ROWS.format(p="%s"), _parameters(stage, source, ds))
        return _dicts(cursor)


def _parameters(stage: str | None, source: str | None, ds: dt.date | None) -> list:
    return [stage, stage, source, source, ds, ds]


def _dicts(cursor) -> list[dict]:
    """The cursor's rows by lower-case column name (Snowflake answers in upper case)."""
    names = [column[0].lower() for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _detail(row: dict) -> str:
    observed = json.loads(row["observed_value"]) if row["observed_value"] else None
    if isinstance(observed, dict) and "error" in observed:
        return f"could not be evaluated: {observed['error']}"
    if row["unexpected_count"] is None:
        # A table-level check: samples, if any, follow its observed value (the quarantine
        # share's are its reasons with their counts).
        text = f"observed {row['observed_value']}"
    else:
        text = f"{row['unexpected_count']} unexpected"
    samples = json.loads(row["sample_keys"]) if row["sample_keys"] else []
    if samples:
        shown = ", ".join(json.dumps(s, sort_keys=True) for s in samples[:SAMPLES_SHOWN])
        more = len(samples) - SAMPLES_SHOWN
        text += f", sample keys: {shown}" + (f" (+{more} more)" if more > 0 else "")
    return text


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def _parse_ds(ds: str) -> dt.date:
    try:
        return dt.date.fromisoformat(ds)
    except ValueError:
        raise ValueError(f"--ds {ds!r} is not a YYYY-MM-DD date") from None
