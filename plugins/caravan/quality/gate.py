"""Quality gates: validate one partition, record the outcome, decide whether it may publish.

Every stage (raw, curated, marts) audits what it wrote before publishing it
(write-audit-publish, DESIGN §1). A gate runs a list of checks through a Great
Expectations Core 1.x checkpoint built in code, appends one row per expectation
to `quality.validation_results` in the warehouse, and blocks publishing when a
check of severity `error` fails; `warn` checks are recorded only.

A fresh ephemeral GX context per gate costs a few milliseconds, so each gate
gets its own: no shared state between gates, nothing to clean up.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# GX logs its own plumbing at INFO on import and on every context; task logs
# should show the gate's outcome, not that. A level set by the user wins.
_gx_logger = logging.getLogger("great_expectations")
if _gx_logger.level == logging.NOTSET:
    _gx_logger.setLevel(logging.WARNING)

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: E402

Severity = Literal["error", "warn"]

#: Failing rows kept per expectation, identified by key: enough to find them, never a table.
SAMPLE_KEYS_LIMIT = 20

RESULTS_TABLE = "quality.validation_results"
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

# The meta key that ties each GX result back to its Check: GX does not keep the
# suite's order in its results, and two checks may share an expectation type.
_CHECK_INDEX = "caravan_check_index"
_GX_SEVERITY = {"error": FailureSeverity.CRITICAL, "warn": FailureSeverity.WARNING}


@dataclass(frozen=True)
class Check:
    """One expectation and what its failure means: `error` blocks publishing, `warn` records."""

    expectation: gx.expectations.Expectation
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.severity not in _GX_SEVERITY:
            raise ValueError(f"Check severity {self.severity!r}: expected 'error' or 'warn'")
        if not isinstance(self.expectation, gx.expectations.Expectation):
            raise TypeError(
                f"Check expectation must be a GX expectation object, "
                f"got {type(self.expectation).__name__}"
            )


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate run; `rows` are exactly what was written to the warehouse."""

    stage: str
    source: str
    entity: str
    ds: str
    run_id: str
    rows: list[dict]

    @property
    def passed(self) -> bool:
        return not any(not row["success"] and row["severity"] == "error" for row in self.rows)

    @property
    def failures(self) -> list[dict]:
        return [row for row in self.rows if not row["success"]]

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
        lines += [f"  {_describe_failure(self, row)}" for row in failures]
        return "\n".join(lines)


class GateFailed(Exception):
    """A gate found a failing `error` check; the partition must not be published."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.summary())

    def __reduce__(self):  # keep the GateResult when the exception crosses processes
        return (type(self), (self.result,))


def validate_frame(
    frame: pd.DataFrame,
    checks: list[Check],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    key_columns: list[str],
) -> GateResult:
    """Validate one partition with GX and return one row per check, in the checks' order.

    Failing rows are sampled by `key_columns` (key columns absent from the frame are
    left out; with none left, samples name the frame's index as `_index`). A check that
    cannot be evaluated (a missing column, a type clash) fails with GX's message in
    `observed_value` instead of raising.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{stage} gate {source}/{entity} ds={ds}: expected a pandas DataFrame")
    if not checks:
        raise ValueError(f"{stage} gate {source}/{entity} ds={ds}: no checks given")
    ds_date = _parse_ds(ds, where=f"{stage} gate {source}/{entity}")
    keys = [column for column in key_columns if column in frame.columns]

    by_index = _run_checkpoint(frame, checks, keys)

    validated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for index, check in enumerate(checks):
        rows.append(
            {
                "stage": stage,
                "source": source,
                "entity": entity,
                "ds": ds_date,
                **_outcome(check, by_index.get(index), keys),
                "run_id": run_id,
                "validated_at": validated_at,
            }
        )
    ordered = [{name: row[name] for name, _ in RESULT_COLUMNS} for row in rows]
    return GateResult(stage, source, entity, ds, run_id, ordered)


def record_results(result: GateResult, warehouse_path: Path) -> None:
    """Append the gate's rows to the history, replacing an earlier attempt of the same run.

    Only the same checks are replaced: one partition may be validated by several suites
    in one run (a job's own suite, then its reconciliation with its inputs).
    """
    path = Path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(name for name, _ in RESULT_COLUMNS)
    placeholders = ", ".join("?" for _ in RESULT_COLUMNS)
    ds_date = _parse_ds(result.ds, where=f"{result.stage} gate {result.source}/{result.entity}")
    with duckdb.connect(str(path)) as con:
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
                [result.stage, result.source, result.entity, ds_date, result.run_id, *check]
                for check in checks
            ],
        )
        if result.rows:
            con.executemany(
                f"INSERT INTO {RESULTS_TABLE} ({columns}) VALUES ({placeholders})",
                [[row[name] for name, _ in RESULT_COLUMNS] for row in result.rows],
            )
        con.commit()


def run_gate(
    frame: pd.DataFrame,
    checks: list[Check],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    key_columns: list[str],
    warehouse_path: Path,
) -> GateResult:
    """Validate and record; raise GateFailed (after recording) when an `error` check fails."""
    result = validate_frame(
        frame,
        checks,
        stage=stage,
        source=source,
        entity=entity,
        ds=ds,
        run_id=run_id,
        key_columns=key_columns,
    )
    record_results(result, warehouse_path)
    if not result.passed:
        raise GateFailed(result)
    return result


# --- GX -----------------------------------------------------------------------------------


def _run_checkpoint(frame: pd.DataFrame, checks: list[Check], keys: list[str]) -> dict[int, Any]:
    """Run the checks as one GX checkpoint; return the expectation results by check index."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = "caravan_gate"
    batch_definition = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe(name)
    )
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=name,
            expectations=[_tagged(check, index) for index, check in enumerate(checks)],
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[validation],
            # SUMMARY bounds the failing-row index list at partial_unexpected_count, while
            # COMPLETE materialises every unexpected value and index (3x slower on 10k rows).
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": keys,
                "partial_unexpected_count": SAMPLE_KEYS_LIMIT,
            },
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    by_index: dict[int, Any] = {}
    for validation_result in outcome.run_results.values():
        for expectation_result in validation_result.results:
            meta = expectation_result.expectation_config.meta or {}
            by_index[meta.get(_CHECK_INDEX)] = expectation_result
    return by_index


def _tagged(check: Check, index: int) -> gx.expectations.Expectation:
    """A copy of the check's expectation carrying its index (the caller's object stays as is)."""
    expectation = check.expectation
    return expectation.copy(
        deep=True,
        update={
            "id": None,
            "meta": {**(expectation.meta or {}), _CHECK_INDEX: index},
            "severity": _GX_SEVERITY[check.severity],
        },
    )


def _outcome(check: Check, result: Any, keys: list[str]) -> dict[str, Any]:
    """The result-specific columns of one row."""
    expectation = check.expectation
    if result is None:  # not expected from GX; recorded as a failure rather than lost
        kwargs = dict(expectation.configuration.kwargs)
        detail = {"error": "GX returned no result for this expectation"}
        return _columns(expectation.expectation_type, kwargs, check, False, detail, None, [])
    config = result.expectation_config
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    values = result.result or {}
    error = _exception_message(result.exception_info)
    if error is not None:
        observed: Any = {"error": error}
    elif "observed_value" in values:
        observed = values["observed_value"]
    elif "element_count" in values:
        observed = {
            name: values[name]
            for name in ("element_count", "missing_count", "unexpected_percent")
            if name in values
        }
    else:
        observed = None
    unexpected = values.get("unexpected_count")
    samples = _sample_keys(values.get("partial_unexpected_index_list") or [], keys)
    success = bool(result.success) and error is None
    return _columns(config.type, kwargs, check, success, observed, unexpected, samples)


def _columns(
    expectation_type: str,
    kwargs: dict,
    check: Check,
    success: bool,
    observed: Any,
    unexpected: Any,
    samples: list,
) -> dict[str, Any]:
    return {
        "expectation": expectation_type,
        "column_name": _column_name(kwargs),
        "severity": check.severity,
        "success": success,
        "observed_value": to_json(observed),
        "unexpected_count": None if unexpected is None else int(unexpected),
        "sample_keys": to_json(samples),
        "kwargs": to_json(kwargs),
    }


def _column_name(kwargs: Mapping[str, Any]) -> str | None:
    """The checked column; multi-column expectations list theirs, comma-separated."""
    if kwargs.get("column") is not None:
        return str(kwargs["column"])
    if kwargs.get("column_A") is not None:
        return f"{kwargs['column_A']},{kwargs.get('column_B')}"
    if kwargs.get("column_list"):
        return ",".join(str(column) for column in kwargs["column_list"])
    return None


def _sample_keys(index_list: Iterable[Any], keys: list[str]) -> list[dict]:
    samples = []
    for item in list(index_list)[:SAMPLE_KEYS_LIMIT]:
        if isinstance(item, Mapping) and keys:
            samples.append({key: item.get(key) for key in keys})
        else:  # no key columns: GX reports the frame's index labels
            samples.append({"_index": item})
    return samples


def _exception_message(info: Any) -> str | None:
    """GX's error text: flat for an expectation that raised, nested by metric otherwise."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    messages: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "GX raised an exception").strip()
            if message not in messages:
                messages.append(message)
    return "; ".join(messages) or None


def _describe_failure(result: GateResult, row: dict) -> str:
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
        return text
    kwargs = {k: v for k, v in json.loads(row["kwargs"]).items() if k != "column"}
    return f"{head}: observed {row['observed_value']}, expected {json.dumps(kwargs)}"


# --- values -------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """JSON text for values from pandas/numpy/GX (numpy scalars, Decimals, timestamps, NaN)."""
    return json.dumps(_jsonable(value), allow_nan=False, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, np.datetime64):  # .item() would give nanoseconds as an int
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else pd.Timedelta(value).isoformat()
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None  # exact, unlike a float
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | pd.Timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _parse_ds(ds: str, *, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(ds))
    except ValueError:
        raise ValueError(f"{where}: ds={ds!r} is not a YYYY-MM-DD date") from None
