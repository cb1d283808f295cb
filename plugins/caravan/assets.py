"""Asset constants: the published data that chains Caravan's DAGs, from the catalogue.

Producers name these in `outlets=` and attach the partition (`ds`) to each
event; consumers schedule on them with a partitioned timetable, so each
downstream run processes exactly the `ds` its upstreams published.
"""

from airflow.sdk import Asset

from caravan import catalog


def _asset(zone: str, name: str) -> Asset:
    return Asset(name=f"caravan.{zone}.{name}", uri=f"x-caravan://lake/{zone}/{name}", group=zone)


def raw_asset(source: str) -> Asset:
    """A source's published raw partitions (any source of the registry)."""
    return _asset("raw", source)


# The sources the transform DAG reads (catalog.CURATED's raw reads).
RAW = {source: raw_asset(source) for source in catalog.raw_sources_read()}
# Spark job (module in spark_jobs/) → the curated entities (domain, entity) it writes.
TRANSFORM_JOBS: dict[str, tuple[tuple[str, str], ...]] = {
    job: tuple((dataset.domain, dataset.name) for dataset in outputs)
    for job, outputs in catalog.jobs().items()
}
# Jobs that read other jobs' published output of the same ds run after them.
TRANSFORM_UPSTREAMS = {job: catalog.job_upstreams(job) for job in TRANSFORM_JOBS}


def curated_asset(domain: str, name: str) -> Asset:
    """A curated dataset's published partitions (a job's output, or a source's typed copy)."""
    return _asset("curated", f"{domain}/{name}")


CURATED = {
    (dataset.domain, dataset.name): curated_asset(dataset.domain, dataset.name)
    for dataset in catalog.CURATED
}
ANALYTICS = Asset(
    name="caravan.warehouse.analytics", uri="x-caravan://warehouse/analytics", group="warehouse"
)
