"""
### Warehouse: curated → landing → dbt → marts gate → analytics

Triggered per `ds` once every curated entity has published that partition.

1. **load** — replaces the `ds` of each `landing` table with the published
   curated partition (idempotent per `ds`);
2. **dbt** — Cosmos renders the dbt project (from a manifest built ahead by
   `make manifest`) as one task per model and snapshot, each running `dbt build`
   for it in-process, tests included; incremental facts read the run's `ds`
   (the `partition` task's result, passed as dbt's `ds` var);
3. **gate** — Great Expectations checks on the marts as built;
4. **publish** — copies the marts into `analytics` in one transaction, so
   analysts see the new data only when every gate passed, and the old data
   otherwise.

Every task that writes the DuckDB file runs in the one-slot `caravan_warehouse` pool.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task
from cosmos import DbtTaskGroup

from caravan.assets import ANALYTICS, CURATED
from caravan.dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    WAREHOUSE_POOL,
    all_of,
    partition_ds,
)
from caravan.settings import get_settings
from caravan.warehouse import PUBLISHED_MARTS
from caravan.warehouse.dbt import cosmos_configs


@dag(
    schedule=PartitionedAssetTimetable(assets=all_of(CURATED.values())),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["caravan", "warehouse", "dbt"],
    doc_md=__doc__,
)
def warehouse():
    @task
    def partition(**context) -> str:
        return partition_ds(context)

    loads = []
    for domain, entity in CURATED:

        @task(task_id=f"load_{domain}__{entity}", pool=WAREHOUSE_POOL)
        def load(domain_name: str, entity_name: str, **context) -> int:
            from caravan.pipeline import warehouse_steps

            return warehouse_steps.load(domain_name, entity_name, context)

        loads.append(load(domain, entity))

    dbt = DbtTaskGroup(
        group_id="dbt",
        default_args=DEFAULT_ARGS,
        **cosmos_configs(
            get_settings(), "{{ ti.xcom_pull(task_ids='partition') }}", WAREHOUSE_POOL
        ),
    )

    gates = []
    for mart in PUBLISHED_MARTS:

        @task(task_id=f"gate_{mart}", pool=WAREHOUSE_POOL)
        def gate(mart_name: str, **context) -> None:
            from caravan.pipeline import warehouse_steps

            warehouse_steps.gate(mart_name, context)

        gates.append(gate(mart))

    @task(pool=WAREHOUSE_POOL, outlets=[ANALYTICS])
    def publish(**context) -> None:
        from caravan.pipeline import warehouse_steps

        warehouse_steps.publish(context)

    partition() >> loads >> dbt >> gates >> publish()


warehouse()
