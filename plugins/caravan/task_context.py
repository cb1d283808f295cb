"""Airflow's task context, read in one place: the `ds` a run processes and the task it is.

The DAG files' tasks and the failure callback call these; everything below them takes
plain values (`ds`, `run_id`, a `TaskRef`), so it runs and is tested without Airflow.
Only pendulum at module level: dag_support (for the DAG files) and the alerts (for the
callback) both read it, and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pendulum


@dataclass(frozen=True)
class TaskRef:
    """Which task of which run: what an alert names, so that people find the run."""

    dag_id: str
    task_id: str
    run_id: str
    ds: str | None = None
    log_url: str | None = None


def task_ref(context: Mapping[str, Any]) -> TaskRef:
    """The task of a context (a task's or a failure callback's), as far as it says."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    return TaskRef(
        dag_id=getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or "unknown DAG",
        task_id=getattr(ti, "task_id", None) or "unknown task",
        run_id=str(context.get("run_id") or getattr(ti, "run_id", None) or "unknown run"),
        ds=_ds_or_none(context),
        log_url=_log_url(ti),
    )


def _ds_or_none(context: Mapping[str, Any]) -> str | None:
    try:
        return partition_ds(context)  # type: ignore[arg-type]
    except Exception:  # a callback must not fail for want of a ds
        return context.get("ds")


def _log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # built from config; a broken one must not stop the alert
        return None


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
