"""What data Caravan has: every dataset of every zone, what makes it, what it reads, its key.

- **raw**: one dataset per entity of the source registry (`dags/sources.yaml`), made by
  the source's `ingest_<source>` DAG;
- **curated**: `CURATED` below, one entry per output of a Spark job in `spark_jobs/`;
  the typed copy of each registry entity that declares `landing: true` (`landed`),
  `curated/<source>/<entity>`, made by its ingest DAG; and `ENRICHED`, the labels the
  `enrich` DAG gives texts (caravan.enrichment);
- **marts**: dbt's models under `models/marts`, read from dbt's manifest
  (`caravan.warehouse.manifest`).

Whatever names datasets is derived from here: the Assets that chain the DAGs
(`caravan.assets`), the transform DAG's jobs and their order, the suite that gates a
curated partition, what the warehouse loads into `landing` and which marts it publishes
to `analytics`. Adding a curated entity is its job plus one entry in `CURATED`
(docs/architecture.md walks through one).

Light to import: DAG files read it at parse time. The registry and the dbt manifest are
read only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caravan.settings import Settings
    from caravan.sources.registry import SourceSpec

ZONES = ("raw", "curated", "marts")


@dataclass(frozen=True)
class Dataset:
    """One dataset of one zone, partitioned by `ds` in the lake (raw, curated) or a table
    in the warehouse (marts)."""

    zone: str
    domain: str  # raw: the source; curated: the domain; marts: its folder in models/marts
    name: str
    producer: str  # raw: its ingest DAG; curated: its Spark job; marts: "dbt"
    key: tuple[str, ...]  # what one row is unique by
    reads: tuple[str, ...] = ()  # ids of the datasets it is made from

    @property
    def id(self) -> str:
        """`zone/domain/name`, as in the lake's paths."""
        return f"{self.zone}/{self.domain}/{self.name}"


def curated(
    job: str, domain: str, name: str, key: tuple[str, ...], reads: tuple[str, ...]
) -> Dataset:
    return Dataset("curated", domain, name, producer=job, key=key, reads=reads)


# Each Spark job's outputs, in the order the jobs are listed in the transform DAG. `reads`
# names the raw entities (raw/<source>/<entity>) and curated datasets a job reads for that
# output: a job that reads another job's curated output of the same ds runs after it.
CURATED: tuple[Dataset, ...] = (
    curated(
        "unify_ad_spend",
        "marketing",
        "ad_spend_daily",
        key=("spend_date", "platform", "campaign_id"),
        reads=(
            "raw/google_ads/campaign_performance",
            "raw/meta_ads/insights",
            "raw/fx_rates/rates",
        ),
    ),
    curated(
        "unify_ad_spend",
        "marketing",
        "campaigns",
        key=("platform", "campaign_id"),
        reads=("raw/google_ads/campaigns", "raw/meta_ads/campaigns"),
    ),
    curated(
        "curate_orders",
        "sales",
        "orders",
        key=("order_id",),
        reads=("raw/shop_db/orders", "raw/shop_db/order_items", "raw/shop_db/customers"),
    ),
    curated(
        "curate_orders",
        "sales",
        "order_items",
        key=("order_item_id",),
        reads=("raw/shop_db/order_items",),
    ),
    curated(
        "curate_orders", "sales", "products", key=("product_id",), reads=("raw/shop_db/products",)
    ),
    curated(
        "curate_orders",
        "customers",
        "customers",
        key=("customer_id",),
        reads=("raw/shop_db/customers",),
    ),
    curated(
        "sessionize_web_events",
        "web",
        "sessions",
        key=("session_id",),
        reads=("raw/web_analytics/events",),
    ),
    curated(
        "resolve_identities",
        "customers",
        "identity_map",
        key=("id_type", "id_value"),
        reads=(
            "raw/shop_db/customers",
            "raw/shop_db/orders",
            "raw/crm/contacts",
            "raw/web_analytics/events",
            "raw/sales_ops/messages",
        ),
    ),
    curated(
        "resolve_identities",
        "sales",
        "order_events",
        key=("order_id", "event_type"),
        reads=("raw/sales_ops/messages",),
    ),
    curated(
        "attribute_orders",
        "marketing",
        "order_attribution",
        key=("order_id", "attribution_model", "session_id"),
        reads=("curated/sales/orders", "curated/web/sessions", "curated/customers/identity_map"),
    ),
)


# The `enrich` DAG's outputs: labels (sentiment, topics, language) of the texts in registry
# entities' typed copies, one dataset per kind of text (caravan.enrichment.labels.KINDS).
ENRICHMENT_DOMAIN = "enrichment"
ENRICHED: tuple[Dataset, ...] = (
    Dataset(
        "curated",
        ENRICHMENT_DOMAIN,
        "review_labels",
        producer="enrich",
        key=("review_id",),
        reads=("curated/shop_db/reviews",),
    ),
    Dataset(
        "curated",
        ENRICHMENT_DOMAIN,
        "issue_labels",
        producer="enrich",
        key=("issue_number",),
        reads=("curated/issue_tracker/issues",),
    ),
)


def curated_dataset(domain: str, name: str) -> Dataset:
    """The curated dataset `domain/name`; a KeyError names it if the catalogue has none."""
    for dataset in (*CURATED, *ENRICHED):
        if (dataset.domain, dataset.name) == (domain, name):
            return dataset
    raise KeyError(f"no curated dataset {domain}/{name} in caravan.catalog.CURATED or ENRICHED")


def jobs() -> dict[str, tuple[Dataset, ...]]:
    """Each Spark job with the curated datasets it writes, in catalogue order."""
    outputs: dict[str, list[Dataset]] = {}
    for dataset in CURATED:
        outputs.setdefault(dataset.producer, []).append(dataset)
    return {job: tuple(datasets) for job, datasets in outputs.items()}


def job_upstreams(job: str) -> tuple[str, ...]:
    """The other jobs whose curated output `job` reads: it runs after them."""
    producers = {dataset.id: dataset.producer for dataset in CURATED}
    upstreams = [
        producers[read]
        for dataset in jobs()[job]
        for read in dataset.reads
        if read in producers and producers[read] != job
    ]
    return tuple(dict.fromkeys(upstreams))


def raw_sources_read() -> tuple[str, ...]:
    """The sources whose raw partitions some curated dataset reads: the transform waits
    for each to publish the run's ds."""
    sources = [
        read.split("/")[1] for dataset in CURATED for read in dataset.reads if read[:4] == "raw/"
    ]
    return tuple(dict.fromkeys(sources))


def raw_datasets(registry: dict[str, SourceSpec]) -> tuple[Dataset, ...]:
    """One raw dataset per entity of the registry (`sources.load_registry`)."""
    return tuple(
        Dataset("raw", source.name, entity.name, f"ingest_{source.name}", entity.primary_key)
        for source in registry.values()
        for entity in source.entities.values()
    )


def landed(registry: dict[str, SourceSpec]) -> tuple[Dataset, ...]:
    """The typed copies of the registry's `landing` entities (caravan.sources.landing):
    curated datasets named by source, which the warehouse loads beside the jobs' outputs.
    Raises when one would take a job's dataset's name (and its landing table)."""
    found = tuple(
        Dataset(
            "curated",
            source.name,
            entity.name,
            f"ingest_{source.name}",
            entity.primary_key,
            reads=(f"raw/{source.name}/{entity.name}",),
        )
        for source in registry.values()
        for entity in source.entities.values()
        if entity.landing
    )
    jobs_datasets = {dataset.id: dataset.producer for dataset in (*CURATED, *ENRICHED)}
    for dataset in found:
        if dataset.id in jobs_datasets:
            raise ValueError(
                f"dags/sources.yaml: {dataset.domain}/{dataset.name} declares `landing`, but"
                f" {dataset.id} is already the Spark job {jobs_datasets[dataset.id]}'s output,"
                f" loaded into landing.{dataset.domain}__{dataset.name}: rename the source"
            )
    return found


def registry(settings: Settings) -> dict[str, SourceSpec]:
    """The registry's sources that parse (a bad entry costs only its own source)."""
    from caravan.sources.registry import load_registry_lenient

    return load_registry_lenient(settings.dags_dir / "sources.yaml")[0]


def enriched(settings: Settings) -> tuple[Dataset, ...]:
    """The labels the `enrich` DAG makes here: those whose texts' typed copies the registry
    lands (a registry without reviews or issues has nothing to label)."""
    return _enriched(landed(registry(settings)))


def _enriched(typed: tuple[Dataset, ...]) -> tuple[Dataset, ...]:
    typed_ids = {dataset.id for dataset in typed}
    return tuple(dataset for dataset in ENRICHED if set(dataset.reads) <= typed_ids)


def warehouse_loads(settings: Settings) -> tuple[Dataset, ...]:
    """What the warehouse loads into `landing` for a ds: every curated dataset (the
    registry read once: DAG files call this at parse time)."""
    typed = landed(registry(settings))
    return (*CURATED, *typed, *_enriched(typed))


def marts(settings: Settings) -> tuple[Dataset, ...]:
    """dbt's marts (the models under `models/marts`), from the project's manifest."""
    from caravan.warehouse.manifest import mart_models, project_manifest

    return tuple(
        Dataset("marts", folder, name, producer="dbt", key=key, reads=reads)
        for folder, name, key, reads in mart_models(project_manifest(settings))
    )


def published_marts(settings: Settings) -> tuple[str, ...]:
    """The marts the marts gate checks and `analytics` publishes: every one dbt builds."""
    return tuple(dataset.name for dataset in marts(settings))


def datasets(settings: Settings, zones: tuple[str, ...] | None = None) -> tuple[Dataset, ...]:
    """Every dataset of every zone (or of `zones`), raw from the registry and marts from
    dbt's manifest."""
    from caravan.sources.registry import load_registry

    zones = zones or ZONES
    found: list[Dataset] = []
    if "raw" in zones:
        found += raw_datasets(load_registry(settings.dags_dir / "sources.yaml"))
    if "curated" in zones:
        found += warehouse_loads(settings)
    if "marts" in zones:
        found += marts(settings)
    return tuple(found)


def table(datasets: tuple[Dataset, ...]) -> str:
    """The datasets as a plain-text table, one per line (`caravan catalog`)."""
    rows = [("dataset", "producer", "key", "reads")] + [
        (d.id, d.producer, ", ".join(d.key) or "-", ", ".join(d.reads) or "-") for d in datasets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join([*map(str.ljust, row[:3], widths), row[3]]).rstrip() for row in rows)
