"""Quality gates: validate one partition, record the outcome, decide whether it may publish.

Every stage (raw, curated, marts) audits what it wrote before publishing it
(write-audit-publish, DESIGN §1). A gate runs a list of checks through a Great
Expectations Core 1.x checkpoint built in code, appends one row per expectation
to `quality.validation_results` in the warehouse, and blocks publishing when a
check of severity `error` fails; `warn` checks are recorded only.

Each gate builds its GX objects in code, named after what it checks: the suite,
validation definition and checkpoint are `<stage>.<source>.<entity>` (e.g.
`raw.google_ads.campaign_performance`), the batch is `<entity>.ds=<ds>` and the GX run
is named by the Airflow run id. A process keeps one ephemeral GX context per Data Docs
site (and one without): each gate adds its data source, suite, validation definition
and checkpoint to it, runs the checkpoint and removes them again, so every gate starts
from the same empty context and no state passes from one gate to the next. Given a
`DataDocs`, the context keeps GX's validation results on disk and the checkpoint
renders the run's Data Docs page and the index (caravan.quality.docs).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# GX logs its own plumbing at INFO on import and on every context; task logs
# should show the gate's outcome, not that. A level set by the user wins.
_gx_logger = logging.getLogger("great_expectations")
if _gx_logger.level == logging.NOTSET:
    _gx_logger.setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context import set_context  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.datasource.fluent import GxDatasourceWarning  # noqa: E402
from great_expectations.exceptions import DataContextError  # noqa: E402
from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: E402

from caravan.quality.docs import DataDocs, UpdateGateDocsAction, page_path  # noqa: E402
from caravan.quality.names import GxNames  # noqa: E402

if TYPE_CHECKING:
    from caravan.warehouse.targets import Warehouse

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
class SqlBatch:
    """A query for GX's SQL engine to validate where the data lives (no rows come back).

    `connection_string` is a SQLAlchemy URL with no secret in it; `connect_args` go to
    the DB-API driver as they are (credentials, host, port): they override the URL's
    parameters, never appear in a URL, and are left out of the repr.
    """

    connection_string: str
    query: str
    connect_args: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dialect(self) -> str:
        return self.connection_string.split(":", 1)[0]


@dataclass(frozen=True)
class PartitionChunks:
    """A partition too large for one frame, read by DuckDB a chunk at a time.

    Row-wise checks (each row judged alone) run on every chunk, and their counts and
    sample keys add up; partition-wide checks (uniqueness, row counts, aggregates) run
    once, on a frame of only the columns they name and the keys. GX never holds more
    than a chunk of the whole projection.
    """

    rows: int
    read_chunks: Callable[[], Iterator[pd.DataFrame]]
    read_columns: Callable[[list[str]], pd.DataFrame]


#: What a gate validates: a partition DuckDB read (GX's pandas engine), whole or in
#: chunks, or a query GX runs in the warehouse (its SQL engine). All give the same rows.
Batch = pd.DataFrame | SqlBatch | PartitionChunks

# Expectations that judge each row alone (with `mostly` at 1): over chunks, their
# unexpected counts and sample keys add up. Anything else needs the partition whole.
_ROW_WISE = (
    gx.expectations.ExpectColumnValuesToNotBeNull,
    gx.expectations.ExpectColumnValuesToBeNull,
    gx.expectations.ExpectColumnValuesToBeBetween,
    gx.expectations.ExpectColumnValuesToBeInSet,
    gx.expectations.ExpectColumnValuesToNotBeInSet,
    gx.expectations.ExpectColumnValuesToMatchRegex,
    gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
    gx.expectations.ExpectColumnPairValuesToBeEqual,
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
    #: The run's Data Docs page (a file:// URL), when the gate rendered one.
    docs_url: str | None = None

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


def validate_batch(
    batch: Batch,
    checks: list[Check],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    key_columns: list[str],
    data_docs: DataDocs | None = None,
) -> GateResult:
    """Validate one partition with GX and return one row per check, in the checks' order.

    Failing rows are sampled by `key_columns`. In a frame, key columns it lacks are left
    out (with none left, samples name the frame's index as `_index`); a query must return
    them all (finding out would cost a query of its own). A check that cannot be
    evaluated (a missing column, a type clash, SQL the warehouse refuses) fails with GX's
    message in `observed_value` instead of raising. With `data_docs`, GX keeps its
    validation result and renders the run's Data Docs page (the result's `docs_url`).
    """
    where = f"{stage} gate {source}/{entity}"
    if not isinstance(batch, Batch):
        raise TypeError(f"{where} ds={ds}: expected a DataFrame, PartitionChunks or SqlBatch")
    if not checks:
        raise ValueError(f"{where} ds={ds}: no checks given")
    if isinstance(batch, PartitionChunks):
        return _validate_in_chunks(
            batch,
            checks,
            stage=stage,
            source=source,
            entity=entity,
            ds=ds,
            run_id=run_id,
            key_columns=key_columns,
            data_docs=data_docs,
        )
    ds_date = _parse_ds(ds, where=where)
    if isinstance(batch, pd.DataFrame):
        keys = [column for column in key_columns if column in batch.columns]
    else:
        keys = list(key_columns)

    validated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    by_index, docs_url = _run_checkpoint(
        batch,
        checks,
        keys,
        names=GxNames.of(stage, source, entity, ds),
        run=RunIdentifier(run_name=run_id, run_time=validated_at.replace(tzinfo=dt.UTC)),
        data_docs=data_docs,
    )
    rows = [
        {
            "stage": stage,
            "source": source,
            "entity": entity,
            "ds": ds_date,
            **_outcome(check, by_index.get(index), keys),
            "run_id": run_id,
            "validated_at": validated_at,
        }
        for index, check in enumerate(checks)
    ]
    ordered = [{name: row[name] for name, _ in RESULT_COLUMNS} for row in rows]
    return GateResult(stage, source, entity, ds, run_id, ordered, docs_url)


def _validate_in_chunks(
    partition: PartitionChunks,
    checks: list[Check],
    *,
    key_columns: list[str],
    data_docs: DataDocs | None,
    **where: str,
) -> GateResult:
    """`validate_batch` over a partition read in chunks: the same rows a whole frame gives.

    The Data Docs page is the partition-wide run's (the row-wise checks' merged outcome
    is in the rows, so in `quality.validation_results`).
    """
    row_wise = [index for index, check in enumerate(checks) if _is_row_wise(check)]
    whole = [index for index in range(len(checks)) if index not in row_wise]
    outcomes: dict[int, list[dict]] = {index: [] for index in range(len(checks))}
    docs_url = None
    if whole:
        needed = [*key_columns, *(c for i in whole for c in _check_columns(checks[i]))]
        frame = partition.read_columns(list(dict.fromkeys(needed)))
        result = validate_batch(
            frame,
            [checks[i] for i in whole],
            key_columns=key_columns,
            data_docs=data_docs,
            **where,
        )
        for index, row in zip(whole, result.rows, strict=True):
            outcomes[index].append(row)
        docs_url = result.docs_url
    if row_wise:
        for chunk in partition.read_chunks():
            result = validate_batch(
                chunk, [checks[i] for i in row_wise], key_columns=key_columns, **where
            )
            for index, row in zip(row_wise, result.rows, strict=True):
                outcomes[index].append(row)
    rows = [merge_chunk_rows(outcomes[index]) for index in range(len(checks))]
    return GateResult(
        where["stage"], where["source"], where["entity"], where["ds"], where["run_id"], rows,
        docs_url,
    )  # fmt: skip


def _is_row_wise(check: Check) -> bool:
    mostly = check.expectation.configuration.kwargs.get("mostly", 1)
    return isinstance(check.expectation, _ROW_WISE) and mostly in (None, 1)


def _check_columns(check: Check) -> list[str]:
    """The columns an expectation reads (none for table-level ones)."""
    kwargs = check.expectation.configuration.kwargs
    named = [kwargs.get(name) for name in ("column", "column_A", "column_B")]
    return [str(c) for c in [*named, *(kwargs.get("column_list") or [])] if c is not None]


def merge_chunk_rows(rows: list[dict]) -> dict:
    """One check's rows from several chunks of a partition as the whole partition's row:
    counts add up, the first SAMPLE_KEYS_LIMIT sample keys are kept, an evaluation error
    of any chunk is the row's."""
    if len(rows) == 1:
        return rows[0]
    first = rows[0]
    observed = [json.loads(row["observed_value"]) for row in rows]
    errors = [value for value in observed if isinstance(value, dict) and "error" in value]
    unexpected = [row["unexpected_count"] for row in rows]
    samples = [sample for row in rows for sample in json.loads(row["sample_keys"])]
    if errors:
        merged_observed: Any = errors[0]
    else:
        merged_observed = _merged_counts(observed, sum(u or 0 for u in unexpected))
    return {
        **first,
        "success": all(row["success"] for row in rows),
        "observed_value": to_json(merged_observed),
        "unexpected_count": None if None in unexpected else sum(unexpected),
        "sample_keys": to_json(samples[:SAMPLE_KEYS_LIMIT]),
    }


def _merged_counts(observed: list[Any], unexpected: int) -> dict | None:
    """Row-wise results' element and missing counts summed; the unexpected percent of the
    non-missing values, as GX gives it."""
    if not all(isinstance(value, dict) and "element_count" in value for value in observed):
        return None
    elements = sum(value["element_count"] for value in observed)
    merged: dict[str, Any] = {"element_count": elements}
    if all("missing_count" in value for value in observed):
        merged["missing_count"] = sum(value["missing_count"] for value in observed)
    counted = elements - merged.get("missing_count", 0)
    merged["unexpected_percent"] = unexpected / counted * 100 if counted else None
    return merged


def record_results(result: GateResult, warehouse: Warehouse | Path) -> None:
    """Append the gate's rows to the target's `quality.validation_results`, replacing an
    earlier attempt of the same run: only the same checks, since one partition may be
    validated by several suites in one run (a job's own suite, then its reconciliation).

    `warehouse` is a target (`caravan.warehouse.targets`) or the DuckDB warehouse file.
    """
    if isinstance(warehouse, str | Path):
        from caravan.warehouse.targets import DuckDBWarehouse

        warehouse = DuckDBWarehouse(Path(warehouse))
    warehouse.record_validation_results(result)


def run_gate(
    batch: Batch,
    checks: list[Check],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    key_columns: list[str],
    warehouse_path: Path | None = None,
    target: Warehouse | None = None,
    data_docs: DataDocs | None = None,
) -> GateResult:
    """Validate, record in `target` (or the DuckDB file at `warehouse_path`); raise GateFailed
    (after recording) when an `error` check fails.

    A frame is validated by GX's pandas engine; a `SqlBatch` by its SQL engine, in the
    warehouse the query names. With `data_docs`, the run gets a Data Docs page.
    """
    if (warehouse_path is None) == (target is None):
        raise ValueError(f"{stage} gate {source}/{entity}: give warehouse_path or target")
    where = {
        "stage": stage,
        "source": source,
        "entity": entity,
        "ds": ds,
        "run_id": run_id,
        "key_columns": key_columns,
    }
    result = validate_batch(batch, checks, **where, data_docs=data_docs)
    record_results(result, target if target is not None else warehouse_path)
    if not result.passed:
        raise GateFailed(result)
    return result


# --- GX -----------------------------------------------------------------------------------


def gx_context(data_docs: DataDocs | None = None) -> Any:
    """An ephemeral GX context defined in code; with `data_docs`, validation results persist
    under `data_docs.store_dir` and the Data Docs site is `data_docs.site_dir`."""
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    sites: dict = {}
    if data_docs is not None:
        stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(data_docs.store_dir) / "validations"),
                "suppress_store_backend_id": True,  # no shared id file for gates to race on
            },
        }
        # GX's own site builder over the same folder: `context.build_data_docs()` rebuilds
        # every page from the stored results. Gates use UpdateGateDocsAction instead.
        sites["caravan"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs.site_dir),
            },
            "site_section_builders": {"expectations": "None", "profiling": "None"},
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# GX objects are not thread-safe: the gates of a process use its contexts one at a time.
_GX_LOCK = threading.RLock()
_SHARED_CONTEXTS: dict[DataDocs | None, Any] = {}
#: Contexts a process keeps, the most recently used: its gates use one (tests, a site each).
SHARED_CONTEXTS_KEPT = 4


def shared_gx_context(data_docs: DataDocs | None = None) -> Any:
    """The process's GX context for gates with these Data Docs (or none), made on first use.

    Each gate removes what it added to it (`_gate_objects`), so it holds no gate's suite,
    data source or batch between gates; GX's validation results persist only with
    `data_docs` (under `store_dir`, as with a fresh context).
    """
    with _GX_LOCK:
        context = _SHARED_CONTEXTS.pop(data_docs, None)
        if context is None:
            context = gx_context(data_docs)
            # An ephemeral context "saves" its whole project config (every data source and
            # asset) into an in-memory store nothing reads back, on each change of a data
            # source, asset or batch definition: 2 to 3 ms each, four times a gate.
            context._save_project_config = _keep_project_config_in_memory
        _SHARED_CONTEXTS[data_docs] = context  # the most recently used last
        while len(_SHARED_CONTEXTS) > SHARED_CONTEXTS_KEPT:
            del _SHARED_CONTEXTS[next(iter(_SHARED_CONTEXTS))]
        return context


def _keep_project_config_in_memory() -> None:
    """The project config of an ephemeral context lives in the context itself."""


def reset_gx_contexts() -> None:
    """Forget the process's GX contexts: the next gate makes a new one."""
    with _GX_LOCK:
        _SHARED_CONTEXTS.clear()


def _after_fork_in_child() -> None:
    """A forked child starts afresh: its parent's lock may have been held by another thread."""
    global _GX_LOCK
    _GX_LOCK = threading.RLock()
    _SHARED_CONTEXTS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def _gate_objects(
    context: Any,
    batch: Batch,
    checks: list[Check],
    keys: list[str],
    names: GxNames,
    data_docs: DataDocs | None,
) -> Iterator[tuple[gx.Checkpoint, dict]]:
    """The gate's checkpoint (its data source, suite and validation definition with it) and
    the checkpoint's batch parameters, in the shared context for the gate's run only."""
    _remove_gate_objects(context, names)  # anything a gate that died half-way left behind
    # GX reads stored checkpoints back through the current context (its "project").
    set_context(context)
    try:
        with _batch_definition(context, batch, names) as (batch_definition, batch_parameters):
            yield (
                _checkpoint(context, batch_definition, checks, keys, names, data_docs),
                batch_parameters,
            )
    finally:
        _remove_gate_objects(context, names)


def _remove_gate_objects(context: Any, names: GxNames) -> None:
    for gx_objects in (context.checkpoints, context.validation_definitions, context.suites):
        try:
            gx_objects.delete(names.suite)
        except DataContextError:  # not there
            pass
    # The data source goes too: its execution engine holds the last batch it loaded.
    if names.data_source in context.data_sources.all():
        context.data_sources.delete(names.data_source)


@contextmanager
def _batch_definition(context: Any, batch: Batch, names: GxNames) -> Iterator[tuple[Any, dict]]:
    """The GX batch definition of `batch` and the checkpoint's batch parameters."""
    if isinstance(batch, pd.DataFrame):
        asset = context.data_sources.add_pandas(names.data_source).add_dataframe_asset(names.asset)
        yield asset.add_batch_definition_whole_dataframe(names.asset), {"dataframe": batch}
        return
    # The generic SQL datasource, not `add_snowflake`: GX's Snowflake datasource requires a
    # warehouse and a role (optional in Caravan's connection, where the user's defaults
    # apply) and wants a key pair's key itself, not its file. The engine is the same: GX
    # picks its SQL dialect from the SQLAlchemy engine. Its warning, on every engine it
    # makes, that a specific datasource exists is this choice: not news.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=GxDatasourceWarning)
        datasource = context.data_sources.add_sql(
            names.data_source,
            connection_string=batch.connection_string,
            kwargs={"connect_args": dict(batch.connect_args)},
        )
        try:
            asset = datasource.add_query_asset(names.asset, query=batch.query)
            yield asset.add_batch_definition_whole_table(names.asset), {}
        finally:
            datasource.get_engine().dispose()  # close the warehouse session now, not at exit


def _run_checkpoint(
    batch: Batch,
    checks: list[Check],
    keys: list[str],
    *,
    names: GxNames,
    run: RunIdentifier,
    data_docs: DataDocs | None,
) -> tuple[dict[int, Any], str | None]:
    """Run the checks as one GX checkpoint; return the expectation results by check index
    and the run's Data Docs page URL (None without `data_docs`, or if it was not rendered)."""
    with _GX_LOCK:
        context = shared_gx_context(data_docs)
        with _gate_objects(context, batch, checks, keys, names, data_docs) as (
            checkpoint,
            batch_parameters,
        ):
            outcome = checkpoint.run(batch_parameters=batch_parameters, run_id=run)
        if data_docs is None:  # kept in memory only: gone with the gate
            for key in outcome.run_results:
                context.validation_results_store.remove_key(key)
    by_index: dict[int, Any] = {}
    docs_url = None
    for key, validation_result in outcome.run_results.items():
        for expectation_result in validation_result.results:
            meta = expectation_result.expectation_config.meta or {}
            by_index[meta.get(_CHECK_INDEX)] = expectation_result
        if data_docs is not None:
            page = page_path(data_docs.site_dir, key)
            docs_url = page.as_uri() if page.exists() else None
    return by_index, docs_url


def _checkpoint(
    context: Any,
    batch_definition: Any,
    checks: list[Check],
    keys: list[str],
    names: GxNames,
    data_docs: DataDocs | None,
) -> gx.Checkpoint:
    """The gate's suite, validation definition and checkpoint, named after what it checks."""
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=names.suite,
            expectations=[_tagged(check, index) for index, check in enumerate(checks)],
            meta=dict(names.meta),
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=names.suite, data=batch_definition, suite=suite)
    )
    actions = []
    if data_docs is not None:
        actions.append(
            UpdateGateDocsAction(name="update_data_docs", site_dir=str(data_docs.site_dir))
        )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=names.suite,
            validation_definitions=[validation],
            actions=actions,
            # SUMMARY bounds the failing-row index list at partial_unexpected_count, while
            # COMPLETE materialises every unexpected value and index (3x slower on 10k rows).
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": keys,
                "partial_unexpected_count": SAMPLE_KEYS_LIMIT,
            },
        )
    )
    return checkpoint


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
