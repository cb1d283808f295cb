"""What every Caravan DAG shares: default arguments and how a task finds its partition(s)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from caravan.alerts import on_task_failure

# How a task finds its partition(s) lives in caravan.task_context, which the alerts read too;
# re-exported here, where dags/ and pipeline/ import it from.
from caravan.task_context import partition_dates as partition_dates
from caravan.task_context import partition_ds as partition_ds
from caravan.task_context import task_ref as task_ref

if TYPE_CHECKING:
    from caravan.sources.file_drop import LateDrop

log = logging.getLogger(__name__)

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def start_date_of(day: date | None) -> pendulum.DateTime:
    """A DAG's start_date: `day` (a source's declared `start_date`) at midnight UTC, or the
    platform's START_DATE. Airflow makes no task for a date before it."""
    return START_DATE if day is None else pendulum.datetime(day.year, day.month, day.day, tz="UTC")


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


# How often a task waiting for a late file drop looks for it again.
LATE_DROP_POKE = timedelta(minutes=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def failing_at_once(now: Callable[[], datetime] = _utc_now) -> Iterator[None]:
    """Within the block, an error no retry can mend fails the task at once, without its
    retries: a published partition that no longer matches its manifest
    (`PartitionCorrupt`), a source's permanent refusal (`PermanentSourceError`: 401, 403,
    404, a corrupt file), a file drop still missing at its deadline (`LateDrop`). Before
    that deadline the task waits: it is rescheduled (Airflow's reschedule, as a sensor's,
    which spends no retry and holds no worker) to look again every LATE_DROP_POKE. Others
    keep the retries with backoff of DEFAULT_ARGS.

    `now` is the clock the deadline is compared with (never the data's: tests pass one)."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.lake import PartitionCorrupt  # the lake's fsspec only when a task runs
    from caravan.sources import PermanentSourceError
    from caravan.sources.file_drop import LateDrop

    try:
        yield
    except LateDrop as late:
        raise waiting_for(late, now()) from late
    except (PartitionCorrupt, PermanentSourceError) as error:
        raise AirflowFailException(f"{error} (permanent: not retried)") from error


def waiting_for(late: LateDrop, now: datetime) -> Exception:
    """What a task does about a `LateDrop` at `now`: look again at the next poke (never past
    the deadline) while the drop may still come, fail for good once the deadline passed."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

    if now < late.deadline:
        again = min(now + LATE_DROP_POKE, late.deadline)
        log.info("%s; not there yet, looking again at %s", late, again.isoformat())
        return AirflowRescheduleException(again)
    return AirflowFailException(
        f"{late}; it did not come by then: failed for good, not retried (drop the file,"
        " then clear the task or run the day again)"
    )
