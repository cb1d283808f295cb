"""
### Warehouse: curated → landing → dbt → marts gate → analytics

Triggered per `ds` once every curated entity has published that partition, and every
source entity declared `landing: true` in `dags/sources.yaml` its typed copy.

1. **load** — replaces the `ds` of each `landing` table with the published
   curated partition (idempotent per `ds`): the Spark jobs' outputs
   (`landing.<domain>__<entity>`) and the sources' typed copies
   (`landing.<source>__<entity>`);
2. **dbt_build** — Cosmos runs the dbt project as one `dbt build` in-process: every
   model, the snapshot and the data tests, in dependency order; dbt stops the models
   downstream of a failing test (the unit tests, on fixed inputs, run in CI, not
   daily). Incremental facts read the run's `ds` (the `load` task's result, passed to
   dbt as `CARAVAN_DS`). The task log lists each node's result;
3. **gate** — Great Expectations checks on every mart as built;
4. **publish** — copies the marts into `analytics` in one transaction, so
   analysts see the new data only when every gate passed, and the old data
   otherwise.

Every task writes the warehouse, so every task runs in the one-slot `caravan_warehouse` pool.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task
from cosmos.operators.local import DbtBuildLocalOperator

from caravan.assets import ANALYTICS, curated_asset
from caravan.catalog import warehouse_loads
from caravan.dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    WAREHOUSE_POOL,
    all_of,
    failing_at_once,
    partition_ds,
    task_ref,
)
from caravan.settings import get_settings
from caravan.warehouse.dbt import cosmos_build_args

# Every curated dataset the load reads: the Spark jobs' outputs and the registry's
# `landing` entities' typed copies. The run for a ds waits for each of them.
LOADED = [
    curated_asset(dataset.domain, dataset.name) for dataset in warehouse_loads(get_settings())
]


@dag(
    schedule=PartitionedAssetTimetable(assets=all_of(LOADED)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["caravan", "warehouse", "dbt"],
    doc_md=__doc__,
)
def warehouse():
    # One XCom, read by dbt_build for its ds (see ingest.py's publish on multiple_outputs).
    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def load(**context) -> dict:
        from caravan.pipeline import warehouse_steps

        with failing_at_once():  # a curated file changed after publishing
            return warehouse_steps.load(partition_ds(context))

    dbt_build = DbtBuildLocalOperator(
        task_id="dbt_build",
        **cosmos_build_args(
            get_settings(), "{{ ti.xcom_pull(task_ids='load')['ds'] }}", WAREHOUSE_POOL
        ),
    )

    @task(pool=WAREHOUSE_POOL)
    def gate(**context) -> None:
        from caravan.pipeline import warehouse_steps

        warehouse_steps.gate(partition_ds(context), context["run_id"], task_ref(context))

    @task(pool=WAREHOUSE_POOL, outlets=[ANALYTICS])
    def publish(**context) -> None:
        from caravan.pipeline import warehouse_steps

        warehouse_steps.publish(partition_ds(context))

    load() >> dbt_build >> gate() >> publish()


warehouse()
