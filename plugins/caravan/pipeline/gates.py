"""Running a stage's suite on a partition and turning a failure into a failed task."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from caravan.quality.batches import PartitionChunks
from caravan.quality.docs import DataDocs
from caravan.quality.gate import record_results, run_gate
from caravan.quality.outcomes import to_json
from caravan.quality.results import GateFailed, GateResult, parse_ds, result_row
from caravan.quality.suites import Suite
from caravan.quality.validation import Batch
from caravan.settings import get_settings
from caravan.sources import ingest
from caravan.task_context import TaskRef
from caravan.warehouse.targets import warehouse

log = logging.getLogger(__name__)

#: The raw gate's row for a delivery's quarantine share, in `quality.validation_results`.
QUARANTINE_SHARE = "expect_quarantine_share_to_be_at_most"


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


def gate_quarantine(staged: ingest.Staged, threshold: float, run_id: str) -> GateResult:
    """Record the share of a delivery that went to quarantine as a row of the entity's raw
    gate, pass or fail (so a later attempt of the run replaces it), then raise
    `QuarantineRateExceeded` with its bounded message when the share is above `threshold`.

    A row of its own rather than a GX expectation: the share is a count staging made, not
    a property of the accepted records the suite validates. Its `observed_value` holds the
    share, the threshold and the counts; `sample_keys` the reasons by field and kind with
    their counts (at most MAX_REASONS, the rest as one)."""
    exceeded = None
    try:
        ingest.check_quarantine_rate(staged, threshold)
    except ingest.QuarantineRateExceeded as error:
        exceeded = error
    where = f"raw gate {staged.source}/{staged.entity}"
    share = staged.quarantined / staged.delivered if staged.delivered else 0.0
    groups = list(staged.reasons.items())
    reasons = [{"reason": r, "records": n} for r, n in groups[: ingest.MAX_REASONS]]
    if len(groups) > ingest.MAX_REASONS:
        rest = groups[ingest.MAX_REASONS :]
        reasons.append({"reason": f"{len(rest)} other reasons", "records": sum(n for _, n in rest)})
    outcome = {
        "expectation": QUARANTINE_SHARE,
        "column_name": None,
        "severity": "error",
        "success": exceeded is None,
        "observed_value": to_json(
            {
                "quarantine_share": share,
                "threshold": threshold,
                "quarantined": staged.quarantined,
                "delivered": staged.delivered,
            }
        ),
        "unexpected_count": None,  # a share of the table, as GX's table-level checks
        "sample_keys": to_json(reasons),
        "kwargs": to_json({"max_value": threshold}),
    }
    row = result_row(
        outcome,
        stage="raw",
        source=staged.source,
        entity=staged.entity,
        ds=parse_ds(staged.ds, where=where),
        run_id=run_id,
        validated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),  # as validate_batch's
    )
    result = GateResult("raw", staged.source, staged.entity, staged.ds, run_id, [row])
    record_results(result, warehouse(get_settings()))  # the suites' path (run_gate)
    if exceeded is not None:
        raise exceeded
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
