"""The text sources through the real registry: shop_db.reviews (SQL), issue_tracker's
issues and comments (GitHub-shaped REST, `since` without an upper bound) and the docs'
chunks (a file drop), read from a running simulator through its Airflow connections.

Expected records are the World's ground truth for the day (reviews written that day,
issues and comments last changed that day as the tracker holds them), picked by hand
from their timestamps.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from caravan.runner import airflow_connection, simulator_connection_specs
from caravan.settings import Settings
from caravan.simulator import RunningSimulator, running_simulator
from caravan.simulator.text import tracker_issues
from caravan.sources.extract import deliveries
from caravan.sources.registry import RegistryError, load_registry

REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(REPO / "dags" / "sources.yaml")
TRACKER, SHOP, DOCS = REGISTRY["issue_tracker"], REGISTRY["shop_db"], REGISTRY["docs"]
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(4)]
RUN = "manual__text_sources"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory) -> Iterator[RunningSimulator]:
    home = tmp_path_factory.mktemp("text")
    settings = Settings.from_env({"CARAVAN_HOME": str(home), "CARAVAN_SEED": "42"})
    with running_simulator(settings, DAYS) as running:
        yield running


def read(sim: RunningSimulator, source, entity: str, ds: str, spec=None) -> list[dict]:
    conn = airflow_connection(source.conn_id, simulator_connection_specs(sim)[source.conn_id])
    found = list(deliveries(source, spec or source.entities[entity], conn, ds))
    assert all(d.error is None for d in found)
    return [d.record for d in found]


def issues_changed_on(sim: RunningSimulator, day: date) -> list:
    return [i for i in tracker_issues(sim.world, DAYS) if i.updated_at.date() == day]


def comments_changed_on(sim: RunningSimulator, day: date) -> list:
    return [
        c for i in tracker_issues(sim.world, DAYS) for c in i.comments if c.updated_at.date() == day
    ]


@pytest.mark.parametrize("ds", DAYS)
def test_issues_of_ds_are_those_last_changed_that_day_and_none_later(simulator, ds):
    records = read(simulator, TRACKER, "issues", ds.isoformat())
    expected = issues_changed_on(simulator, ds)
    assert sorted(r["id"] for r in records) == sorted(i.issue_id for i in expected)
    assert {r["updated_at"][:10] for r in records} <= {ds.isoformat()}
    for record in records:
        assert isinstance(record["labels"], list)
        assert all(isinstance(label["name"], str) for label in record["labels"])


@pytest.mark.parametrize("ds", DAYS)
def test_comments_of_ds_are_those_changed_that_day(simulator, ds):
    records = read(simulator, TRACKER, "comments", ds.isoformat())
    expected = comments_changed_on(simulator, ds)
    assert sorted(r["id"] for r in records) == sorted(c.comment_id for c in expected)
    assert [r["body"] for r in sorted(records, key=lambda r: r["id"])] == [
        c.body for c in sorted(expected, key=lambda c: c.comment_id)
    ]


def test_without_open_ended_the_days_after_ds_would_come_too(simulator):
    """GitHub's `since` has no upper bound: this is what the raw gate would have seen."""
    ds = DAYS[1]
    closed_window = dataclasses.replace(TRACKER.entities["comments"], open_ended=False)
    records = read(simulator, TRACKER, "comments", ds.isoformat(), closed_window)
    later = [c for day in DAYS[2:] for c in comments_changed_on(simulator, day)]
    assert later
    expected = comments_changed_on(simulator, ds) + later
    assert sorted(r["id"] for r in records) == sorted(c.comment_id for c in expected)


def test_an_issue_tracker_run_passes_the_raw_gate_and_publishes_the_days_truth(
    simulator, tmp_path, monkeypatch
):
    from caravan.pipeline import ingest_steps

    project = tmp_path / "project"
    (project / "dags").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "sources.yaml", project / "dags" / "sources.yaml")
    for name in ("CARAVAN_LAKE_URL", "CARAVAN_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARAVAN_PROJECT_DIR", str(project))
    spec = simulator_connection_specs(simulator)["issue_tracker_default"]
    connection = airflow_connection("issue_tracker_default", spec)
    ds = DAYS[1]

    staged = ingest_steps.extract("issue_tracker", ds.isoformat(), connection)
    ingest_steps.gate(staged, RUN)  # raises if any error-severity check failed
    summary = ingest_steps.publish(staged, RUN)

    assert summary["rows"] == {
        "issues": len(issues_changed_on(simulator, ds)),
        "comments": len(comments_changed_on(simulator, ds)),
    }
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True) as con:
        checked = con.execute(
            "select entity, expectation, success, severity from quality.validation_results"
            " where source = 'issue_tracker'"
        ).fetchall()
    window = [row for row in checked if row[1] == "expect_column_values_to_be_in_set"]
    assert {row[0] for row in window} == {"issues", "comments"}
    assert [row for row in checked if not row[2] and row[3] == "error"] == []


@pytest.mark.parametrize("ds", DAYS)
def test_reviews_of_ds_are_the_reviews_written_that_day(simulator, ds):
    records = read(simulator, SHOP, "reviews", ds.isoformat())
    expected = simulator.world.reviews_on(ds)
    assert [(r["review_id"], r["order_id"], r["product_id"], r["rating"], r["body"])
            for r in records] == [
        (r.review_id, r.order_id, r.product_id, r.rating, r.body) for r in expected
    ]  # fmt: skip
    assert not {"sentiment", "topics", "language"} & {k for r in records for k in r}


def test_the_docs_drop_is_the_projects_chunks_of_the_day(simulator):
    ds = DAYS[2].isoformat()
    records = read(simulator, DOCS, "chunks", ds)
    lines = (simulator.docs_dir / f"docs_{ds}.jsonl").read_text().splitlines()
    assert records == [json.loads(line) for line in lines]
    paths = {r["path"] for r in records}
    assert {"README.md", "docs/adding-a-source.md"} <= paths
    assert {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")} <= paths
    assert {r["doc_kind"] for r in records} == {"doc", "readme", "dbt_model"}
    assert len({r["chunk_id"] for r in records}) == len(records)


@pytest.mark.parametrize(
    "entity, message",
    [
        ("      open_ended: yes please\n", "is not true or false"),
        ("      open_ended: true\n", "needs an incremental_field"),
    ],
)
def test_open_ended_is_a_boolean_that_needs_an_incremental_field(tmp_path, entity, message):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "tracker:\n  kind: rest_api\n  conn_id: t\n  entities:\n    issues:\n"
        "      primary_key: id\n      endpoint: {path: issues}\n" + entity
    )
    with pytest.raises(RegistryError, match=message):
        load_registry(path)
