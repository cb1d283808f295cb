"""`quality.validation_results`: the table every gate appends to, and a gate run's rows.

The contract between the gates (caravan.quality), the warehouses that record their
rows (caravan.warehouse) and `caravan quality`, which reads them back (DESIGN §3): the
table's name, its columns and their types, what one row holds, and a gate run's
outcome. Standard library only, so that the warehouse backends and the report import it
without Great Expectations, pandas or a database driver, and no import loop can form.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

RESULTS_SCHEMA = "quality"
RESULTS_TABLE_NAME = "validation_results"
RESULTS_TABLE = f"{RESULTS_SCHEMA}.{RESULTS_TABLE_NAME}"
#: The columns in the table's order, with their DuckDB types (each backend maps them).
RESULT_COLUMNS = (
    ("stage", "VARCHAR"),
    ("source", "VARCHAR"),
    ("entity", "VARCHAR"),
    ("ds", "DATE"),
    ("expectation", "VARCHAR"),
    ("column_name", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("success", "BOOLEAN"),
    ("observed_value", "VARCHAR"),
    ("unexpected_count", "BIGINT"),
    ("sample_keys", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("validated_at", "TIMESTAMP"),
    ("kwargs", "VARCHAR"),
)

#: Failing rows kept per expectation, identified by key: enough to find them, never a table.
SAMPLE_KEYS_LIMIT = 20

#: `error` blocks publishing; `warn` is recorded only.
Severity = Literal["error", "warn"]


def result_row(
    outcome: dict[str, Any],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: dt.date,
    run_id: str,
    validated_at: dt.datetime,
) -> dict[str, Any]:
    """One row of the table, in its columns' order: where and when a check ran, and its
    `outcome` (the expectation, column, severity, success, observed value, unexpected
    count, sample keys and kwargs)."""
    row = {
        "stage": stage,
        "source": source,
        "entity": entity,
        "ds": ds,
        **outcome,
        "run_id": run_id,
        "validated_at": validated_at,
    }
    return {name: row[name] for name, _ in RESULT_COLUMNS}


def parse_ds(ds: str, *, where: str) -> dt.date:
    """The partition's `ds` as a date; the error names the gate (`where`)."""
    try:
        return dt.date.fromisoformat(str(ds))
    except ValueError:
        raise ValueError(f"{where}: ds={ds!r} is not a YYYY-MM-DD date") from None


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate run; `rows` are exactly what was written to the warehouse."""

    stage: str
    source: str
    entity: str
    ds: str
    run_id: str
    rows: list[dict]
    #: The run's Data Docs page (a file:// URL), when the gate rendered one.
    docs_url: str | None = None

    @property
    def passed(self) -> bool:
        return not any(not row["success"] and row["severity"] == "error" for row in self.rows)

    @property
    def failures(self) -> list[dict]:
        return [row for row in self.rows if not row["success"]]

    def run_key(self) -> tuple[str, str, str, dt.date, str]:
        """(stage, source, entity, ds, run_id): the columns that name this run's rows."""
        ds = parse_ds(self.ds, where=f"{self.stage} gate {self.source}/{self.entity}")
        return (self.stage, self.source, self.entity, ds, self.run_id)

    def check_keys(self) -> list[tuple[str, str]]:
        """(expectation, kwargs) of each check, sorted: what an earlier attempt of the same
        run recorded and this one replaces. Only these: one partition may be validated by
        several suites in one run (a job's own suite, then its reconciliation)."""
        return sorted({(row["expectation"], row["kwargs"]) for row in self.rows})

    def summary(self) -> str:
        where = f"{self.stage} gate {self.source}/{self.entity} ds={self.ds} run_id={self.run_id}"
        failures = self.failures
        if not failures:
            return f"{where}: passed all {len(self.rows)} checks"
        errors = sum(row["severity"] == "error" for row in failures)
        verdict = "failed" if errors else "passed with warnings"
        lines = [
            f"{where}: {verdict} ({errors} error, {len(failures) - errors} warn "
            f"of {len(self.rows)} checks)"
        ]
        lines += [f"  {_describe_failure(row)}" for row in failures]
        if self.docs_url:
            lines.append(f"  Data Docs: {self.docs_url}")
        return "\n".join(lines)


class GateFailed(Exception):
    """A gate found a failing `error` check; the partition must not be published."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.summary())

    def __reduce__(self):  # keep the GateResult when the exception crosses processes
        return (type(self), (self.result,))


def _describe_failure(row: dict) -> str:
    column = f"column {row['column_name']}" if row["column_name"] else "table"
    head = f"[{row['severity']}] {row['expectation']} on {column}"
    observed = json.loads(row["observed_value"])
    if isinstance(observed, dict) and "error" in observed:
        return f"{head}: could not be evaluated: {observed['error']}"
    samples = json.loads(row["sample_keys"])
    if row["unexpected_count"] is not None:
        text = f"{head}: {row['unexpected_count']} unexpected"
        if samples:
            shown = ", ".join(json.dumps(sample, sort_keys=True) for sample in samples)
            text += f", sample keys: {shown}"
            if isinstance(observed, dict) and observed.get("sample_values"):
                values = ", ".join(json.dumps(value) for value in observed["sample_values"])
                text += f"; their values: {values}"
        return text
    kwargs = {k: v for k, v in json.loads(row["kwargs"]).items() if k != "column"}
    return f"{head}: observed {row['observed_value']}, expected {json.dumps(kwargs)}"
