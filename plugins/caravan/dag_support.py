"""What every Caravan DAG shares: default arguments and how a task finds its partition(s)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pendulum

from caravan.alerts import on_task_failure

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


def partition_ds(context: dict) -> str:
    """The `ds` (YYYY-MM-DD) a run processes, never "now".

    In order: an explicit `ds` in the run's conf (manual runs, `caravan run`);
    the run's partition key (runs triggered by partitioned asset events); the
    start of the run's data interval (scheduled runs and backfills).
    """
    dag_run = context["dag_run"]
    conf = dag_run.conf or {}
    if conf.get("ds"):
        return pendulum.parse(conf["ds"]).to_date_string()
    partition_key = getattr(dag_run, "partition_key", None)
    if partition_key:
        return pendulum.parse(partition_key).to_date_string()
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise ValueError(f"run {dag_run.run_id}: no ds in conf, no partition key, no data interval")
    return pendulum.instance(start).in_timezone("UTC").to_date_string()


def partition_dates(context: dict) -> list[str]:
    """The `ds` a run processes, or every `ds` from it to `ds_end` in the run's conf.

    `ds_end` asks for a range run (the transform's backfill mode: one Spark job per job
    over the range, every partition still gated and published whole, docs/transforms.md).
    """
    first = partition_ds(context)
    end = (context["dag_run"].conf or {}).get("ds_end")
    if not end:
        return [first]
    from caravan.lake import date_range  # the lake's fsspec only when a task asks

    last = pendulum.parse(end).to_date_string()
    if last < first:
        raise ValueError(f"run {context['dag_run'].run_id}: ds_end {last} is before ds {first}")
    return date_range(first, last)


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
