"""
### Transform: raw → curated with PySpark

Triggered per `ds` once every raw source it reads has published that partition
(a partitioned Asset schedule). Each Spark job reads the published raw
partitions, writes its output to `staging/curated/...`, the curated gate
(Great Expectations) audits it, and only then is it published to `curated/`
with its manifest. Each published output emits its Asset, which triggers
`warehouse` for the same `ds`.

Spark runs in the task (`local[*]`) or on a cluster through Spark Connect when
`CARAVAN_SPARK_REMOTE` is set.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task

from caravan.assets import CURATED, RAW
from caravan.dag_support import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL

JOBS = ("unify_ad_spend", "curate_orders")


@dag(
    schedule=PartitionedAssetTimetable(
        assets=RAW["google_ads"] & RAW["meta_ads"] & RAW["fx_rates"] & RAW["shop_db"]
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["caravan", "transform", "spark"],
    doc_md=__doc__,
)
def transform():
    for job in JOBS:

        @task(task_id=f"run_{job}")
        def run(job_name: str, **context) -> dict:
            from caravan.pipeline import transform_steps

            return transform_steps.run_job(job_name, context)

        @task(task_id=f"gate_{job}", pool=WAREHOUSE_POOL)
        def gate(job_name: str, **context) -> None:
            from caravan.pipeline import transform_steps

            transform_steps.gate(job_name, context)

        @task(task_id=f"publish_{job}", outlets=[CURATED[job]])
        def publish(job_name: str, **context) -> dict:
            from caravan.pipeline import transform_steps

            published = transform_steps.publish(job_name, context)
            transform_steps.announce(CURATED[job_name], context)
            return published

        run(job) >> gate(job) >> publish(job)


transform()
