"""The catalogue: every dataset of every zone, checked against what makes it (the
registry, the Spark jobs' code, dbt's project) rather than against itself."""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from caravan import catalog
from caravan.settings import get_settings
from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark_jobs"


def staged_outputs(job: str) -> set[tuple[str, str]]:
    """The (domain, entity) a job's code stages into `curated`, read from its source:
    `stage_days(…, "curated", *NAME, …)` with NAME a module constant."""
    text = (SPARK_JOBS / f"{job}.py").read_text()
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(text).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Tuple)
    }
    names = set(re.findall(r'"curated", \*([A-Z_]+)', text))
    for output_map in re.findall(r"outputs = \{(.*?)\}", text, flags=re.DOTALL):
        names |= set(re.findall(r"([A-Z_]+): transform_", output_map))  # curate_orders
    return {constants[name] for name in names}


def test_each_jobs_catalogue_outputs_are_what_its_code_stages():
    for job, outputs in catalog.jobs().items():
        assert {(d.domain, d.name) for d in outputs} == staged_outputs(job), job


def test_every_read_is_a_dataset_the_registry_or_the_catalogue_has():
    registry = load_registry(REPO / "dags" / "sources.yaml")
    known = {d.id for d in catalog.raw_datasets(registry)} | {d.id for d in catalog.CURATED}
    for dataset in catalog.CURATED:
        assert dataset.reads and set(dataset.reads) <= known, dataset.id


def test_raw_datasets_are_the_registrys_entities_with_their_keys():
    registry = load_registry(REPO / "dags" / "sources.yaml")
    raw = {d.id: d for d in catalog.raw_datasets(registry)}
    assert len(raw) == sum(len(source.entities) for source in registry.values())
    ad_groups = raw["raw/google_ads/ad_groups"]
    assert (ad_groups.producer, ad_groups.key) == ("ingest_google_ads", ("adGroup.id",))
    performance = raw["raw/google_ads/campaign_performance"]
    assert performance.key == ("campaign.id", "segments.date")


def test_jobs_run_after_the_jobs_whose_output_they_read():
    assert catalog.job_upstreams("attribute_orders") == (
        "curate_orders",
        "sessionize_web_events",
        "resolve_identities",
    )
    for job in ("unify_ad_spend", "curate_orders", "sessionize_web_events", "resolve_identities"):
        assert catalog.job_upstreams(job) == ()


def test_the_transform_waits_for_every_source_a_job_reads():
    assert set(catalog.raw_sources_read()) == {
        "google_ads",
        "meta_ads",
        "fx_rates",
        "shop_db",
        "web_analytics",
        "crm",
        "sales_ops",
    }


# The marts and their keys, read by hand from dbt_project/models/marts/*/_*__models.yml:
# a unique + not_null column, else the model's caravan_unique_combination test.
MART_KEYS = {
    "dim_campaigns": ("campaign_id",),
    "dim_customers": ("customer_version_key",),
    "dim_products": ("product_id",),
    "fct_ad_spend_daily": ("spend_date", "platform", "campaign_id"),
    "fct_orders": ("order_id",),
    "fct_reviews": ("review_id",),
    "mart_customer_ltv": ("cohort_month",),
    "mart_funnel_daily": ("session_date", "channel"),
    "mart_issues_weekly": ("week_start", "label"),
    "mart_knowledge_chunks": ("chunk_id",),
    "mart_marketing_roi": ("report_date", "channel", "campaign_id", "attribution_model"),
    "mart_review_sentiment_daily": ("review_date", "product_id"),
    "mart_sales_daily": ("order_date", "category", "region"),
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> Path:
    """A copy of the project (dbt's and the registry) with a CARAVAN_HOME of its own, and
    the manifest the catalogue parsed there, once for the module."""
    root = tmp_path_factory.mktemp("parsed")
    shutil.copytree(REPO / "dbt_project", root / "dbt_project", ignore=_generated)
    shutil.copytree(REPO / "dags", root / "dags")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARAVAN_PROJECT_DIR", str(root))
        patch.setenv("CARAVAN_HOME", str(root / "home"))
        catalog.marts(get_settings())
    return root


@pytest.fixture
def project(parsed, tmp_path, monkeypatch) -> Path:
    """The parsed copy, copied again for one test (times kept: its manifest is still newer
    than every file of the project)."""
    root = tmp_path / "project"
    shutil.copytree(parsed, root)
    monkeypatch.setenv("CARAVAN_PROJECT_DIR", str(root))
    monkeypatch.setenv("CARAVAN_HOME", str(root / "home"))
    return root / "dbt_project"


def _generated(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("target", "logs", "dbt_packages")]


def test_the_marts_are_dbts_models_under_marts_with_their_keys(project):
    marts = {d.name: d for d in catalog.marts(get_settings())}
    assert {name: d.key for name, d in marts.items()} == MART_KEYS
    assert catalog.published_marts(get_settings()) == tuple(sorted(MART_KEYS))
    # Lineage down to the landing tables: fct_orders selects stg_sales__orders, a view over
    # landing.sales__orders; mart_sales_daily sums int_order_items_revenued, which joins
    # fct_orders, order items and products.
    assert marts["fct_orders"].reads == ("curated/sales/orders",)
    assert marts["mart_sales_daily"].reads == (
        "curated/sales/order_items",
        "curated/sales/orders",
        "curated/sales/products",
    )


def test_a_new_mart_is_in_the_catalogue_once_its_model_is_written(project):
    settings = get_settings()
    saved = settings.home / "dbt" / "manifest.json"
    parsed_at = saved.stat().st_mtime_ns
    assert catalog.published_marts(settings) == tuple(sorted(MART_KEYS))
    assert saved.stat().st_mtime_ns == parsed_at  # nothing changed: not parsed again

    model = project / "models" / "marts" / "sales" / "mart_new.sql"
    model.write_text("select 1 as one\n")
    later = time.time() + 5  # newer than the saved manifest on any clock resolution
    os.utime(model, (later, later))
    assert "mart_new" in catalog.published_marts(settings)
    assert {d.id for d in catalog.datasets(settings)} >= {
        "marts/sales/mart_new",
        "curated/sales/orders",
        "raw/shop_db/orders",
    }


def test_caravan_catalog_lists_a_zones_datasets(capsys):
    from caravan.cli import main

    assert main(["catalog", "--zone", "curated"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["dataset", "producer", "key", "reads"]
    # The header, the Spark jobs' ten curated datasets, then the registry's landed ones
    # (dags/sources.yaml: shop_db.reviews, issue_tracker's issues and comments, docs'
    # chunks) and whatever other producers add after them.
    named = [line.split(maxsplit=2)[:2] for line in lines[1:]]
    assert len(named) >= 10 + 4
    assert named[9] == ["curated/marketing/order_attribution", "attribute_orders"]
    assert named[10:14] == [
        ["curated/shop_db/reviews", "ingest_shop_db"],
        ["curated/issue_tracker/issues", "ingest_issue_tracker"],
        ["curated/issue_tracker/comments", "ingest_issue_tracker"],
        ["curated/docs/chunks", "ingest_docs"],
    ]
    assert lines[10].endswith(
        "order_id, attribution_model, session_id  "
        "curated/sales/orders, curated/web/sessions, curated/customers/identity_map"
    )


def test_dbt_reports_the_attribution_models_the_job_writes():
    """contracts.ATTRIBUTION_MODELS (what attribute_orders writes) and dbt's
    `attribution_models` var (what mart_marketing_roi reports) are one list in two
    languages: dbt cannot import Python, so this keeps them equal."""
    import yaml

    from caravan.contracts import ATTRIBUTION_MODELS

    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())
    assert project["vars"]["attribution_models"] == list(ATTRIBUTION_MODELS)


LANDED_ENTRY = """
partner:
  kind: file_drop
  conn_id: partner_default
  entities:
    refunds:
      files: refunds_${ds}.csv
      primary_key: refund_id
      landing: true
    notes:
      files: notes_${ds}.csv
      primary_key: note_id
"""


def test_a_landing_entity_is_a_curated_dataset_the_warehouse_loads(tmp_path):
    (tmp_path / "sources.yaml").write_text(LANDED_ENTRY)
    [refunds] = catalog.landed(load_registry(tmp_path / "sources.yaml"))
    assert (refunds.id, refunds.producer, refunds.key, refunds.reads) == (
        "curated/partner/refunds",
        "ingest_partner",
        ("refund_id",),
        ("raw/partner/refunds",),
    )
    # The repository's registry lands its text sources: the warehouse loads them after
    # the jobs' outputs.
    loads = catalog.warehouse_loads(get_settings())
    assert loads[: len(catalog.CURATED)] == catalog.CURATED
    assert [d.id for d in loads if d.producer.startswith("ingest_")] == [
        "curated/shop_db/reviews",
        "curated/issue_tracker/issues",
        "curated/issue_tracker/comments",
        "curated/docs/chunks",
    ]


def test_a_landing_entity_may_not_take_a_jobs_dataset_and_its_table(tmp_path):
    (tmp_path / "sources.yaml").write_text(LANDED_ENTRY.replace("partner", "sales").replace(
        "refunds", "orders"))  # fmt: skip
    with pytest.raises(ValueError, match="curated/sales/orders is already the Spark job"):
        catalog.landed(load_registry(tmp_path / "sources.yaml"))
