"""The enrich DAG's steps for one labels dataset (`review_labels`, `issue_labels`) and ds:
label and stage (caravan.enrichment.step), gate the staged labels, publish."""

from __future__ import annotations

import logging

from caravan import catalog
from caravan.enrichment import step
from caravan.enrichment.labels import kind_of
from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.task_context import TaskRef

log = logging.getLogger(__name__)


def label(name: str, ds: str, run_id: str) -> dict:
    """Label the texts of `ds` (and the backlog) and stage the labels; the run's summary."""
    return step.label_partition(get_settings(), name, ds, run_id)


def gate(name: str, ds: str, run_id: str, task: TaskRef | None = None) -> None:
    """The curated gate on the staged labels (key, vocabulary, language, source day)."""
    from caravan.pipeline.gates import gate_batch, recording  # GX: only gate tasks import it
    from caravan.quality import curated
    from caravan.quality.frames import parquet_batch

    settings = get_settings()
    lake = Lake(settings.lake_url)
    kind = kind_of(name)
    summary = step.staged_summary(lake, kind, ds)
    if not summary["labelled"]:  # nothing labelled (a quiet day, or all deferred): no rows
        log.info("%s ds=%s: no labels staged (%s), nothing to gate", name, ds, summary)
        return
    suite = curated.suite_for(catalog.curated_dataset(catalog.ENRICHMENT_DOMAIN, name))
    path = step.staged_labels(lake, kind, ds)
    with recording():
        gate_batch(
            suite,
            parquet_batch(lake, [path], suite.projection, rows=summary["labelled"]),
            ds,
            run_id,
            task,
        )


def publish(name: str, ds: str, run_id: str) -> dict:
    """Publish the gated labels of `ds` with their manifest; the run's summary."""
    return step.publish_partition(get_settings(), name, ds, run_id)
