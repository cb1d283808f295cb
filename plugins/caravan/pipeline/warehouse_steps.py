"""Tasks of the `warehouse` DAG: load, gate the marts dbt built, publish to `analytics`."""

from __future__ import annotations

import logging

from caravan.dag_support import partition_ds
from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.warehouse import PUBLISHED_MARTS
from caravan.warehouse.targets import warehouse

log = logging.getLogger(__name__)


def load(domain: str, entity: str, context: dict) -> int:
    settings = get_settings()
    ds = partition_ds(context)
    target = warehouse(settings)
    rows = target.load_partition(Lake(settings.lake_url), domain, entity, ds)
    log.info("loaded %s ds=%s: %d rows", target.landing_table(domain, entity), ds, rows)
    return rows


def gate(mart: str, context: dict) -> None:
    from caravan.pipeline.gates import gate_batch  # GX is heavy: only gate tasks import it
    from caravan.quality import marts

    ds = partition_ds(context)
    suite = marts.SUITES[("marts", mart)]
    # A frame on DuckDB; on Snowflake a query GX's SQL engine runs in the warehouse.
    batch = warehouse(get_settings()).mart_batch(mart, suite.projection)
    gate_batch(suite, batch, ds, context["run_id"], context)


def publish(context: dict) -> None:
    warehouse(get_settings()).publish_analytics()
    log.info(
        "published %s to analytics for ds=%s",
        ", ".join(PUBLISHED_MARTS),
        partition_ds(context),
    )
