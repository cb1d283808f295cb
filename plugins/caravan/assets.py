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


# The sources the transform DAG reads: all of them.
RAW = {
    source: raw_asset(source)
    for source in (
        "google_ads",
        "meta_ads",
        "fx_rates",
        "shop_db",
        "web_analytics",
        "crm",
        "sales_ops",
    )
}

# Spark job (module in spark_jobs/) → the curated entities (domain, entity) it writes.
TRANSFORM_JOBS: dict[str, tuple[tuple[str, str], ...]] = {
    "unify_ad_spend": (("marketing", "ad_spend_daily"), ("marketing", "campaigns")),
    "curate_orders": (
        ("sales", "orders"),
        ("sales", "order_items"),
        ("sales", "products"),
        ("customers", "customers"),
    ),
    "sessionize_web_events": (("web", "sessions"),),
    "resolve_identities": (("customers", "identity_map"), ("sales", "order_events")),
    "attribute_orders": (("marketing", "order_attribution"),),
}
# Jobs that read other jobs' published output of the same ds run after them.
TRANSFORM_UPSTREAMS = {
    "attribute_orders": ("curate_orders", "sessionize_web_events", "resolve_identities"),
}
CURATED = {
    output: _asset("curated", "/".join(output))
    for outputs in TRANSFORM_JOBS.values()
    for output in outputs
}
ANALYTICS = Asset(
    name="caravan.warehouse.analytics", uri="x-caravan://warehouse/analytics", group="warehouse"
)
