"""
### Enrich: labels for the company's texts (reviews, issues) through a language model

Triggered per `ds` once the typed copies it reads (`curated/shop_db/reviews`,
`curated/issue_tracker/issues`) have published that partition. For each kind of text:

1. **label** — every record of the partition (and any left over from an earlier run's
   budget) gets sentiment, topics and language: from the lake's cache when the same text
   was labelled before with the same prompt and model, else from OpenAI with structured
   outputs (batched, retried on 429/5xx, within the run's token budget), or, offline (no
   `OPENAI_API_KEY`), from the local classifier. Every row says who labelled it. What
   the budget leaves is counted and waits for the next run; an answer that stays malformed
   goes to quarantine with its reason. The labels are staged;
2. **gate** — Great Expectations on the staged labels (key, vocabulary, language code);
3. **publish** — the partition `curated/enrichment/<kind>_labels/ds=…` with its manifest,
   which triggers `warehouse` for the same `ds`.

See docs/assistant.md.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task

from caravan.assets import curated_asset
from caravan.catalog import ENRICHMENT_DOMAIN, enriched
from caravan.dag_support import (
    DEFAULT_ARGS,
    START_DATE,
    WAREHOUSE_POOL,
    all_of,
    partition_ds,
    task_ref,
)
from caravan.settings import get_settings

LABELS = enriched(get_settings())
TEXTS = list(
    dict.fromkeys(
        curated_asset(*read.split("/")[1:]) for dataset in LABELS for read in dataset.reads
    )
)

if LABELS:  # a registry that lands no texts has nothing to label, and no enrich DAG

    @dag(
        schedule=PartitionedAssetTimetable(assets=all_of(TEXTS)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["caravan", "enrich", "openai"],
        doc_md=__doc__,
    )
    def enrich():
        for dataset in LABELS:
            # One XCom each (see ingest.py's publish on multiple_outputs).
            @task(task_id=f"label_{dataset.name}", multiple_outputs=False)
            def label(name: str, **context) -> dict:
                from caravan.pipeline import enrich_steps

                return enrich_steps.label(name, partition_ds(context), context["run_id"])

            @task(task_id=f"gate_{dataset.name}", pool=WAREHOUSE_POOL)
            def gate(name: str, **context) -> None:
                from caravan.pipeline import enrich_steps

                enrich_steps.gate(name, partition_ds(context), context["run_id"], task_ref(context))

            outlet = curated_asset(dataset.domain, dataset.name)

            @task(task_id=f"publish_{dataset.name}", outlets=[outlet], multiple_outputs=False)
            def publish(name: str, **context) -> dict:
                from caravan.pipeline import enrich_steps

                ds = partition_ds(context)
                published = enrich_steps.publish(name, ds, context["run_id"])
                event = context["outlet_events"][curated_asset(ENRICHMENT_DOMAIN, name)]
                event.extra = {"ds": ds}
                event.add_partitions([ds])
                return published

            label(dataset.name) >> gate(dataset.name) >> publish(dataset.name)

    enrich()
