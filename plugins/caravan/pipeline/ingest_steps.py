"""Steps of the `ingest_<source>` DAGs: plain functions of a source, a `ds` and a run id.

A source is delivered whole: `extract` stages every entity of its data interval, `gate`
audits every staged entity, `publish` publishes them all once every gate has passed.
The DAG file wraps each in a task and reads `ds` and the connection at the edge.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.sources import ingest, landing
from caravan.sources.registry import SourceSpec, load_source
from caravan.task_context import TaskRef

log = logging.getLogger(__name__)


def source_spec(name: str) -> SourceSpec:
    """The source's registry entry: another source's bad entry does not stop this one."""
    return load_source(get_settings().dags_dir / "sources.yaml", name)


def first_day(source: SourceSpec) -> date:
    """The first day the source has data: its `start_date`, else the platform's."""
    from caravan.dag_support import START_DATE

    return source.start_date or START_DATE.date()


def check_started(source: SourceSpec, ds: str) -> None:
    """Fail, for good, a run of a day before the source has data. `caravan run` makes no
    such run (the DAG starts on that day), but Airflow's backfills do: their tasks run
    whatever the DAG's start_date, and would find nothing or fail for a reason that is not
    the one."""
    first = first_day(source)
    if date.fromisoformat(ds) < first:
        from caravan.sources import PermanentSourceError

        raise PermanentSourceError(
            f"{source.name} starts on {first} (its start_date in dags/sources.yaml, else"
            f" caravan.dag_support.START_DATE), so it has nothing to extract for ds={ds}."
            " Declare an earlier start_date to load that day."
        )


def extract(source_name: str, ds: str, connection: Any) -> list[dict]:
    """Pull the run's window of every entity from the source into staging; returns what
    each entity staged (for the gate and publish steps, as XCom)."""
    from caravan.sources.extract import deliveries

    source = source_spec(source_name)
    check_started(source, ds)
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
    """The quarantine threshold and the raw suite of every staged entity, both recorded in
    `quality.validation_results` (an entity over the threshold is not validated further:
    it cannot publish). Every entity is gated (and recorded) before the step fails,
    naming each entity that did not pass; `task` (the gate's task) only names it in a
    warning alert."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.pipeline.gates import (  # GX: gates only
        gate_batch,
        gate_quarantine,
        raise_failures,
        recording,
    )
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
                gate_quarantine(staged, source.quarantine_threshold, run_id)
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
    """Publish every gated entity (quarantine first, manifest last), and the typed copy of
    each `landing` entity (`curated/<source>/<entity>`); returns the ds and the rows
    published per entity."""
    lake = Lake(get_settings().lake_url)
    rows = {}
    ds = None
    specs: dict[str, SourceSpec] = {}  # the registry read once, not once an entity
    for staged in map(ingest.Staged.from_xcom, staged_xcoms):
        if staged.source not in specs:
            specs[staged.source] = source_spec(staged.source)
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
        entity = specs[staged.source].entities[staged.entity]
        if entity.landing:  # its typed copy, for the warehouse's landing schema
            typed = landing.write_typed(lake, staged.source, entity, staged.ds, run_id)
            log.info(
                "published curated/%s/%s/ds=%s: %d rows, typed",
                typed.source,
                typed.entity,
                typed.ds,
                typed.rows,
            )
    return {"ds": ds, "rows": rows}
