"""What every Caravan DAG shares: default arguments and how a task finds its partition(s)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pendulum

from caravan.alerts import on_task_failure

# How a task finds its partition(s) lives in caravan.task_context, which the alerts read too;
# re-exported here, where dags/ and pipeline/ import it from.
from caravan.task_context import partition_dates as partition_dates
from caravan.task_context import partition_ds as partition_ds
from caravan.task_context import task_ref as task_ref

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "caravan",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
    # One alert per failed task (Slack webhook, email), after its last try: docs/alerts.md.
    "on_failure_callback": on_task_failure,
}

# Writes to the single DuckDB warehouse file go through this pool of one slot.
WAREHOUSE_POOL = "caravan_warehouse"


def all_of(assets: Iterable):
    """A condition on every one of the assets (a partitioned run waits for each's partition)."""
    first, *rest = assets
    for asset in rest:
        first = first & asset
    return first


@contextmanager
def failing_at_once() -> Iterator[None]:
    """Within the block, an error no retry can mend fails the task at once, without its
    retries: a published partition that no longer matches its manifest
    (`PartitionCorrupt`), a source's permanent refusal (`PermanentSourceError`: 401, 403,
    404, a corrupt file). Others keep the retries with backoff of DEFAULT_ARGS."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.lake import PartitionCorrupt  # the lake's fsspec only when a task runs
    from caravan.sources import PermanentSourceError

    try:
        yield
    except (PartitionCorrupt, PermanentSourceError) as error:
        raise AirflowFailException(f"{error} (permanent: not retried)") from error
