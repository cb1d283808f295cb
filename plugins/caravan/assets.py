"""Asset constants: the published data that chains Caravan's DAGs.

Producers name these in `outlets=` and attach the partition (`ds`) to each
event; consumers schedule on them with a partitioned timetable, so each
downstream run processes exactly the `ds` its upstreams published.
"""

from airflow.sdk import Asset


def _asset(zone: str, name: str) -> Asset:
    return Asset(name=f"caravan.{zone}.{name}", uri=f"x-caravan://lake/{zone}/{name}", group=zone)


def raw_asset(source: str) -> Asset:
    """A source's published raw partitions (any source of the registry)."""
    return _asset("raw", source)


# The sources the transform DAG reads.
RAW = {source: raw_asset(source) for source in ("google_ads", "meta_ads", "fx_rates", "shop_db")}
CURATED = {
    job: _asset("curated", output)
    for job, output in (
        ("unify_ad_spend", "marketing/ad_spend_daily"),
        ("curate_orders", "sales/orders"),
    )
}
ANALYTICS = Asset(
    name="caravan.warehouse.analytics", uri="x-caravan://warehouse/analytics", group="warehouse"
)
