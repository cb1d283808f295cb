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
    from caravan.pipeline.gates import gate_frame  # GX is heavy: only gate tasks import it
    from caravan.quality import marts

    ds = partition_ds(context)
    suite = marts.SUITES[("marts", mart)]
    frame = warehouse(get_settings()).mart_frame(mart, suite.projection)
    gate_frame(suite, frame, ds, context["run_id"])


def publish(context: dict) -> None:
    warehouse(get_settings()).publish_analytics()
    log.info(
        "published %s to analytics for ds=%s",
        ", ".join(PUBLISHED_MARTS),
        partition_ds(context),
    )
