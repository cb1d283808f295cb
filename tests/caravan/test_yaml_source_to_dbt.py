"""A source declared only in YAML, from its files to a dbt model's rows, typed as declared.

One `file_drop` source with two entities: an orders CSV written by Excel on Windows (CRLF
line ends, a cell with a line break inside its quotes, a header with a space) whose dates
and timestamps come in four formats and a time zone, with a decimal of fixed scale; and
a JSON-lines export without a unique key (a row delivered twice). It runs through the
real `caravan run` (Airflow), `caravan dbt-source`, the warehouse load and dbt's build of
the generated staging models; every value expected is worked out by hand below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from caravan.settings import Settings, environment
from tests.dags.test_dag_integrity import environ, run_probe
from tests.project_copy import caravan_environ, copy_project

REPO = Path(__file__).resolve().parents[2]
DS = "2026-11-01"
REGISTRY_ENTRY = """
exports:
  description: a shop's historical exports
  kind: file_drop
  conn_id: exports_default
  entities:
    orders:
      files: orders_${ds}.csv
      format: csv
      window: snapshot
      primary_key: order_ref
      required: [order_ref, Order Date, amount]
      types:
        Order Date: {type: date, format: yyyymmdd}
        shipped_on: {type: date, format: "%d-%m-%Y"}
        paid_at: {type: timestamp, format: "%Y-%m-%d %H:%M:%S", tz: Europe/Berlin}
        placed_ms: {type: timestamp, format: epoch_millis}
        amount: decimal(10,2)
      landing: true
    events:
      files: events_${ds}.jsonl
      window: snapshot
      primary_key: [session, event]
      duplicates_expected: true
      types: {at: timestamp, value: "decimal(8,2)"}
      landing: true
"""
ORDERS_CSV = (
    "order_ref,Order Date,shipped_on,paid_at,placed_ms,amount,note\r\n"
    'A-1,20160913,31-08-2016,2016-09-13 10:56:33,1473764193000,19.90,"gift\nwrap"\r\n'
    "A-2,20160913,01-09-2016,2016-09-13 23:30:00,1473809400000,5,plain\r\n"
    "A-3,20160914,02-09-2016,2016-09-14 08:00:00,1473840000000,1234.5,\r\n"
)
EVENTS_JSONL = (
    '{"session": "s1", "event": "view", "at": "2026-11-01T10:00:00Z"}\n'
    '{"session": "s1", "event": "view", "at": "2026-11-01T10:00:00Z"}\n'
    '{"session": "s2", "event": "buy", "at": "2026-11-01 11:00:00", "value": "9.99"}\n'
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The source ingested for DS through Airflow, its dbt files generated, its typed
    copies loaded into a DuckDB warehouse and its staging models built; the home."""
    root = tmp_path_factory.mktemp("yaml_source")
    project, home, drop = root / "project", root / "home", root / "drop"
    copy_project(project, REGISTRY_ENTRY)
    drop.mkdir()
    (drop / f"orders_{DS}.csv").write_bytes(ORDERS_CSV.encode())
    (drop / f"events_{DS}.jsonl").write_text(EVENTS_JSONL)
    env = caravan_environ(home, project, {"exports_default": drop})
    caravan = str(Path(sys.executable).with_name("caravan"))
    for args in (["run", "--start", DS, "--dag", "ingest_exports"], ["dbt-source", "exports"]):
        result = subprocess.run(
            [caravan, *args], env=env, capture_output=True, text=True, timeout=600
        )
        log = home / "logs" / "run.log"
        assert result.returncode == 0, (
            result.stdout + result.stderr + (log.read_text()[-10000:] if log.exists() else "")
        )
    # The warehouse DAG's load and dbt, for this source's tables and models only.
    from caravan.pipeline import warehouse_steps
    from caravan.warehouse.dbt import invoke_dbt

    variables = {"CARAVAN_HOME": str(home), "CARAVAN_PROJECT_DIR": str(project)}
    with environment(variables):
        loaded = warehouse_steps.load(DS, entities=(("exports", "orders"), ("exports", "events")))
        assert loaded["rows"] == {"landing.exports__orders": 3, "landing.exports__events": 3}
        invoke_dbt(Settings.from_env(), "build", "--select", "staging.exports")
    return home


def rows(home: Path, sql: str) -> list[tuple]:
    # Read-write as in-process dbt holds it: DuckDB allows one configuration per file.
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_landing_table_has_the_declared_types(built):
    columns = rows(
        built,
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'landing' and table_name = 'exports__orders'"
        " order by ordinal_position",
    )
    assert columns == [
        ("order_ref", "VARCHAR"),
        ("order_date", "DATE"),  # `Order Date`, as an identifier
        ("amount", "DECIMAL(10,2)"),
        ("shipped_on", "DATE"),
        ("paid_at", "TIMESTAMP WITH TIME ZONE"),
        ("placed_ms", "TIMESTAMP WITH TIME ZONE"),
        ("note", "VARCHAR"),
        ("ds", "DATE"),
    ]


def test_each_format_is_read_as_declared_down_to_the_staging_model(built):
    assert rows(
        built,
        "select order_ref, order_date, shipped_on, paid_at, placed_ms, amount, note"
        " from staging.stg_exports__orders order by order_ref",
    ) == [
        # 10:56:33 in Berlin in September (CEST, UTC+2) is 08:56:33 UTC;
        # 1473764193000 ms: 17057 days to 2016-09-13, plus 39393 s = 10:56:33 UTC.
        (
            "A-1",
            date(2016, 9, 13),
            date(2016, 8, 31),
            utc(2016, 9, 13, 8, 56, 33),
            utc(2016, 9, 13, 10, 56, 33),
            Decimal("19.90"),
            "gift\nwrap",  # the quoted line break kept, the file's CRLF gone
        ),
        (
            "A-2",
            date(2016, 9, 13),
            date(2016, 9, 1),
            utc(2016, 9, 13, 21, 30),
            utc(2016, 9, 13, 23, 30),
            Decimal("5.00"),
            "plain",
        ),
        (
            "A-3",
            date(2016, 9, 14),
            date(2016, 9, 2),
            utc(2016, 9, 14, 6, 0),
            utc(2016, 9, 14, 8, 0),
            Decimal("1234.50"),
            None,  # an empty cell
        ),
    ]


def test_a_file_without_a_unique_key_keeps_every_row(built):
    assert rows(
        built,
        # `at` is a keyword: the generated model quotes it (adapter.quote), and so must we.
        'select session, event, "at", value from staging.stg_exports__events'
        ' order by session, "at"',
    ) == [
        ("s1", "view", utc(2026, 11, 1, 10, 0), None),
        ("s1", "view", utc(2026, 11, 1, 10, 0), None),
        ("s2", "buy", utc(2026, 11, 1, 11, 0), Decimal("9.99")),
    ]


def test_the_counts_reconcile_from_the_file_to_the_model(built):
    manifest = json.loads(
        (built / "lake/raw/exports/orders" / f"ds={DS}" / "_manifest.json").read_text()
    )
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (3, 3, 0)
    assert manifest["schema"]["Order Date"] == "date (yyyymmdd) as string"
    assert rows(built, "select count(*) from landing.exports__orders") == [(3,)]
    assert rows(built, "select count(*) from staging.stg_exports__orders") == [(3,)]


WAITS_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])

def assets(condition):  # an Asset, or an all-of (`&`) of conditions
    if not hasattr(condition, "objects"):
        return [condition.name]
    return [name for inner in condition.objects for name in assets(inner)]

publish = bag.dags["ingest_exports"].get_task("publish")
print("PROBE " + json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "warehouse_waits_for": assets(bag.dags["warehouse"].timetable.asset_condition),
    "publish_outlets": [outlet.name for outlet in publish.outlets],
}))
"""


def test_the_warehouse_dag_waits_for_the_typed_copies_the_ingest_dag_emits(built):
    project = built.parent / "project"
    env = environ(built.parent / "probe_home") | {"CARAVAN_PROJECT_DIR": str(project)}
    found = run_probe(WAITS_PROBE, [str(project / "dags")], env, built.parent)
    assert found["errors"] == {}
    typed = ["caravan.curated.exports/orders", "caravan.curated.exports/events"]
    assert found["publish_outlets"] == ["caravan.raw.exports", *typed]
    assert set(typed) <= set(found["warehouse_waits_for"])
    # The 10 jobs' datasets, these two, the repository's own landed text sources
    # (shop_db.reviews, issue_tracker's issues and comments, docs' chunks) and the labels
    # made from them.
    text = [
        "caravan.curated.shop_db/reviews",
        "caravan.curated.issue_tracker/issues",
        "caravan.curated.issue_tracker/comments",
        "caravan.curated.docs/chunks",
    ]
    assert set(text) <= set(found["warehouse_waits_for"])
    labels = [
        w for w in found["warehouse_waits_for"] if w.startswith("caravan.curated.enrichment/")
    ]
    assert len(found["warehouse_waits_for"]) == 12 + len(text) + len(labels)
