"""
### Transform: raw → curated with PySpark

Triggered per `ds` once every raw source it reads has published that partition
(a partitioned Asset schedule). Each Spark job reads the published raw
partitions, writes its output to `staging/curated/...`, the curated gate
(Great Expectations) audits it, and only then is it published to `curated/`
with its manifest. Each published output emits its Asset, which triggers
`warehouse` for the same `ds`.

`attribute_orders` runs after the jobs whose output it reads (orders, sessions,
identities) have published the same `ds`.

A backfill can ask for a range run: triggered with `{"ds": first, "ds_end": last}`
in its conf, each job runs once over every `ds` of the range (one Spark job per
output instead of one per day), gates every partition, then publishes each whole
with its manifest and emits its Asset for every `ds`, exactly as the one-day runs do.
`caravan run --start --end --range` runs a chain that way.

Spark runs in the task (`local[*]`), on a cluster through Spark Connect when
`CARAVAN_SPARK_REMOTE` is set, or through `spark-submit` (the Spark provider's
operator, the job code shipped as `--py-files`) when `CARAVAN_SPARK_SUBMIT_CONN_ID`
names an Airflow `spark` connection. See docs/spark.md and docs/transforms.md.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task

from caravan.assets import CURATED, RAW, TRANSFORM_JOBS, TRANSFORM_UPSTREAMS
from caravan.dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    WAREHOUSE_POOL,
    all_of,
    failing_at_once,
    partition_dates,
    task_ref,
)
from caravan.settings import get_settings

# The run mode is the environment's: spark-submit through an Airflow `spark` connection
# when CARAVAN_SPARK_SUBMIT_CONN_ID is set, else in the task (local[*] or Spark Connect).
SETTINGS = get_settings()


@dag(
    schedule=PartitionedAssetTimetable(assets=all_of(RAW.values())),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["caravan", "transform", "spark"],
    doc_md=__doc__,
)
def transform():
    published = {}
    for job, job_outputs in TRANSFORM_JOBS.items():
        # One XCom each (see ingest.py's publish on multiple_outputs).
        @task(task_id=f"run_{job}", multiple_outputs=False)
        def run(job_name: str, **context) -> dict:
            from caravan.pipeline import transform_steps

            with failing_at_once():  # an input changed after publishing: no retry mends it
                return transform_steps.run_job(job_name, partition_dates(context))

        @task(task_id=f"gate_{job}", pool=WAREHOUSE_POOL)
        def gate(job_name: str, **context) -> None:
            from caravan.pipeline import transform_steps

            dates, run_id = partition_dates(context), context["run_id"]
            transform_steps.gate(job_name, dates, run_id, task_ref(context))

        outlets = [CURATED[output] for output in job_outputs]

        @task(task_id=f"publish_{job}", outlets=outlets, multiple_outputs=False)
        def publish(job_name: str, **context) -> dict:
            from caravan.pipeline import transform_steps

            dates = partition_dates(context)
            rows = transform_steps.publish(job_name, dates, context["run_id"])
            # One Asset event per published partition (its partition key); the extra names
            # the run's ds, and its ds_end in a range run.
            extra = {"ds": dates[0]} | ({"ds_end": dates[-1]} if len(dates) > 1 else {})
            for output in TRANSFORM_JOBS[job_name]:
                event = context["outlet_events"][CURATED[output]]
                event.extra = extra
                event.add_partitions(dates)
            return rows

        if SETTINGS.spark_submit_conn_id:
            from caravan.pipeline.spark_submit import submit_operator

            started = submit_operator(job, f"run_{job}", SETTINGS.spark_submit_conn_id)
        else:
            started = run(job)
        published[job] = publish(job)
        started >> gate(job) >> published[job]
        for upstream in TRANSFORM_UPSTREAMS.get(job, ()):
            published[upstream] >> started


transform()
