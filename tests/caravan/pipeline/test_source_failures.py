"""When one table of a source fails, the source is not delivered, and each failure is named.

A two-entity `file_drop` source (orders, refunds) declared in YAML, its CSV files in a
real landing folder, run through the ingest steps as the DAG's tasks run them (extract,
gate, publish), with a real lake, GX and DuckDB warehouse. The rule
(docs/adding-a-source.md, "When a source fails"): a source is published whole or not at
all. An entity that cannot be extracted fails `extract` and nothing is gated; an entity
that fails its gate, or sends more than the threshold to quarantine, fails `gate` after
every entity was gated and recorded. The quarantine share is a row of the raw gate in
`quality.validation_results` either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException

from caravan.dag_support import failing_at_once
from caravan.pipeline import ingest_steps
from caravan.sources.file_drop import LateDrop

DS = "2026-11-01"
RUN = "manual__test"
REGISTRY = """
partner:
  kind: file_drop
  conn_id: partner_default
  quarantine_threshold: 0.25
  entities:
    orders:
      files: orders_${ds}.csv
      format: csv
      primary_key: order_id
    refunds:
      files: refunds_${ds}.csv
      format: csv
      primary_key: refund_id
      required: [refund_id, amount]
"""
ORDERS = "order_id,amount\nO1,10.00\nO2,20.00\nO3,30.00\n"
GOOD_REFUNDS = "refund_id,order_id,amount\nR1,O1,5.00\nR2,O2,1.00\n"
# Line 3 repeats R1's key: the raw gate's uniqueness check fails on two rows.
DUPLICATE_REFUNDS = "refund_id,order_id,amount\nR1,O1,5.00\nR1,O2,1.00\nR2,O3,2.00\n"
# Three of four rows cannot be loaded: 75% in quarantine, above the source's 25%.
BAD_REFUNDS = "refund_id,order_id,amount\nR1,O1,5.00\nR2,O2,\nR3,O3,\nR4,O4\n"
QUARANTINE_SHARE = "expect_quarantine_share_to_be_at_most"


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A Caravan home and a project whose registry holds only `partner`."""
    dags = tmp_path / "project" / "dags"
    dags.mkdir(parents=True)
    (dags / "sources.yaml").write_text(REGISTRY)
    (tmp_path / "landing").mkdir()
    for name in ("CARAVAN_LAKE_URL", "CARAVAN_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARAVAN_PROJECT_DIR", str(tmp_path / "project"))
    return tmp_path


def drop(home: Path, **files: str) -> Connection:
    """The day's files in the landing folder; the connection that points at it."""
    for entity, text in files.items():
        (home / "landing" / f"{entity}_{DS}.csv").write_text(text)
    extra = json.dumps({"path": str(home / "landing")})
    return Connection(conn_id="partner_default", conn_type="fs", extra=extra)


def extract_and_gate(home: Path, connection: Connection) -> AirflowFailException:
    staged = ingest_steps.extract("partner", DS, connection)
    assert [s["entity"] for s in staged] == ["orders", "refunds"]  # both staged
    with pytest.raises(AirflowFailException) as failed:
        ingest_steps.gate(staged, RUN)
    return failed.value


def results(home: Path) -> list[tuple]:
    """(entity, expectation, column, success, observed, samples) of every recorded row."""
    with duckdb.connect(str(home / "home" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "select entity, expectation, column_name, success, observed_value, sample_keys"
            " from quality.validation_results order by entity, expectation, column_name"
        ).fetchall()


def published(home: Path) -> list[str]:
    raw = home / "home" / "lake" / "raw"
    return sorted(str(p.relative_to(raw)) for p in raw.rglob("_manifest.json"))


def test_a_gate_failure_of_one_table_names_it_and_records_both(home):
    failure = extract_and_gate(home, drop(home, orders=ORDERS, refunds=DUPLICATE_REFUNDS))

    message = str(failure)
    assert f"raw gate partner/refunds ds={DS} run_id={RUN}: failed" in message
    assert "expect_column_values_to_be_unique on column refund_id: 2 unexpected" in message
    assert "partner/orders" not in message  # the good table is not blamed
    rows = results(home)
    # The good table's gate ran and passed, its quarantine share (0 of 3) with it.
    orders = [row for row in rows if row[0] == "orders"]
    assert orders and all(row[3] for row in orders)
    assert ("orders", QUARANTINE_SHARE, None, True) in [row[:4] for row in orders]
    assert [row[:4] for row in rows if not row[3]] == [
        ("refunds", "expect_column_values_to_be_unique", "refund_id", False)
    ]
    assert published(home) == []


def test_the_quarantine_threshold_of_one_table_is_a_recorded_gate_failure(home):
    failure = extract_and_gate(home, drop(home, orders=ORDERS, refunds=BAD_REFUNDS))

    quarantine = home / "home/lake/staging/quarantine/partner/refunds" / f"ds={DS}"
    assert str(failure) == (
        f"partner/refunds ds={DS}: 3 of 4 records (75.0%) went to quarantine, above"
        " partner's threshold of 25.0%. Reasons: missing required field 'amount' (2);"
        " row has 2 cells, the header has 3 (1). First rejected:"
        f" refunds_{DS}.csv line 3: missing required field 'amount';"
        f" refunds_{DS}.csv line 4: missing required field 'amount';"
        f" refunds_{DS}.csv line 5: row has 2 cells, the header has 3."
        f" Records with their reasons: {quarantine}/part-00000.jsonl.gz"
    )
    rows = results(home)
    assert [row for row in rows if row[1] == QUARANTINE_SHARE] == [
        (
            "orders",
            QUARANTINE_SHARE,
            None,
            True,
            json.dumps(
                {"quarantine_share": 0.0, "threshold": 0.25, "quarantined": 0, "delivered": 3}
            ),
            "[]",
        ),
        (
            "refunds",
            QUARANTINE_SHARE,
            None,
            False,
            json.dumps(
                {"quarantine_share": 0.75, "threshold": 0.25, "quarantined": 3, "delivered": 4}
            ),
            json.dumps(
                [
                    {"reason": "missing required field 'amount'", "records": 2},
                    {"reason": "row has 2 cells, the header has 3", "records": 1},
                ]
            ),
        ),
    ]
    # Over the threshold, refunds is not validated further; orders is, and passes.
    assert [row[:2] for row in rows if row[0] == "refunds"] == [("refunds", QUARANTINE_SHARE)]
    assert all(row[3] for row in rows if row[0] == "orders") and len(rows) > 2
    assert published(home) == []


def test_a_later_attempt_of_the_run_replaces_the_quarantine_row(home):
    extract_and_gate(home, drop(home, orders=ORDERS, refunds=BAD_REFUNDS))
    connection = drop(home, refunds=GOOD_REFUNDS)  # the sender replaces the file

    staged = ingest_steps.extract("partner", DS, connection)
    ingest_steps.gate(staged, RUN)  # the task cleared and run again: the same run id
    summary = ingest_steps.publish(staged, RUN)

    shares = [row[:4] for row in results(home) if row[1] == QUARANTINE_SHARE]
    assert shares == [
        ("orders", QUARANTINE_SHARE, None, True),
        ("refunds", QUARANTINE_SHARE, None, True),
    ]
    assert summary == {"ds": DS, "rows": {"orders": 3, "refunds": 2}}
    assert published(home) == [
        f"partner/orders/ds={DS}/_manifest.json",
        f"partner/refunds/ds={DS}/_manifest.json",
    ]


def test_an_extract_failure_of_one_table_fails_the_extract_naming_it(home):
    connection = drop(home, orders=ORDERS)  # no refunds file for the day
    landing = (home / "landing").as_uri()

    with pytest.raises(LateDrop) as late:
        ingest_steps.extract("partner", DS, connection)
    assert str(late.value).startswith(
        f"partner/refunds: no file matches 'refunds_{DS}.csv' in {landing} for ds={DS};"
    )
    # A month later the drop is long overdue: the task fails for good, and since extract
    # failed, neither table is gated or published.
    with pytest.raises(AirflowFailException, match="partner/refunds: no file matches"):
        with failing_at_once(now=lambda: datetime(2026, 12, 1, tzinfo=UTC)):
            ingest_steps.extract("partner", DS, connection)
    assert published(home) == []
    assert not (home / "home" / "warehouse.duckdb").exists()


# --- the same rule through Airflow: `caravan run` of the DAG, then `caravan quality` ------

DAG_DS, LATE_DS = "2026-01-05", "2026-01-06"  # long past: their drops' deadlines too


def caravan(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CARAVAN_"))}
    env.update(
        CARAVAN_HOME=str(root / "home"),
        CARAVAN_PROJECT_DIR=str(root / "project"),
        AIRFLOW_CONN_PARTNER_DEFAULT=json.dumps(
            {"conn_type": "fs", "extra": {"path": str(root / "landing")}}
        ),
    )
    command = [str(Path(sys.executable).with_name("caravan")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def dag_runs(tmp_path_factory) -> dict:
    """`ingest_partner` run by Airflow (`caravan run`) for a day whose refunds break the
    threshold, then for a day without a refunds file, then `caravan quality --failures`:
    by ds (and "quality") each command's result and the run log after it; "root": the
    folder of the home, project and landing folder."""
    root = tmp_path_factory.mktemp("dag_runs")
    dags = root / "project" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[3] / "dags" / "ingest.py", dags)
    (dags / "sources.yaml").write_text(REGISTRY)
    landing = root / "landing"
    landing.mkdir()
    (landing / f"orders_{DAG_DS}.csv").write_text(ORDERS)
    (landing / f"refunds_{DAG_DS}.csv").write_text(BAD_REFUNDS)
    (landing / f"orders_{LATE_DS}.csv").write_text(ORDERS)
    runs = {}
    for ds in (DAG_DS, LATE_DS):
        result = caravan(root, "run", "--start", ds, "--dag", "ingest_partner")
        runs[ds] = (result, (root / "home" / "logs" / "run.log").read_text())
    runs["quality"] = (caravan(root, "quality", "--failures"), "")
    runs["root"] = root
    return runs


def test_airflow_publishes_neither_table_when_one_breaks_the_threshold(dag_runs):
    result, log = dag_runs[DAG_DS]
    assert result.returncode != 0
    assert f"ingest_partner failed for ds={DAG_DS} (tasks: gate, publish)" in result.stdout
    assert f"partner/refunds ds={DAG_DS}: 3 of 4 records (75.0%) went to quarantine" in log
    assert list((dag_runs["root"] / "home" / "lake").glob("raw/**/_manifest.json")) == []


def test_caravan_quality_shows_the_quarantine_share_beside_the_good_tables_pass(dag_runs):
    result, _ = dag_runs["quality"]
    assert result.returncode == 1  # a latest result has a failing `error` check
    statuses = {
        tuple(line.split()[1:3]): line.split()[7]
        for line in result.stdout.splitlines()
        if line.startswith("raw ")
    }
    assert statuses == {("partner", "orders"): "PASS", ("partner", "refunds"): "FAIL"}
    assert (
        f"[error] raw partner/refunds ds={DAG_DS}: {QUARANTINE_SHARE} on table: observed"
        ' {"quarantine_share": 0.75, "threshold": 0.25, "quarantined": 3, "delivered": 4},'
        ' sample keys: {"reason": "missing required field \'amount\'", "records": 2},'
        ' {"reason": "row has 2 cells, the header has 3", "records": 1}'
    ) in result.stdout


def test_a_drop_missing_past_its_deadline_fails_the_extract_once_without_retries(dag_runs):
    result, log = dag_runs[LATE_DS]
    assert f"ingest_partner failed for ds={LATE_DS} (tasks: extract," in result.stdout
    assert (
        f"partner/refunds: no file matches 'refunds_{LATE_DS}.csv' in"
        f" file://{dag_runs['root'] / 'landing'} for ds={LATE_DS}; the drop was expected at"
        " 2026-01-07 00:00 UTC (the end of its data interval) and may be late until"
        " 2026-01-07 06:00 UTC (drop_wait_hours: 6); it did not come by then: failed for good"
    ) in log
    this_run = log[log.rindex("logical_date=DateTime(2026, 1, 6") :]
    assert this_run.count("[DAG TEST] starting task_id=extract") == 1  # no retry, no wait
