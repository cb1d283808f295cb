"""
### Ingest a source into the lake's raw zone

One `ingest_<source>` DAG per entry of `dags/sources.yaml` (this file is the
registry-driven factory). For each entity, every run:

1. **extract** — pulls the records of its data interval from the source and
   stages them (`staging/raw/...`); records that cannot be loaded go to
   quarantine with the reason;
2. **gate** — a Great Expectations checkpoint over the staged partition; a
   failed `error` expectation stops here and nothing is published;
3. **publish** — moves the partition into `raw/` and writes `_manifest.json` last.

When every entity is published, `announce` emits the source's Asset with the
partition (`ds`) attached, which triggers `transform` for that `ds`.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import CronDataIntervalTimetable, dag, task

from caravan.assets import raw_asset
from caravan.dag_support import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL
from caravan.sources.registry import SourceSpec, load_registry

REGISTRY = Path(__file__).with_name("sources.yaml")


def build_ingest_dag(source: SourceSpec):
    @dag(
        dag_id=f"ingest_{source.name}",
        # A data interval per run (the day before the run): `ds` is a whole, past day.
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=4,
        default_args=DEFAULT_ARGS,
        tags=["caravan", "ingest", source.kind, source.name],
        doc_md=__doc__,
    )
    def ingest():
        published = []
        for entity in source.entities.values():

            @task(task_id=f"extract_{entity.name}")
            def extract(entity_name: str, **context) -> dict:
                from caravan.pipeline import ingest_steps

                return ingest_steps.extract(source.name, entity_name, context)

            @task(task_id=f"gate_{entity.name}", pool=WAREHOUSE_POOL)
            def gate(staged: dict, **context) -> dict:
                from caravan.pipeline import ingest_steps

                return ingest_steps.gate(staged, context)

            @task(task_id=f"publish_{entity.name}")
            def publish(staged: dict, **context) -> dict:
                from caravan.pipeline import ingest_steps

                return ingest_steps.publish(staged, context)

            published.append(publish(gate(extract(entity.name))))

        @task(outlets=[raw_asset(source.name)])
        def announce(manifests: list[dict], **context) -> None:
            """Tell downstream DAGs this source's partition is published."""
            from caravan.pipeline import ingest_steps

            ingest_steps.announce(raw_asset(source.name), manifests, context)

        announce(published)

    return ingest()


for _source in load_registry(REGISTRY).values():
    globals()[f"ingest_{_source.name}"] = build_ingest_dag(_source)
