"""Range runs: every job stages many days in one Spark job exactly as its one-day runs do.

Each job's `run_range(spark, lake, dates)` against its `run(spark, lake, ds)` for each day
in turn, on the same published partitions, compared row for row and on the Parquet schema;
and, worked out by hand, what a range has to get right about history: the day before the
range, a session crossing midnight, a message repeated the next day, an identity map that
holds only what changed, a visitor linked only on a later day, a day with nothing in it.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from caravan.lake import Lake, Partition, date_range
from spark_jobs import (
    attribute_orders,
    curate_orders,
    resolve_identities,
    sessionize_web_events,
    unify_ad_spend,
)
from spark_jobs.common.io import HistoryGap, check_dates
from tests.spark_jobs.test_spark_connect import simulated_raw_lake

REPO = Path(__file__).resolve().parents[2]
JOBS = {
    module.__name__.rsplit(".", 1)[1]: module
    for module in (
        unify_ad_spend,
        curate_orders,
        sessionize_web_events,
        resolve_identities,
        attribute_orders,
    )
}
D0, D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"
SITE = "https://shop.example.com"
GOOGLE = f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=21"


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1_000_000)


# -- the lake ----------------------------------------------------------------------------


def publish_raw(lake: Lake, source: str, entity: str, ds: str, records: list[dict]) -> None:
    """A raw partition as ingestion publishes it: gzip JSON lines and a manifest."""
    partition = Partition("raw", source, entity, ds)
    path, rows = lake.write_jsonl_gz(lake.staging_path(partition), "part-00000.jsonl.gz", records)
    lake.publish(
        partition,
        [(path, rows)],
        run_id="test",
        delivered=rows,
        quarantined=0,
        schema={},
        producer="test",
    )


def publish_staged(lake: Lake, partition: Partition) -> None:
    """What a job staged, published as the transform DAG's publish step does (no gate)."""
    files = sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet"))
    assert files, f"nothing staged for {partition}"
    staged = [(f, pq.ParquetFile(f).metadata.num_rows) for f in files]
    lake.publish(
        partition,
        staged,
        run_id="test",
        delivered=sum(n for _, n in staged),
        quarantined=0,
        schema={},
        producer="test",
    )


def staged(lake: Lake, partition: Partition) -> tuple[list, list[tuple]] | None:
    """A staged partition's Parquet schema (name, type, nullable) and rows, sorted; None
    when nothing is staged."""
    files = sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet"))
    if not files:
        return None
    schema = [(f.name, str(f.type), f.nullable) for f in pq.read_schema(files[0])]
    rows = duckdb.sql(
        f"select * from read_parquet({files!r}, hive_partitioning = false) order by all"
    ).fetchall()
    return schema, rows


def outputs(job, days: list[str]) -> list[Partition]:
    """A job's staged partitions of `days`, curated and quarantine."""
    from caravan.assets import TRANSFORM_JOBS

    found = [Partition("curated", *o, ds) for ds in days for o in TRANSFORM_JOBS[job]]
    if job == "unify_ad_spend":
        found += [Partition("quarantine", "marketing", "ad_spend_daily", ds) for ds in days]
    return found


def one_by_one_and_in_range(spark, lake: Lake, job: str, days: list[str], **kwargs) -> dict:
    """Each day's `run`, then one `run_range` of all the days; the staged partitions of both
    (nothing is published in between). Asserts they are equal; returns the range's."""
    module = JOBS[job]
    by_day = {}
    for ds in days:
        module.run(spark, lake, ds, **kwargs)
        by_day.update({p: staged(lake, p) for p in outputs(job, [ds])})
    module.run_range(spark, lake, days, **kwargs)
    in_range = {p: staged(lake, p) for p in outputs(job, days)}
    assert in_range == by_day
    return in_range


def rows_of(found: dict, zone: str, domain: str, entity: str, ds: str) -> list[tuple]:
    schema, rows = found[Partition(zone, domain, entity, ds)]
    names = [name for name, _, _ in schema]
    return [dict(zip(names, row, strict=True)) for row in rows]


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


# -- every job on a simulated company ----------------------------------------------------


def test_every_job_stages_a_range_as_its_days_one_by_one(spark, tmp_path):
    """Three simulated days. Day by day: every job in the DAG's order, each publishing before
    the next (attribution reads the others). In range: from a copy of the lake as the
    first day left it, each job over the other two at once, published before the next
    job's range. Every partition of those two days is the same in both lakes."""
    from caravan.assets import TRANSFORM_JOBS

    days = [D0, D1, D2]
    by_day = simulated_raw_lake(tmp_path / "by_day", [date.fromisoformat(d) for d in days])

    def publish_job(lake: Lake, job: str, dates: list[str]) -> None:
        for partition in outputs(job, dates):
            if partition.zone == "curated" or staged(lake, partition) is not None:
                publish_staged(lake, partition)

    for ds in days:
        for job in TRANSFORM_JOBS:
            JOBS[job].run(spark, by_day, ds)
            publish_job(by_day, job, [ds])
        if ds == D0:
            shutil.copytree(tmp_path / "by_day" / "lake", tmp_path / "in_range")
    in_range = Lake(f"file://{tmp_path / 'in_range'}")
    for job in TRANSFORM_JOBS:
        staged_partitions = JOBS[job].run_range(spark, in_range, days[1:])
        assert staged_partitions == [p for p in outputs(job, days[1:]) if p.zone == "curated"]
        publish_job(in_range, job, days[1:])

    for job in TRANSFORM_JOBS:
        for partition in outputs(job, days[1:]):
            files = {
                name: sorted(lake.fs.glob(f"{lake.path(partition)}/*.parquet"))
                for name, lake in (("by_day", by_day), ("in_range", in_range))
            }
            assert bool(files["by_day"]) == bool(files["in_range"]), partition
            if not files["by_day"]:
                continue
            found = {
                name: (
                    [(f.name, str(f.type), f.nullable) for f in pq.read_schema(paths[0])],
                    duckdb.sql(f"select * from read_parquet({paths!r}) order by all").fetchall(),
                )
                for name, paths in files.items()
            }
            assert found["in_range"] == found["by_day"], partition
            if partition.zone == "curated":
                assert found["by_day"][1], f"{partition}: no rows to compare"


# -- by hand -------------------------------------------------------------------------------


def event(at: str, name: str, visitor: str, url: str = f"{SITE}/", user_id=None, tx=None):
    return {
        "event_timestamp": micros(at),
        "event_name": name,
        "user_pseudo_id": visitor,
        "user_id": user_id,
        "event_params": [{"key": "page_location", "value": {"string_value": url}}],
        "device": {"category": "mobile"},
        "ecommerce": {"transaction_id": tx},
    }


def test_sessions_crossing_midnight_into_and_inside_a_range(spark, lake):
    publish_raw(lake, "web_analytics", "events", D0, [
        event(f"{D0} 23:50:00", "page_view", "v1", url=GOOGLE),
    ])  # fmt: skip
    publish_raw(lake, "web_analytics", "events", D1, [
        event(f"{D1} 00:10:00", "purchase", "v1", tx="7"),
        event(f"{D1} 10:00:00", "page_view", "v2"),
        event(f"{D1} 23:55:00", "page_view", "v2"),
    ])  # fmt: skip
    publish_raw(lake, "web_analytics", "events", D2, [event(f"{D2} 00:05:00", "view_item", "v2")])
    found = one_by_one_and_in_range(spark, lake, "sessionize_web_events", [D1, D2])

    def sessions(ds):
        return {
            s["session_id"]: (str(s["session_start"]), s["events"], s["events_on_ds"], s["channel"])
            for s in rows_of(found, "curated", "web", "sessions", ds)
        }

    v1 = f"v1:{micros(f'{D0} 23:50:00')}"  # from the day before the range
    v2_night = f"v2:{micros(f'{D1} 23:55:00')}"
    assert sessions(D1) == {
        v1: (f"{D0} 23:50:00", 2, 1, "google_ads"),
        f"v2:{micros(f'{D1} 10:00:00')}": (f"{D1} 10:00:00", 1, 1, "direct"),
        v2_night: (f"{D1} 23:55:00", 1, 1, "direct"),
    }
    # The range's second day reads the first's events: the night's session goes on.
    assert sessions(D2) == {v2_night: (f"{D1} 23:55:00", 2, 1, "direct")}


def customer(customer_id: int, email: str) -> dict:
    return {"customer_id": customer_id, "email": email, "region": "EU"}


def message(message_id: str, kind: str, order_id: int, sent_at: str, **payload) -> dict:
    return {
        "message_id": message_id, "app": "sales", "type": kind, "occurred_at": sent_at,
        "sent_at": sent_at, "payload": {"order_id": order_id, "currency": "USD", **payload},
    }  # fmt: skip


def test_the_identity_map_holds_what_changed_each_day(spark, lake):
    """D0 is the first published day: all its customers. Then only a new customer (D1)
    and a changed email (D2); a customer of the day's order_placed messages always."""
    snapshots = {
        D0: [customer(1, "ann@example.com")],
        D1: [customer(1, "ann@example.com"), customer(2, "bob@example.com")],
        D2: [customer(1, " Ann.New@Example.com"), customer(2, "bob@example.com")],
    }
    placed = message("m1", "order_placed", 100, f"{D1}T09:00:00Z", customer_id=2,
                     email="bob@example.com", amount="20.00")  # fmt: skip
    late_copy = {**placed, "sent_at": f"{D2}T01:00:00Z"}
    shipped = message("m2", "order_shipped", 100, f"{D2}T08:00:00Z")
    for ds, records in {
        ("shop_db", "customers"): snapshots,
        ("shop_db", "orders"): {D0: [], D1: [{"order_id": 100, "customer_id": 2}], D2: []},
        ("crm", "contacts"): {
            D0: [],
            D1: [{"id": "c1", "properties": {"email": "ANN@example.com"}}],
            D2: [],
        },  # fmt: skip
        ("web_analytics", "events"): {
            D0: [],
            D1: [event(f"{D1} 09:00:00", "page_view", "v1", user_id="1")],
            D2: [event(f"{D2} 09:00:00", "purchase", "v2", tx="100")],
        },
        ("sales_ops", "messages"): {D0: [], D1: [placed], D2: [late_copy, shipped]},
    }.items():
        for day, day_records in records.items():
            publish_raw(lake, *ds, day, day_records)
    found = one_by_one_and_in_range(spark, lake, "resolve_identities", [D0, D1, D2])

    def identities(ds):
        return {
            (r["id_type"], r["id_value"]): (r["customer_key"], r["linked_via"])
            for r in rows_of(found, "curated", "customers", "identity_map", ds)
        }

    ann, bob, new_ann = key("ann@example.com"), key("bob@example.com"), key("ann.new@example.com")
    assert identities(D0) == {("shop_customer", "1"): (ann, "email")}
    assert identities(D1) == {
        ("shop_customer", "2"): (bob, "email"),  # new; customer 1 is unchanged
        ("crm_contact", "c1"): (ann, "email"),
        ("web_visitor", "v1"): (ann, "user_id"),  # keyed by the whole snapshot
    }
    assert identities(D2) == {
        ("shop_customer", "1"): (new_ann, "email"),  # a new email
        ("shop_customer", "2"): (bob, "email"),  # unchanged, but in the day's order_placed
        ("web_visitor", "v2"): (bob, "transaction_id"),  # the order of the message
    }
    facts = {
        ds: [(r["order_id"], r["event_type"], r["messages"]) for r in
             rows_of(found, "curated", "sales", "order_events", ds)]
        for ds in (D0, D1, D2)
    }  # fmt: skip
    # The late copy of D1's order_placed is not a new fact on D2.
    assert facts == {D0: [], D1: [("100", "order_placed", 1)], D2: [("100", "order_shipped", 1)]}


def test_a_range_reads_the_day_before_it_and_fails_on_a_hole(spark, lake):
    """A range starting after history began reads its first day's previous snapshot; a
    day missing before it fails naming it."""
    for ds, snapshot in {
        D0: [customer(1, "ann@example.com")],
        D2: [customer(1, "ann@example.com")],
        D3: [customer(1, "ann@example.com"), customer(2, "bob@example.com")],
    }.items():
        publish_raw(lake, "shop_db", "customers", ds, snapshot)
        for source, entity in [("shop_db", "orders"), ("crm", "contacts"),
                               ("web_analytics", "events"), ("sales_ops", "messages")]:  # fmt: skip
            publish_raw(lake, source, entity, ds, [])
    with pytest.raises(HistoryGap, match=f"{D1} is not published"):
        resolve_identities.run_range(spark, lake, [D2, D3])
    publish_raw(lake, "shop_db", "customers", D1, [customer(1, "ann@example.com")])
    for source, entity in [("shop_db", "orders"), ("crm", "contacts"),
                           ("web_analytics", "events"), ("sales_ops", "messages")]:  # fmt: skip
        publish_raw(lake, source, entity, D1, [])
    found = one_by_one_and_in_range(spark, lake, "resolve_identities", [D2, D3])
    ids = {
        ds: [r["id_value"] for r in rows_of(found, "curated", "customers", "identity_map", ds)]
        for ds in (D2, D3)
    }
    assert ids == {D2: [], D3: ["2"]}  # D2 found customer 1 unchanged since D1


def test_a_day_with_nothing_to_stage_still_gets_its_partition(spark, lake):
    """An empty day in a range is an empty file with the schema, as its own run writes it."""
    publish_raw(lake, "web_analytics", "events", D1, [event(f"{D1} 12:00:00", "page_view", "v1")])
    publish_raw(lake, "web_analytics", "events", D2, [])
    found = one_by_one_and_in_range(spark, lake, "sessionize_web_events", [D1, D2])
    schema, rows = found[Partition("curated", "web", "sessions", D2)]
    assert rows == [] and [name for name, _, _ in schema][:2] == ["session_id", "user_pseudo_id"]
    assert len(found[Partition("curated", "web", "sessions", D1)][1]) == 1


def performance(campaign: str, day: str, micros_cost: str) -> dict:
    return {
        "campaign": {"resourceName": f"customers/1/campaigns/{campaign}", "id": campaign,
                     "name": f"C{campaign}"},
        "metrics": {"costMicros": micros_cost, "impressions": "10", "clicks": "1",
                    "conversions": 0.0},
        "segments": {"date": day},
    }  # fmt: skip


def insight(currency: str, spend: str, day: str) -> dict:
    return {
        "account_id": "9", "account_currency": currency, "campaign_id": "31",
        "campaign_name": "M31", "spend": spend, "impressions": "5", "clicks": "1",
        "actions": [], "date_start": day,
    }  # fmt: skip


def test_spend_and_its_quarantine_are_staged_for_the_day_they_belong_to(spark, lake):
    """The rates partition of a day converts that day's spend only: D2's insight in GBP has
    no rate in D2's partition (D1's has one) and goes to D2's quarantine alone."""
    rate = {"date": D1, "currency": "GBP", "quote_currency": "USD", "rate": "1.250000"}
    raw = {
        ("google_ads", "campaign_performance"): {
            D1: [performance("11", D1, "1500000")],
            D2: [performance("11", D1, "1600000"), performance("11", D2, "2000000")],
        },
        ("meta_ads", "insights"): {
            D1: [insight("GBP", "10.01", D1)],
            D2: [insight("GBP", "4.00", D2)],
        },  # fmt: skip
        ("fx_rates", "rates"): {D1: [rate], D2: [rate]},
        ("google_ads", "campaigns"): {D1: [], D2: []},
        ("meta_ads", "campaigns"): {D1: [], D2: []},
    }
    for (source, entity), by_day in raw.items():
        for ds, records in by_day.items():
            publish_raw(lake, source, entity, ds, records)
    found = one_by_one_and_in_range(spark, lake, "unify_ad_spend", [D1, D2], currency="USD")

    def spend(ds):
        return sorted(
            (str(r["spend_date"]), r["platform"], r["spend"])
            for r in rows_of(found, "curated", "marketing", "ad_spend_daily", ds)
        )

    assert spend(D1) == [
        (D1, "google_ads", Decimal("1.500000")),
        (D1, "meta_ads", Decimal("12.510000")),  # 10.01 × 1.25 = 12.5125 → 12.51
    ]
    assert spend(D2) == [  # D2 restates D1's Google cost
        (D1, "google_ads", Decimal("1.600000")),
        (D2, "google_ads", Decimal("2.000000")),
    ]
    assert found[Partition("quarantine", "marketing", "ad_spend_daily", D1)] is None
    (missing,) = rows_of(found, "quarantine", "marketing", "ad_spend_daily", D2)
    assert missing["reason"] == f"no rate from GBP to USD for {D2}"
    assert found[Partition("curated", "marketing", "campaigns", D2)][1] == []


def test_each_days_orders_meet_only_that_days_lines_and_customers(spark, lake):
    """Order 1 placed on D1 and delivered on D2, its customer moving region in between: each
    day's partition has that day's version, with that day's lines and region."""
    order = {"order_id": 1, "customer_id": 5, "currency": "USD", "discount_amount": "1.00",
             "landing_site": "/", "created_at": f"{D1}T10:00:00Z"}  # fmt: skip
    line = {"order_item_id": 10, "order_id": 1, "product_id": 3, "unit_price": "4.50",
            "created_at": f"{D1}T10:00:00Z"}  # fmt: skip
    raw = {
        "orders": {
            D1: [{**order, "status": "placed", "updated_at": f"{D1}T10:00:00Z"}],
            D2: [{**order, "status": "delivered", "updated_at": f"{D2}T15:00:00Z"}],
        },
        "order_items": {
            D1: [{**line, "quantity": 2, "updated_at": f"{D1}T10:00:00Z"}],
            D2: [{**line, "quantity": 3, "updated_at": f"{D2}T15:00:00Z"}],  # fmt: skip
        },
        "customers": {
            ds: [
                {
                    **customer(5, "cy@example.com"),
                    "region": region,
                    "created_at": f"{D0}T00:00:00Z",
                    "updated_at": f"{ds}T00:00:00Z",
                }
            ]
            for ds, region in ((D1, "EU"), (D2, "US"))
        },  # fmt: skip
        "products": {ds: [] for ds in (D1, D2)},
    }
    for entity, by_day in raw.items():
        for ds, records in by_day.items():
            publish_raw(lake, "shop_db", entity, ds, records)
    found = one_by_one_and_in_range(spark, lake, "curate_orders", [D1, D2])
    versions = {
        ds: [(r["status"], r["region"], r["gross_revenue"], r["net_revenue"], r["units"])
             for r in rows_of(found, "curated", "sales", "orders", ds)]
        for ds in (D1, D2)
    }  # fmt: skip
    assert versions == {
        D1: [("placed", "EU", Decimal("9.00"), Decimal("8.00"), 2)],
        D2: [("delivered", "US", Decimal("13.50"), Decimal("12.50"), 3)],
    }


def publish_curated(spark, lake: Lake, domain: str, entity: str, ds: str, rows, schema: str):
    """A curated partition with the columns attribution reads (Spark's Parquet)."""
    partition = Partition("curated", domain, entity, ds)
    frame = spark.createDataFrame(rows, schema)
    frame.coalesce(1).write.mode("overwrite").parquet(lake.staging_path(partition))
    publish_staged(lake, partition)


def test_attribution_in_a_range_knows_each_day_only_what_that_day_knew(spark, lake):
    """Visitor v1 visits from a Google ad on D1 but signs in as K1's customer only on D2.
    K1's D1 order is direct (nobody knew v1 was K1 yet); their D2 order is v1's ad visit.
    The range must not lend D2's link to D1. D3 has no order: an empty partition."""
    orders = attribute_orders.ORDERS_SCHEMA
    sessions = attribute_orders.SESSIONS_SCHEMA
    identity = attribute_orders.IDENTITY_SCHEMA
    noon = {ds: datetime.fromisoformat(f"{ds} 12:00:00") for ds in (D1, D2)}
    publish_curated(spark, lake, "sales", "orders", D1,
                    [("O1", date(2026, 11, 2), noon[D1], "K1")], orders)  # fmt: skip
    publish_curated(spark, lake, "sales", "orders", D2,
                    [("O2", date(2026, 11, 3), noon[D2], "K1")], orders)  # fmt: skip
    publish_curated(spark, lake, "sales", "orders", D3, [], orders)
    ad_visit = ("s1", "v1", datetime.fromisoformat(f"{D1} 09:00:00"), "google_ads", "google",
                "cpc", "21")  # fmt: skip
    publish_curated(spark, lake, "web", "sessions", D1, [ad_visit], sessions)
    for ds in (D2, D3):
        publish_curated(spark, lake, "web", "sessions", ds, [], sessions)
    publish_curated(spark, lake, "customers", "identity_map", D1,
                    [(key("web_visitor:v1"), "web_visitor", "v1", "none")], identity)  # fmt: skip
    publish_curated(spark, lake, "customers", "identity_map", D2,
                    [("K1", "web_visitor", "v1", "user_id")], identity)  # fmt: skip
    publish_curated(spark, lake, "customers", "identity_map", D3,
                    [(key("web_visitor:v1"), "web_visitor", "v1", "none")], identity)  # fmt: skip
    found = one_by_one_and_in_range(spark, lake, "attribute_orders", [D1, D2, D3])

    def credit(ds):
        return sorted(
            (r["order_id"], r["attribution_model"], r["channel"], r["session_id"], r["weight"])
            for r in rows_of(found, "curated", "marketing", "order_attribution", ds)
        )

    models = sorted(attribute_orders.MODELS)
    assert credit(D1) == [("O1", m, "direct", None, 1.0) for m in models]
    assert credit(D2) == [("O2", m, "google_ads", "s1", 1.0) for m in models]
    assert credit(D3) == []


def test_dates_are_checked_and_spelled_out():
    assert check_dates([D2, D1, D2]) == [D1, D2]
    assert date_range(D0, D2) == [D0, D1, D2]
    with pytest.raises(ValueError, match="at least one"):
        check_dates([])
    with pytest.raises(ValueError, match="2026-02-30"):
        check_dates(["2026-02-30"])
    with pytest.raises(ValueError, match="before start"):
        date_range(D2, D1)
