"""Steps of the `ingest_<source>` DAGs: plain functions of a source, a `ds` and a run id.

A source is delivered whole: `extract` stages every entity of its data interval, `gate`
audits every staged entity, `publish` publishes them all once every gate has passed.
The DAG file wraps each in a task and reads `ds` and the connection at the edge.
"""

from __future__ import annotations

import logging
from typing import Any

from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.sources import ingest
from caravan.sources.registry import SourceSpec, load_source
from caravan.task_context import TaskRef

log = logging.getLogger(__name__)


def source_spec(name: str) -> SourceSpec:
    """The source's registry entry: another source's bad entry does not stop this one."""
    return load_source(get_settings().dags_dir / "sources.yaml", name)


def extract(source_name: str, ds: str, connection: Any) -> list[dict]:
    """Pull the run's window of every entity from the source into staging; returns what
    each entity staged (for the gate and publish steps, as XCom)."""
    from caravan.sources.extract import deliveries

    source = source_spec(source_name)
    lake = Lake(get_settings().lake_url)
    staged = []
    for entity in source.entities.values():
        entity_staged = ingest.stage(
            lake, source_name, entity, ds, deliveries(source, entity, connection, ds)
        )
        log.info(
            "%s/%s ds=%s: delivered %d, staged %d, quarantined %d",
            source_name,
            entity.name,
            ds,
            entity_staged.delivered,
            entity_staged.rows,
            entity_staged.quarantined,
        )
        staged.append(entity_staged.to_xcom())
    return staged


def gate(staged_xcoms: list[dict], run_id: str, task: TaskRef | None = None) -> list[dict]:
    """The quarantine threshold and the raw suite of every staged entity. Every entity is
    gated (and recorded) before the step fails, naming each entity that did not pass;
    `task` (the gate's task) only names it in a warning alert."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.pipeline.gates import gate_batch, raise_failures, recording  # GX: gates only
    from caravan.quality import raw
    from caravan.quality.frames import jsonl_batch

    lake = Lake(get_settings().lake_url)
    failed: list[Exception] = []
    run = [ingest.Staged.from_xcom(staged) for staged in staged_xcoms]
    # The run's deliveries, for the checks that join another entity's (one source a run).
    delivered = {staged.entity: [path for path, _ in staged.files] for staged in run}
    with recording():  # one connection for every result the task records
        for staged in run:
            source = source_spec(staged.source)
            try:
                ingest.check_quarantine_rate(staged, source.quarantine_threshold)
                # The lake before ds (not a rerun's own partition), for the checks that
                # compare with it.
                entity = source.entities[staged.entity]
                known = raw.read_known(lake, source, entity, staged.ds, delivered, staged.schema)
                suite = raw.suite(source, entity, known)
                rows = sum(rows for _, rows in staged.files)
                paths = [path for path, _ in staged.files]
                batch = jsonl_batch(lake, paths, suite.projection, rows=rows, lookups=known.lookups)
                gate_batch(suite, batch, staged.ds, run_id, task)
            except (AirflowFailException, ingest.QuarantineRateExceeded) as error:
                log.error("%s/%s ds=%s: %s", staged.source, staged.entity, staged.ds, error)
                failed.append(error)
    raise_failures(failed)
    return staged_xcoms


def publish(staged_xcoms: list[dict], run_id: str) -> dict:
    """Publish every gated entity (quarantine first, manifest last); returns the ds and
    the rows published per entity."""
    lake = Lake(get_settings().lake_url)
    rows = {}
    ds = None
    for staged in map(ingest.Staged.from_xcom, staged_xcoms):
        manifest = ingest.publish(lake, staged, run_id)
        log.info(
            "published raw/%s/%s/ds=%s: %d rows, %d quarantined",
            manifest.source,
            manifest.entity,
            manifest.ds,
            manifest.rows,
            manifest.quarantined,
        )
        rows[manifest.entity] = manifest.rows
        ds = manifest.ds
    return {"ds": ds, "rows": rows}
