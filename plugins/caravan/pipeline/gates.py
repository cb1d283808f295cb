"""Running a stage's suite on a partition and turning a failure into a failed task."""

from __future__ import annotations

import logging

import pandas as pd

from caravan.quality.gate import GateFailed, GateResult, run_gate
from caravan.quality.suites import Suite
from caravan.settings import get_settings

log = logging.getLogger(__name__)


def gate_frame(suite: Suite, frame: pd.DataFrame, ds: str, run_id: str) -> GateResult:
    """Validate and record; a failed `error` expectation fails the task without retries
    (the data would not change on a retry)."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        result = run_gate(
            frame,
            suite.checks(ds),
            stage=suite.stage,
            source=suite.source,
            entity=suite.entity,
            ds=ds,
            run_id=run_id,
            key_columns=suite.key_columns,
            warehouse_path=get_settings().warehouse_path,
        )
    except GateFailed as failed:
        log.error("%s", failed)
        raise AirflowFailException(str(failed)) from failed
    if result.failures:  # warn-severity only: recorded, not blocking
        log.warning("%s", result.summary())
    log.info(
        "%s gate passed: %s/%s ds=%s, %d expectations, %d rows",
        suite.stage,
        suite.source,
        suite.entity,
        ds,
        len(result.rows),
        len(frame),
    )
    return result
