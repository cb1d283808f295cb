"""Running a gate's checks on one batch as a Great Expectations Core 1.x checkpoint.

The gate's GX objects are built in code and named after what it checks: the suite,
validation definition and checkpoint are `<stage>.<source>.<entity>` (e.g.
`raw.google_ads.campaign_performance`), the batch is `<entity>.ds=<ds>` and the GX run
is named by the Airflow run id. Each gate adds its data source, suite, validation
definition and checkpoint to the process's shared context (quality.contexts), runs the
checkpoint and removes them again, so every gate starts from the same empty context and
no state passes from one gate to the next. Given a `DataDocs`, the context keeps GX's
validation results on disk and the checkpoint renders the run's Data Docs page and the
index (quality.docs). Each check's outcome becomes one row of
`quality.validation_results` (quality.results, quality.outcomes).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import set_context
from great_expectations.datasource.fluent import GxDatasourceWarning
from great_expectations.exceptions import DataContextError

from caravan.quality.batches import PartitionChunks, SqlBatch
from caravan.quality.checks import GX_SEVERITY, Check
from caravan.quality.chunks import validate_in_chunks
from caravan.quality.contexts import held_gx_context
from caravan.quality.docs import DataDocs, UpdateGateDocsAction, page_path
from caravan.quality.names import GxNames
from caravan.quality.outcomes import outcome_columns
from caravan.quality.results import SAMPLE_KEYS_LIMIT, GateResult, parse_ds, result_row

#: What a gate validates: a partition DuckDB read (GX's pandas engine), whole or in
#: chunks, or a query GX runs in the warehouse (its SQL engine). All give the same rows.
Batch = pd.DataFrame | SqlBatch | PartitionChunks

# The meta key that ties each GX result back to its Check: GX does not keep the
# suite's order in its results, and two checks may share an expectation type.
_CHECK_INDEX = "caravan_check_index"


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
        return validate_in_chunks(
            batch,
            checks,
            validate=validate_batch,
            stage=stage,
            source=source,
            entity=entity,
            ds=ds,
            run_id=run_id,
            key_columns=key_columns,
            data_docs=data_docs,
        )
    ds_date = parse_ds(ds, where=where)
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
        result_row(
            outcome_columns(check, by_index.get(index), keys),
            stage=stage,
            source=source,
            entity=entity,
            ds=ds_date,
            run_id=run_id,
            validated_at=validated_at,
        )
        for index, check in enumerate(checks)
    ]
    return GateResult(stage, source, entity, ds, run_id, rows, docs_url)


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
    with held_gx_context(data_docs) as context:
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
            "severity": GX_SEVERITY[check.severity],
        },
    )
