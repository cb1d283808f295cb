"""
### Ingest a source into the lake's raw zone

One `ingest_<source>` DAG per entry of `dags/sources.yaml` (this file is the
registry-driven factory). A source is delivered whole, every run:

1. **extract** — pulls every entity's records of its data interval from the source and
   stages them (`staging/raw/...`); records that cannot be loaded go to quarantine
   with the reason;
2. **gate** — a Great Expectations checkpoint over each staged partition, and the
   source's quarantine threshold (recorded in `quality.validation_results` as
   `expect_quarantine_share_to_be_at_most`); every entity is gated and recorded, then a
   failed `error` check on any entity stops here and nothing of the source is published;
3. **publish** — moves every partition into `raw/`, each `_manifest.json` written last,
   then emits the source's Asset with the partition (`ds`) attached, which triggers
   `transform` for that `ds`. An entity declared `landing: true` also gets its typed
   copy (`curated/<source>/<entity>`, Parquet of the declared types) and its Asset, which
   the `warehouse` DAG waits for and loads into `landing.<source>__<entity>`.

A source's error that no retry can mend (credentials refused, a missing endpoint, a
corrupt file) fails `extract` at once, and so does one entity's: nothing of the source
is gated or published. Throttling and a server's fault are retried. A file drop that
has not come yet is waited for (`extract` is rescheduled every 10 minutes, spending no
retry) until the end of the data interval plus the source's `drop_wait_hours`, then
fails at once, naming the file it looked for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import CronDataIntervalTimetable, dag, task

from caravan.assets import curated_asset, raw_asset
from caravan.catalog import landed
from caravan.dag_support import (
    DEFAULT_ARGS,
    WAREHOUSE_POOL,
    failing_at_once,
    partition_ds,
    start_date_of,
    task_ref,
)
from caravan.sources.registry import SourceSpec, load_registry_lenient

REGISTRY = Path(__file__).with_name("sources.yaml")


def build_ingest_dag(source: SourceSpec):
    asset = raw_asset(source.name)
    # The typed copies of its `landing` entities, which the warehouse DAG waits for.
    typed = [
        curated_asset(dataset.domain, dataset.name) for dataset in landed({source.name: source})
    ]

    @dag(
        dag_id=f"ingest_{source.name}",
        # A data interval per run (the day before the run): `ds` is a whole, past day.
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        # The source's declared start_date (how far back it goes), else the platform's.
        start_date=start_date_of(source.start_date),
        catchup=False,
        max_active_runs=4,
        default_args=DEFAULT_ARGS,
        tags=["caravan", "ingest", source.kind, source.name],
        doc_md=__doc__,
    )
    def ingest():
        @task
        def extract(**context) -> list[dict]:
            from airflow.sdk import Connection

            from caravan.pipeline import ingest_steps

            # Airflow masks the password and the extra's secret-named values in the task's
            # log (Connection.get, extra_dejson); the sources redact their messages too.
            connection = Connection.get(source.conn_id)
            # A refusal or a corrupt file fails at once; a late drop waits until its deadline.
            with failing_at_once():
                return ingest_steps.extract(source.name, partition_ds(context), connection)

        @task(pool=WAREHOUSE_POOL)
        def gate(staged: list[dict], **context) -> list[dict]:
            from caravan.pipeline import ingest_steps

            with failing_at_once():  # the lake's history it compares with changed
                return ingest_steps.gate(staged, context["run_id"], task_ref(context))

        # One XCom, the summary: a `-> dict` task would also push each key on its own
        # (multiple_outputs), an execution API call each and nothing reads them.
        @task(outlets=[asset, *typed], multiple_outputs=False)
        def publish(staged: list[dict], **context) -> dict:
            from caravan.pipeline import ingest_steps

            published = ingest_steps.publish(staged, context["run_id"])
            # Tell downstream DAGs this source's partition is published, and the warehouse
            # the typed copies it loads.
            for outlet in [asset, *typed]:
                event = context["outlet_events"][outlet]
                event.extra = published
                event.add_partitions(partition_ds(context))
            return published

        publish(gate(extract()))

    return ingest()


# One bad entry leaves out its own DAG only. Its error is logged here and raised by
# dags/registry_errors.py, so it shows among the UI's import errors: an error raised
# here would mark every ingest DAG of this file stale, the good ones too.
_sources, _errors = load_registry_lenient(REGISTRY)
for _error in _errors:
    logging.getLogger(__name__).error("ingest DAG not built: %s", _error)
for _source in _sources.values():
    globals()[f"ingest_{_source.name}"] = build_ingest_dag(_source)
