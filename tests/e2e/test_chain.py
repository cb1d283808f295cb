"""The whole chain, source to analyst, through Airflow, checked against the simulator's truth.

Works on a copy of the two-day demo's home (tests/e2e/two_day_demo.py), then compares the
published marts with figures the simulator computes from its own records
(plain Python over the generated orders and ad spend, not the pipeline's code).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from caravan.simulator.files import sales_ops_messages, web_events
from caravan.simulator.shop_db import customers_for
from caravan.simulator.text import tracker_issues
from caravan.simulator.world import (
    REVENUE_STATUSES,
    World,
    end_of_day,
    google_cpc_campaign,
    meta_campaign,
)
from caravan.sources.registry import load_registry
from tests.e2e.two_day_demo import DEMO_DAYS, DEMO_SEED

pytestmark = pytest.mark.e2e

DAYS = [date.fromisoformat(day) for day in DEMO_DAYS]
SEED = DEMO_SEED
REGISTRY = load_registry(Path(__file__).resolve().parents[2] / "dags" / "sources.yaml")
# Ad platforms re-read their lookback, so the marts also hold the days before the window.
IN_WINDOW = f"between '{DAYS[0]}' and '{DAYS[-1]}'"


def caravan(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARAVAN_HOME": str(home), "CARAVAN_SEED": str(SEED)}
    for name in [*env]:  # the simulator, not connections from the caller's environment
        if name.startswith("AIRFLOW_CONN_") or name == "AIRFLOW_HOME":
            env.pop(name)
    caravan_bin = Path(sys.executable).with_name("caravan")
    return subprocess.run(
        [str(caravan_bin), *args], env=env, capture_output=True, text=True, timeout=900
    )


def query(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def mart_totals(home: Path) -> dict:
    return {
        "orders": query(home, "select count(*), sum(net_revenue) from analytics.fct_orders"),
        "spend": query(home, "select count(*), sum(spend) from analytics.fct_ad_spend_daily"),
        "roi": query(
            home,
            "select count(*), sum(attributed_revenue), sum(spend)"
            " from analytics.mart_marketing_roi",
        ),
        "landing": query(home, "select count(*) from landing.sales__orders"),
    }


@pytest.fixture(scope="module")
def chain(two_day_demo, tmp_path_factory) -> Path:
    """The two-day demo's home, copied: some tests here run `caravan` on it."""
    home = tmp_path_factory.mktemp("chain") / "home"
    shutil.copytree(two_day_demo, home, symlinks=True)
    return home


@pytest.fixture(scope="module")
def truth():
    return World(seed=SEED).ground_truth(DAYS)


def test_demo_shows_progress_and_the_marts(chain, truth):
    out = (chain / "demo.out").read_text()
    # Every ingest DAG, the enrich DAG and the warehouse per day; the transform once, a
    # range run.
    dag_runs = (len(REGISTRY) + 2) * len(DAYS) + 1
    assert out.count(" ok ") == dag_runs  # a progress line per DAG run
    assert f"{DAYS[0]}..{DAYS[-1]}  transform" in out
    assert f"[ {dag_runs}/{dag_runs}] 2026-11-02  warehouse" in out
    assert f"{truth.orders:>6}" in out.split("Orders (analytics.fct_orders)")[1].splitlines()[2]
    assert "Where to look next" in out
    assert "Traceback" not in out


def test_the_dags_are_parsed_and_written_to_airflow_once_for_the_whole_chain(chain):
    # `dag.test()` parses the DAG folder and writes every DAG of it back to the metadata
    # DB on each call; the chain keeps its first call's (`runner.dags_synced_once`): the
    # folder was parsed twice (by the runner, then by the first call), and every DAG was
    # last written before the first DAG run ended, in one version.
    log = (chain / "logs" / "run.log").read_text()
    assert log.count("Filling up the DagBag from") == 2
    db = sqlite3.connect(f"file:{chain / 'airflow' / 'airflow.db'}?mode=ro", uri=True)
    try:
        parsed = dict(db.execute("select dag_id, last_parsed_time from dag"))
        versions = dict(db.execute("select dag_id, count(*) from dag_version group by 1"))
        (first_end,) = db.execute("select min(end_date) from dag_run").fetchone()
    finally:
        db.close()
    dag_ids = {*(f"ingest_{name}" for name in REGISTRY), "enrich", "transform", "warehouse"}
    assert set(parsed) == set(versions) == dag_ids
    assert max(parsed.values()) < first_end  # the same text format: compared as text
    assert set(versions.values()) == {1}


def test_each_task_pushes_one_xcom(chain):
    # Tasks that return a dict push it whole, not also each key (`multiple_outputs`):
    # every XCom is a return value, at most one per task instance.
    db = sqlite3.connect(f"file:{chain / 'airflow' / 'airflow.db'}?mode=ro", uri=True)
    try:
        keys = {key for (key,) in db.execute("select distinct key from xcom")}
        (most,) = db.execute(
            "select max(n) from (select count(*) as n from xcom"
            " group by dag_run_id, task_id, map_index)"
        ).fetchone()
    finally:
        db.close()
    assert keys == {"return_value"}
    assert most == 1


def test_orders_match_the_shop(chain, truth):
    ((orders, revenue_orders, net, gross, discount),) = query(
        chain,
        """
        select count(*), count(*) filter (where is_revenue),
               sum(net_revenue) filter (where is_revenue),
               sum(gross_revenue) filter (where is_revenue),
               sum(discount_amount) filter (where is_revenue)
        from analytics.fct_orders""",
    )
    assert orders == truth.orders
    assert revenue_orders == truth.revenue_orders
    assert net == truth.net_revenue
    assert gross == truth.gross_revenue
    assert discount == truth.discount_amount


def test_net_revenue_per_day(chain, truth):
    rows = query(
        chain,
        "select order_date, sum(net_revenue) from analytics.fct_orders"
        " where is_revenue group by 1 order by 1",
    )
    assert dict(rows) == {day: value for day, value in truth.net_revenue_by_day.items()}


def test_ad_spend_matches_google_ads(chain, truth):
    rows = query(
        chain,
        "select campaign_id, sum(spend), sum(impressions), sum(clicks)"
        f" from analytics.fct_ad_spend_daily where spend_date {IN_WINDOW}"
        " and platform = 'google_ads' group by 1",
    )
    assert {c: s for c, s, _, _ in rows} == truth.spend_by_campaign
    assert sum(i for _, _, i, _ in rows) == truth.impressions
    assert sum(c for _, _, _, c in rows) == truth.clicks


def test_meta_spend_is_in_the_reporting_currency_to_the_cent(chain, truth):
    """Each Meta campaign-day converted at that day's rate, rounded half up to cents."""
    rows = query(
        chain,
        "select campaign_id, sum(spend) from analytics.fct_ad_spend_daily"
        f" where spend_date {IN_WINDOW} and platform = 'meta_ads' group by 1",
    )
    assert rows
    assert dict(rows) == {c: s for c, s in truth.meta_spend_reporting_by_campaign.items() if s}


def attributed_by_campaign(home: Path, channel: str) -> dict:
    rows = query(
        home,
        f"""
        select campaign_id, sum(attributed_revenue) from analytics.mart_marketing_roi
        where attribution_model = 'last_touch' and channel = '{channel}' group by 1""",
    )
    return {campaign: revenue for campaign, revenue in rows if revenue}


def test_marketing_roi_attributes_every_order(chain, truth):
    google = {c: r for c, r in truth.attributed_revenue_by_campaign.items() if r}
    meta = {c: r for c, r in truth.meta_attributed_revenue_by_campaign.items() if r}
    assert google and meta
    assert attributed_by_campaign(chain, "google_ads") == google
    assert attributed_by_campaign(chain, "meta_ads") == meta
    assert attributed_by_campaign(chain, "direct") == {"(none)": truth.direct_revenue}
    ((total, spend, new_customers),) = query(
        chain,
        f"""
        select sum(attributed_revenue), sum(spend) filter (where report_date {IN_WINDOW}),
            sum(new_customers)
        from analytics.mart_marketing_roi where attribution_model = 'last_touch'""",
    )
    assert total == truth.net_revenue
    assert spend == truth.spend + truth.meta_spend_reporting
    assert new_customers == truth.new_customers


def test_roas_is_revenue_over_spend(chain):
    rows = query(
        chain,
        "select attributed_revenue, spend, roas from analytics.mart_marketing_roi where spend > 0",
    )
    assert rows
    for revenue, spend, roas in rows:
        assert abs(roas - (revenue / spend)) < Decimal("0.0001")


def manifests(home: Path, ds: date) -> dict[tuple[str, str], dict]:
    """Every registry entity's raw manifest for a day (None where there is none)."""
    found = {}
    for source in REGISTRY.values():
        for entity in source.entities:
            path = home / "lake" / "raw" / source.name / entity / f"ds={ds}" / "_manifest.json"
            found[(source.name, entity)] = json.loads(path.read_text()) if path.exists() else None
    return found


def test_every_entity_of_every_source_is_published_each_day_and_reconciles(chain):
    world = World(seed=SEED)
    lookback = REGISTRY["google_ads"].lookback_days
    for day in DAYS:
        published = manifests(chain, day)
        assert [key for key, manifest in published.items() if manifest is None] == []
        for key, manifest in published.items():
            assert manifest["delivered"] == manifest["rows"] + manifest["quarantined"], key
            assert manifest["ds"] == day.isoformat(), key
        # The shop as of the end of the window: an order lands on the day it last changed.
        now = end_of_day(DAYS[-1])
        changed = [
            o for d in DAYS for o in world.orders_on(d) if o.as_of(now).updated_at.date() == day
        ]
        assert published[("shop_db", "orders")]["rows"] == len(changed)
        performance = published[("google_ads", "campaign_performance")]
        assert performance["rows"] == len(world.campaigns()) * (1 + lookback)
        assert published[("web_analytics", "events")]["rows"] == len(web_events(world, day))
        messages = sum(len(m) for m in sales_ops_messages(world, day).values())
        assert published[("sales_ops", "messages")]["rows"] == messages
    assert not list((chain / "lake" / "staging").rglob("*.parquet"))


def test_every_stage_recorded_its_gates(chain):
    rows = dict(
        query(
            chain,
            "select stage, count(*) filter (where not success)"
            " from quality.validation_results group by 1",
        )
    )
    assert rows == {"raw": 0, "curated": 0, "marts": 0}


def test_caravan_quality_shows_every_stage_and_source_passing(chain):
    result = caravan(chain, "quality")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    stages = ("raw", "curated", "marts")
    latest = {(row[0], row[1], row[2]): row[3:] for row in rows if row and row[0] in stages}
    entities = {("raw", s.name, e) for s in REGISTRY.values() for e in s.entities}
    assert entities <= set(latest)
    assert {source for stage, source, _ in latest if stage == "curated"} == {
        "customers", "marketing", "sales", "web", "enrichment"
    }  # fmt: skip
    assert {entity for stage, _, entity in latest if stage == "marts"} == set(MARTS)
    # Only an entity whose registry entry makes schema drift a warning may pass with one
    # (the tracker's issues: a day without a closed issue has no `closed_at` value).
    drift_warns = {
        ("raw", s.name, name)
        for s in REGISTRY.values()
        for name, entity in s.entities.items()
        if entity.schema_drift == "warn"
    }
    for key, (ds, _checks, errors, warnings, status, _run) in latest.items():
        assert (ds, errors) == (str(DAYS[-1]), "0"), key
        assert (warnings, status) == ("0", "PASS") or key in drift_warns, key
    index = chain / "data_docs" / "index.html"
    assert f"Data Docs: {index.as_uri()}" in result.stdout
    assert "marts.marts.fct_orders" in index.read_text()  # the latest runs are listed
    pages = chain / "data_docs" / "validations" / "raw" / "google_ads" / "campaign_performance"
    assert len(list(pages.rglob("*.html"))) == len(DAYS)  # a page per gate run


def test_a_run_for_a_date_before_the_dags_start_fails_and_says_why(chain):
    before = analytics_contents(chain)
    result = caravan(chain, "run", "--start", "2012-01-31", "--dag", "ingest_fx_rates")
    assert result.returncode == 1
    assert " ok " not in result.stdout
    assert (
        "FAILED: ingest_fx_rates starts on 2026-01-01, so it has nothing to run for"
        " 1 date(s): 2012-01-31" in result.stdout
    )
    assert analytics_contents(chain) == before


def test_rerunning_a_day_changes_nothing(chain):
    """A backfill of the first day, after later days were loaded, leaves the same marts
    and the same raw data. Its transform is a one-day run after the demo's range run (one
    Spark job per output over both days): it gates every partition of the day again and
    publishes the same rows, row for row, under its own run (tests/spark_jobs/test_range.py
    checks a range against one-day runs of later days, job by job)."""
    before = mart_totals(chain)
    raw_before = manifests(chain, DAYS[0])
    curated_before = curated_state(chain)
    result = caravan(chain, "run", "--start", DAYS[0].isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    assert mart_totals(chain) == before

    def contents(published: dict) -> dict:  # the data, not the run that wrote it
        return {key: (m["rows"], [f["sha256"] for f in m["files"]]) for key, m in published.items()}

    raw_after = manifests(chain, DAYS[0])
    assert contents(raw_after) == contents(raw_before)
    assert {m["run_id"] for m in raw_after.values()}.isdisjoint(
        m["run_id"] for m in raw_before.values()
    )

    curated_after = curated_state(chain)
    assert curated_rows(curated_after) == curated_rows(curated_before)
    untouched = {key: m for key, (_, m) in curated_before.items() if key[2] != DAYS[0]}
    assert {key: m for key, (_, m) in curated_after.items() if key[2] != DAYS[0]} == untouched
    ran = {m["run_id"] for (_, _, day), (_, m) in curated_after.items() if day == DAYS[0]}
    assert len(ran) == 1 and ran.isdisjoint(m["run_id"] for _, m in curated_before.values())
    (run_id,) = ran
    gated = query(
        chain,
        "select ds::varchar, count(*), count(*) filter (where not success)"
        f" from quality.validation_results where run_id = '{run_id}' group by 1",
    )
    assert [(ds, failed) for ds, _, failed in gated] == [(str(DAYS[0]), 0)]
    assert gated[0][1] >= len(CURATED_ENTITIES)  # the day's every gate


CURATED_ENTITIES = [
    ("marketing", "ad_spend_daily"),
    ("marketing", "campaigns"),
    ("sales", "orders"),
    ("sales", "order_items"),
    ("sales", "products"),
    ("customers", "customers"),
    ("web", "sessions"),
    ("customers", "identity_map"),
    ("sales", "order_events"),
    ("marketing", "order_attribution"),
]


def curated(home: Path, domain: str, entity: str) -> str:
    """A DuckDB `read_parquet` over every published day of a curated entity, with its ds."""
    files = sorted((home / "lake" / "curated" / domain / entity).glob("ds=*/*.parquet"))
    assert files, f"no curated {domain}/{entity}"
    return f"read_parquet({[str(f) for f in files]!r}, hive_partitioning = true)"


def test_every_curated_entity_is_published_each_day_and_reconciles(chain):
    for day in DAYS:
        for domain, entity in CURATED_ENTITIES:
            path = chain / "lake" / "curated" / domain / entity / f"ds={day}" / "_manifest.json"
            manifest = json.loads(path.read_text())
            assert manifest["rows"] > 0, (domain, entity, day)
            assert manifest["delivered"] == manifest["rows"] + manifest["quarantined"]


def curated_state(home: Path) -> dict:
    """Every published curated partition of the window: its rows (sorted) and manifest."""
    state = {}
    for day in DAYS:
        for domain, entity in CURATED_ENTITIES:
            folder = home / "lake" / "curated" / domain / entity / f"ds={day}"
            manifest = json.loads((folder / "_manifest.json").read_text())
            files = [str(folder / f["path"]) for f in manifest["files"]]
            rows = query(home, f"select * from read_parquet({files!r}) order by all")
            state[(domain, entity, day)] = (rows, manifest)
    return state


def curated_rows(state: dict) -> dict:
    return {key: rows for key, (rows, _) in state.items()}


def test_attribution_weights_sum_to_one_for_every_order_and_model(chain, truth):
    rows = query(
        chain,
        f"""
        select order_id, attribution_model, sum(weight) as total
        from {curated(chain, "marketing", "order_attribution")}
        group by ds, order_id, attribution_model""",
    )
    # Every order of the window, under every model (once per partition it arrived in).
    assert len({(order_id, model) for order_id, model, _ in rows}) == truth.orders * 5
    assert {model for _, model, _ in rows} == {
        "first_touch", "last_touch", "linear", "time_decay", "position_based"
    }  # fmt: skip
    assert max(abs(total - 1) for *_, total in rows) < 1e-9


def test_last_touch_credits_the_campaign_the_order_landed_from(chain):
    """The visit that placed an order carries its landing URL's utm tags (the simulator's
    truth); it is the order's latest touchpoint, so last touch credits its campaign."""
    world = World(seed=SEED)
    expected = {}
    for order in (o for day in DAYS for o in world.orders_on(day)):
        for platform, campaign_of in (
            ("google_ads", google_cpc_campaign),
            ("meta_ads", meta_campaign),
        ):
            if campaign_of(order.landing_site):
                expected[str(order.order_id)] = (platform, campaign_of(order.landing_site))
    rows = query(
        chain,
        f"""
        select order_id, channel, campaign_id
        from {curated(chain, "marketing", "order_attribution")}
        where attribution_model = 'last_touch'
        qualify row_number() over (partition by order_id order by ds desc) = 1""",
    )
    found = {order_id: (channel, campaign) for order_id, channel, campaign in rows}
    assert expected and {o: found[o] for o in expected} == expected


def test_every_purchase_is_in_one_session_and_every_session_ends_where_it_is_published(chain):
    world = World(seed=SEED)
    sessions = curated(chain, "web", "sessions")
    (transactions,) = query(
        chain,
        f"""
        with latest as (
            select * from {sessions}
            qualify row_number() over (partition by session_id order by ds desc) = 1
        )
        select list(t order by t) from latest, unnest(transaction_ids) as u(t)""",
    )[0]
    assert transactions == sorted(str(o.order_id) for day in DAYS for o in world.orders_on(day))
    assert query(chain, f"select count(*) from {sessions} where session_end::date <> ds::date") == [
        (0,)
    ]


def test_order_events_are_the_apps_facts_once_each(chain, truth):
    """Every fact about the first day's orders (all its messages land within the window),
    once, with the amount the apps reported."""
    first_day_orders = {o.order_id for o in World(seed=SEED).orders_on(DAYS[0])}
    expected = sorted(
        (str(f.order_id), f.kind, f.amount)
        for f in truth.sales_ops_facts
        if f.order_id in first_day_orders
    )
    rows = query(
        chain,
        f"""
        select order_id, event_type, amount from {curated(chain, "sales", "order_events")}
        where order_id in ({", ".join(f"'{o}'" for o in first_day_orders)})
        order by 1, 2, 3""",
    )
    assert sorted(rows) == expected


def test_one_customer_key_per_email_and_orders_keyed_by_it(chain):
    identities = curated(chain, "customers", "identity_map")
    assert query(
        chain,
        f"select count(*) from (select email from {identities} where email is not null"
        " group by email having count(distinct customer_key) > 1)",
    ) == [(0,)]
    assert query(
        chain,
        f"""
        select count(*) from {curated(chain, "sales", "orders")} o
        where o.customer_key not in (
            select customer_key from {identities} where id_type = 'shop_customer')""",
    ) == [(0,)]


# DESIGN §3's marts, every one of which analysts find in `analytics`.
MARTS = [
    "fct_orders",
    "fct_ad_spend_daily",
    "dim_customers",
    "dim_campaigns",
    "dim_products",
    "mart_marketing_roi",
    "mart_sales_daily",
    "mart_funnel_daily",
    "mart_customer_ltv",
    "fct_reviews",
    "mart_review_sentiment_daily",
    "mart_issues_weekly",
    "mart_knowledge_chunks",
]
ATTRIBUTION_MODELS = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]


def revenue_orders(world: World) -> list:
    """The window's orders as the shop holds them at its end, cancelled and refunded left out."""
    now = end_of_day(DAYS[-1])
    orders = [o.as_of(now) for day in DAYS for o in world.orders_on(day)]
    return [o for o in orders if o.status in REVENUE_STATUSES]


def test_every_mart_is_in_analytics_with_rows(chain):
    for mart in MARTS:
        assert query(chain, f"select count(*) > 0 from analytics.{mart}") == [(True,)], mart


def test_the_reviews_reach_their_marts_each_labelled_offline(chain):
    """Every review the shop's customers wrote in the window is in `fct_reviews` with its
    rating, labelled by the offline classifier (no key here); the daily mart counts them
    by the day the simulator says each was written."""
    reviews = [review for day in DAYS for review in World(seed=SEED).reviews_on(day)]
    rows = query(
        chain, "select review_id, rating, labelled_by, is_labelled from analytics.fct_reviews"
    )
    assert sorted(row[:2] for row in rows) == sorted((str(r.review_id), r.rating) for r in reviews)
    assert {row[2:] for row in rows} == {("offline", True)}
    written = Counter(review.created_at.astimezone(UTC).date() for review in reviews)
    daily = "select review_date, sum(reviews) from analytics.mart_review_sentiment_daily group by 1"
    assert dict(query(chain, daily)) == written


def test_the_issues_reach_the_weekly_mart_and_the_knowledge_chunks(chain):
    """The tracker's issues as it held them at the window's end: each a knowledge chunk
    citing `issue #<n>`, and each counted once per label (or as `unlabelled`) in the week
    it was opened."""
    issues = tracker_issues(World(seed=SEED), DAYS)
    cited = "select ref from analytics.mart_knowledge_chunks where kind = 'issue'"
    assert sorted(ref for (ref,) in query(chain, cited)) == sorted(
        f"issue #{issue.number}" for issue in issues
    )
    opened = Counter(label for issue in issues for label in issue.labels or ["unlabelled"])
    weekly = "select label, sum(issues_opened) from analytics.mart_issues_weekly group by 1"
    assert {label: n for label, n in query(chain, weekly) if n} == opened


def test_caravan_ask_answers_from_the_marts_and_cites_the_docs_offline(chain):
    """The issue's two questions, offline: the numbers are the mart's, summed here in SQL
    over the 7 days ending on the latest day loaded, and the docs answer cites the page."""
    result = caravan(chain, "ask", "what was net revenue by channel last week under last touch?")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("[offline]") and "attributed_revenue" in out
    expected = query(
        chain,
        "select channel, sum(attributed_revenue) from analytics.mart_marketing_roi"
        " where attribution_model = 'last_touch' and report_date between"
        f" date '{DAYS[-1]}' - 6 and date '{DAYS[-1]}' group by 1",
    )
    for channel, revenue in expected:
        assert any(line.split() == [channel, str(revenue)] for line in out.splitlines()), channel

    result = caravan(chain, "ask", "how do I add a source?")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "docs/adding-a-source.md" in result.stdout.split("Sources:")[1]


def test_every_attribution_model_credits_all_the_revenue(chain, truth):
    """Under each model, the window's net revenue is credited in full, to the cent, and
    each revenue order once (its weights sum to 1), and each new customer once."""
    rows = query(
        chain,
        f"""
        select attribution_model, sum(attributed_revenue), sum(attributed_orders),
            sum(new_customers), sum(spend) filter (where report_date {IN_WINDOW})
        from analytics.mart_marketing_roi group by 1""",
    )
    assert sorted(model for model, *_ in rows) == sorted(ATTRIBUTION_MODELS)
    for model, revenue, orders, new_customers, spend in rows:
        assert revenue == truth.net_revenue, model
        # attributed_orders has 4 decimals per row: a third is 0.3333
        assert abs(orders - truth.revenue_orders) < Decimal("0.01"), model
        assert abs(new_customers - truth.new_customers) < Decimal("0.01"), model
        assert spend == truth.spend + truth.meta_spend_reporting, model


def test_sales_daily_splits_the_shop_revenue_by_category_and_region(chain, truth):
    world = World(seed=SEED)
    category = {p.product_id: p.category for p in world.products()}
    units: dict[str, int] = {}
    for order in revenue_orders(world):
        for item in order.items:
            units[category[item.product_id]] = (
                units.get(category[item.product_id], 0) + item.quantity
            )
    by_day = query(
        chain, "select order_date, sum(net_revenue) from analytics.mart_sales_daily group by 1"
    )
    assert dict(by_day) == truth.net_revenue_by_day
    by_category = query(
        chain, "select category, sum(units) from analytics.mart_sales_daily group by 1"
    )
    assert dict(by_category) == units


def test_customer_ltv_counts_the_window_customers_once(chain, truth):
    world = World(seed=SEED)
    customers = {o.customer_id for o in revenue_orders(world)}
    rows = query(chain, "select cohort_month, customers, revenue from analytics.mart_customer_ltv")
    assert rows == [(date(2026, 11, 1), len(customers), truth.net_revenue)]


def test_dimensions_hold_the_catalogue_the_campaigns_and_the_customers(chain):
    world = World(seed=SEED)
    products = query(chain, "select product_id, category from analytics.dim_products")
    assert sorted(products) == sorted((str(p.product_id), p.category) for p in world.products())
    campaigns = query(chain, "select platform, campaign_id from analytics.dim_campaigns")
    assert sorted(campaigns) == sorted(
        [("google_ads", c.campaign_id) for c in world.campaigns()]
        + [("meta_ads", c.campaign_id) for c in world.meta_campaigns()]
    )
    orders = [o for day in DAYS for o in world.orders_on(day)]
    shop_customers = customers_for(world, DAYS, orders)
    current = query(chain, "select customer_id from analytics.dim_customers where is_current")
    assert sorted(c for (c,) in current) == sorted(str(c.customer_id) for c in shop_customers)


def test_the_daily_build_leaves_the_unit_tests_to_this_one(chain, tmp_path):
    # The warehouse DAG builds every model and data test but no unit test (dbt's advice
    # for production builds); the three unit tests, worked out by hand, run here on the
    # chain's warehouse, whose tables give them their column types.
    builds = [
        line for line in (chain / "logs" / "run.log").read_text().splitlines()
        if "Finished running" in line
    ]  # fmt: skip
    assert len(builds) >= len(DAYS)  # the demo's days, and any rerun before this test
    assert all("148 data tests" in line and "unit test" not in line for line in builds)

    # In a process of its own: dbt-duckdb keeps the warehouse file open in the process
    # that ran it, and later tests open it from theirs.
    project = str(Path(__file__).resolve().parents[2] / "dbt_project")
    target = tmp_path / "target"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "test", "--select", "test_type:unit",
         "--project-dir", project, "--profiles-dir", project, "--target-path", str(target)],
        env={**os.environ, "CARAVAN_HOME": str(chain)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((target / "run_results.json").read_text())["results"]
    assert sorted((r["unique_id"].split(".")[-1], r["status"]) for r in run) == [
        ("attribution_splits_each_order_to_the_cent", "pass"),
        ("ltv_windows_count_days_from_the_first_order", "pass"),
        ("roas_cpa_and_cac_per_channel_and_campaign", "pass"),
    ]


def test_dbt_docs_describe_the_marts(chain):
    result = caravan(chain, "docs")
    assert result.returncode == 0, result.stdout + result.stderr
    page = chain / "dbt_docs" / "static_index.html"
    assert page.as_uri() in result.stdout
    html = page.read_text()
    assert "mart_customer_ltv" in html and "first-order cohort month" in html


def analytics_contents(home: Path) -> dict[str, list[tuple]]:
    return {
        mart: sorted(query(home, f"select * from analytics.{mart}"), key=repr) for mart in MARTS
    }


def test_a_failing_marts_gate_leaves_analytics_as_it_was(chain, tmp_path):
    """A session dated in the future passes dbt's tests but not the marts gate: the run
    fails, `marts` holds the bad row, and analysts still see the day before's data."""
    home = tmp_path / "home"
    shutil.copytree(chain, home, ignore=shutil.ignore_patterns("*.log"))
    before = analytics_contents(home)
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute(
        """
        insert into landing.web__sessions by name
        select * replace (
            'planted:1' as session_id,
            timestamp '2030-01-01 10:00:00' as session_start,
            timestamp '2030-01-01 10:05:00' as session_end,
            date '2030-01-01' as session_date,
            date '2026-10-15' as ds
        )
        from landing.web__sessions limit 1"""
    )
    con.close()

    result = caravan(home, "run", "--start", DAYS[-1].isoformat(), "--dag", "warehouse")

    assert result.returncode != 0
    assert "warehouse failed" in result.stdout and "(tasks: gate, publish)" in result.stdout
    log = (home / "logs" / "run.log").read_text()
    assert "marts gate marts/mart_funnel_daily ds=" in log
    assert query(
        home, "select count(*) from marts.mart_funnel_daily where session_date = '2030-01-01'"
    ) == [(1,)]
    assert analytics_contents(home) == before


def plant_raw_record(home: Path, source: str, entity: str, ds: date, change) -> dict:
    """Rewrite one record of a published raw partition (its manifest kept consistent), as an
    upstream bug would publish it; returns the record as planted."""
    partition = home / "lake" / "raw" / source / entity / f"ds={ds}"
    manifest_path = partition / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["files"][0]
    path = partition / Path(entry["path"]).name
    records = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    records[0] = change(records[0])
    data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records), mtime=0)
    path.write_bytes(data)
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_path.write_text(json.dumps(manifest))
    return records[0]


def partition_files(path: Path) -> dict[str, bytes]:
    files = sorted(found for found in path.rglob("*") if found.is_file())
    return {str(found.relative_to(path)): found.read_bytes() for found in files}


def test_a_failing_curated_gate_publishes_nothing_and_stops_the_warehouse(chain, tmp_path):
    """An order whose discount exceeds its lines (an upstream bug the raw gate cannot see:
    each field is valid alone) gives a negative net revenue, which the curated gate
    refuses: `transform` fails at the gate, the day's curated orders stay as published,
    and the warehouse does not run for that day."""
    home = tmp_path / "home"
    shutil.copytree(chain, home, ignore=shutil.ignore_patterns("*.log"))
    day = DAYS[-1]
    planted = plant_raw_record(
        home, "shop_db", "orders", day, lambda r: {**r, "discount_amount": "99999.00"}
    )
    curated_orders = home / "lake" / "curated" / "sales" / "orders" / f"ds={day}"
    before_curated = partition_files(curated_orders)
    before_warehouse = mart_totals(home)

    result = caravan(home, "run", "--start", day.isoformat(), "--dag", "transform",
                     "--dag", "warehouse")  # fmt: skip

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "transform failed" in output and "gate_curate_orders" in output
    assert " warehouse " not in output  # no progress line: the warehouse did not run
    log = (home / "logs" / "run.log").read_text()
    assert "expect_column_values_to_be_between on column net_revenue: 1 unexpected" in log
    assert f'"order_id": "{planted["order_id"]}"' in log
    assert partition_files(curated_orders) == before_curated
    assert mart_totals(home) == before_warehouse


def page_blocks(page: str, language: str) -> list[str]:
    import re

    return re.findall(rf"```{language}\n(.*?)```", page, flags=re.DOTALL)


@pytest.fixture(scope="module")
def page_run(chain, tmp_path_factory) -> dict:
    """docs/adding-a-source.md, steps 1 to 6 as the page has them, on a copy of the demo
    chain's home: its YAML entry and CSV drop, its commands in order, and the dbt files it
    shows. Returns the home and each command's output."""
    import re

    from tests.project_copy import REPO, caravan_environ, copy_project

    text = (REPO / "docs" / "adding-a-source.md").read_text()
    page = text[text.index("## Worked example") : text.index("## Types and formats")]
    root = tmp_path_factory.mktemp("adding_a_source")
    home, project, landing = root / "home", root / "project", root / "landing"
    shutil.copytree(chain, home, ignore=shutil.ignore_patterns("*.log"))
    copy_project(project, page_blocks(page, "yaml")[0])
    landing.mkdir()
    (landing / "conversions_2026-11-01.csv").write_text(page_blocks(page, "csv")[0])
    # The dbt files the page shows with their path on the first line.
    for block in page_blocks(page, "sql") + page_blocks(page, "yaml"):
        named = re.match(r"(?:--|#) (dbt_project/\S+)\n", block)
        if named:
            (project / named[1]).parent.mkdir(parents=True, exist_ok=True)
            (project / named[1]).write_text(block)
    commands = [
        line.split()[1:]  # `.venv/bin/caravan` is the venv's console script
        for block in page_blocks(page, "bash")
        for line in block.splitlines()
        if line.startswith(".venv/bin/caravan ")
    ]
    assert [c[0] for c in commands] == ["run", "dbt-source", "run", "sql"]
    env = caravan_environ(home, project, {"affiliate_network_default": landing})
    env["CARAVAN_SEED"] = str(SEED)
    caravan_bin = Path(sys.executable).with_name("caravan")
    outputs = []
    for args in commands:
        if args[0] == "sql":  # the page quotes the query for a shell
            args = ["sql", " ".join(args[1:]).strip('"')]
        result = subprocess.run(
            [str(caravan_bin), *args], env=env, capture_output=True, text=True, timeout=900
        )
        log = home / "logs" / "run.log"
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}" + (
            log.read_text()[-10000:] if log.exists() else ""
        )
        outputs.append(result.stdout)
    return {"page": page, "home": home, "outputs": outputs}


def test_the_adding_a_source_page_runs_as_written(page_run, chain):
    """The page's commands give the query output it shows (worked out by hand there:
    P-03's 12.00 + 7.80, P-17's one good row)."""
    import re

    page, home, outputs = page_run["page"], page_run["home"], page_run["outputs"]
    assert "ingest_affiliate_network ok" in " ".join(outputs[0].split())
    assert (
        "wrote dbt_project/models/staging/affiliate_network/stg_affiliate_network__conversions.sql"
        in outputs[1]
    )
    [shown] = re.findall(r"```\n(  conversion_date .*?)```", page, flags=re.DOTALL)
    assert outputs[3] == shown
    assert query(
        home,
        "select data_type from information_schema.columns where table_schema = 'landing'"
        " and table_name = 'affiliate_network__conversions' and column_name in"
        " ('commission', 'converted_at') order by column_name",
    ) == [("DECIMAL(12,2)",), ("TIMESTAMP WITH TIME ZONE",)]
    # The chain's own marts are published beside the new one, their rows unchanged.
    assert mart_totals(home) == mart_totals(chain)


def read_partition(folder: Path) -> tuple[dict, list]:
    manifest = json.loads((folder / "_manifest.json").read_text())
    records = [
        json.loads(line)
        for entry in manifest["files"]
        for line in gzip.decompress((folder / entry["path"]).read_bytes()).splitlines()
    ]
    return manifest, records


def test_the_pages_three_good_rows_are_published_as_it_says(page_run):
    lake = page_run["home"] / "lake"
    manifest, records = read_partition(lake / "raw/affiliate_network/conversions/ds=2026-11-01")
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (5, 3, 2)
    assert [r["conversion_id"] for r in records] == ["AFF-1001", "AFF-1002", "AFF-1005"]
    assert records[1] == {  # as delivered
        "conversion_id": "AFF-1002",
        "partner_id": "P-03",
        "order_id": "2026110100007",
        "commission": "12.00",
        "currency": "USD",
        "converted_at": "2026-11-01 09:42:13",
    }
    # What each field was declared, and how it came.
    assert manifest["schema"]["commission"] == "decimal(12,2) as string"
    assert manifest["schema"]["converted_at"] == "timestamp (%Y-%m-%d %H:%M:%S) as string"
    assert manifest["schema"]["partner_id"] == "string"


def test_the_pages_typed_copy_holds_the_declared_types(page_run):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = page_run["home"] / "lake/curated/affiliate_network/conversions/ds=2026-11-01"
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert (manifest["rows"], manifest["producer"]) == (3, "caravan.landing")
    table = pq.read_table(folder / "part-00000.parquet")
    assert table.schema.field("commission").type == pa.decimal128(12, 2)
    assert table.schema.field("converted_at").type == pa.timestamp("us", tz="UTC")
    assert [str(v) for v in table.column("commission").to_pylist()] == ["4.25", "12.00", "7.80"]
    assert table.column("converted_at")[1].as_py().isoformat() == "2026-11-01T09:42:13+00:00"


def test_the_pages_two_bad_rows_are_in_quarantine_with_the_reasons_it_shows(page_run):
    lake = page_run["home"] / "lake"
    _, rejected = read_partition(lake / "quarantine/affiliate_network/conversions/ds=2026-11-01")
    found = [(r["reason"], r["origin"]) for r in rejected]
    assert found == [
        (
            "field 'commission' is 'not-a-number', not a decimal(12,2)",
            "conversions_2026-11-01.csv line 4",
        ),
        ("row has 5 cells, the header has 6", "conversions_2026-11-01.csv line 5"),
    ]
    assert rejected[1]["record"] == ["AFF-1004", "P-21", "2026110100019", "3.10", "USD"]
    for reason, origin in found:
        assert reason in page_run["page"] and origin in page_run["page"]
