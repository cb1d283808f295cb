"""Running a stage's suite on a partition and turning a failure into a failed task."""

from __future__ import annotations

import logging

import pandas as pd

from caravan.quality.batches import PartitionChunks
from caravan.quality.docs import DataDocs
from caravan.quality.gate import run_gate
from caravan.quality.results import GateFailed, GateResult
from caravan.quality.suites import Suite
from caravan.quality.validation import Batch
from caravan.settings import get_settings
from caravan.task_context import TaskRef
from caravan.warehouse.targets import warehouse

log = logging.getLogger(__name__)


def gate_batch(
    suite: Suite,
    batch: Batch,
    ds: str,
    run_id: str,
    task: TaskRef | None = None,
) -> GateResult:
    """Validate and record; a failed `error` expectation fails the task without retries
    (the data would not change on a retry). `task` (the gate's task) names the DAG and task
    in the alert a pass with warnings sends; a failure alerts from the failure callback."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        result = run_gate(
            batch,
            suite.checks(ds),
            stage=suite.stage,
            source=suite.source,
            entity=suite.entity,
            ds=ds,
            run_id=run_id,
            key_columns=suite.key_columns,
            # Every stage's results go to the target's quality schema (DESIGN §3).
            target=warehouse(get_settings()),
            data_docs=_data_docs(),
        )
    except GateFailed as failed:
        log.error("%s", failed)  # its summary ends with the run's Data Docs page
        _log_data_docs(failed.result)
        raise AirflowFailException(str(failed)) from failed
    _log_data_docs(result)
    if result.failures:  # warn-severity only: recorded, not blocking
        log.warning("%s", result.summary())
        from caravan.alerts import alert_gate_warnings

        alert_gate_warnings(result, task)
    log.info(
        "%s gate passed: %s/%s ds=%s, %d expectations, %s",
        suite.stage,
        suite.source,
        suite.entity,
        ds,
        len(result.rows),
        _describe(batch),
    )
    return result


def recording():
    """The span of a gate task: every result it records goes through one connection to
    the target where it can (DuckDB: one open and checkpoint of the file, not one a gate)."""
    return warehouse(get_settings()).recording()


def raise_failures(failures: list[Exception]) -> None:
    """Fail the task once for every partition that did not pass (each gated and recorded
    first), without retries: the message names each; the cause is the first failed gate,
    whose failing expectations the alert lists."""
    if not failures:
        return
    from airflow.sdk.exceptions import AirflowFailException

    first = failures[0]
    cause = first.__cause__ if isinstance(first, AirflowFailException) else None
    raise AirflowFailException("\n".join(str(failure) for failure in failures)) from (
        cause or first
    )


def _data_docs() -> DataDocs:
    settings = get_settings()
    return DataDocs(site_dir=settings.data_docs_dir, store_dir=settings.gx_dir)


def _log_data_docs(result: GateResult) -> None:
    """Link the run's Data Docs page and the site's index from the task log."""
    if result.docs_url:
        log.info("Data Docs: %s (index: %s)", result.docs_url, _data_docs().index_path.as_uri())


def _describe(batch: Batch) -> str:
    if isinstance(batch, pd.DataFrame):
        return f"{len(batch)} rows"
    if isinstance(batch, PartitionChunks):
        return f"{batch.rows} rows, in chunks"
    return f"in {batch.dialect}"
