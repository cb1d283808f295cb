"""Steps of the `warehouse` DAG: load the curated partitions, gate the marts dbt built,
publish them to `analytics`. Plain functions of a `ds` and a run id."""

from __future__ import annotations

import logging

from caravan import catalog
from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.task_context import TaskRef
from caravan.warehouse.targets import warehouse

log = logging.getLogger(__name__)


def load(ds: str, entities: tuple[tuple[str, str], ...] | None = None) -> dict:
    """Replace the `ds` of each landing table (every curated dataset's, the registry's
    `landing` entities' too, unless `entities` names some) with its published curated
    partition; returns the ds (dbt's incremental models read it) and the rows loaded per
    table."""
    settings = get_settings()
    if entities is None:
        loads = catalog.warehouse_loads(settings)
        entities = tuple((dataset.domain, dataset.name) for dataset in loads)
    target = warehouse(settings)
    lake = Lake(settings.lake_url)
    rows = {}
    for domain, entity in entities:
        table = target.landing_table(domain, entity)
        rows[table] = target.load_partition(lake, domain, entity, ds)
        log.info("loaded %s ds=%s: %d rows", table, ds, rows[table])
    return {"ds": ds, "rows": rows}


def gate(
    ds: str,
    run_id: str,
    task: TaskRef | None = None,
    marts_to_gate: tuple[str, ...] | None = None,
) -> None:
    """Each mart (every one of dbt's manifest unless `marts_to_gate` names some) against
    its suite; every mart is gated (and recorded) before the step fails, naming each mart
    that did not pass. `task` (the gate's task) only names it in a warning alert."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.pipeline.gates import gate_batch, raise_failures  # GX: only gates import it
    from caravan.quality import marts

    settings = get_settings()
    target = warehouse(settings)
    if marts_to_gate is None:
        marts_to_gate = catalog.published_marts(settings)
    failed: list[AirflowFailException] = []
    with target.recording():  # one connection for every result the task records
        for mart in marts_to_gate:
            suite = marts.suite_for(mart)
            # A frame on DuckDB; on Snowflake a query GX's SQL engine runs in the warehouse.
            try:
                gate_batch(suite, target.mart_batch(mart, suite.projection), ds, run_id, task)
            except AirflowFailException as error:
                failed.append(error)
    raise_failures(failed)


def publish(ds: str) -> None:
    """Copy every mart of dbt's manifest into `analytics`, in one transaction."""
    settings = get_settings()
    published = catalog.published_marts(settings)
    warehouse(settings).publish_analytics(published)
    log.info("published %s to analytics for ds=%s", ", ".join(published), ds)
