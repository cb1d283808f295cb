"""A source declared only in YAML, with a start in the past, through the real `caravan`
commands: its history export loaded as daily raw partitions (twice: the same data),
a daily run of the day after the history, runs before its start refused saying why, and
a history load stopped by a day's gate."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from caravan.sources.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
DAYS = ["2016-03-01", "2016-03-02", "2016-03-03", "2016-03-04", "2016-03-05"]

PAGE = REPO / "docs" / "adding-a-source.md"
# The page's section on history: its registry entry, command and output are what runs here.
SECTION = PAGE.read_text().split("## History and initial loads", 1)[1].split("\n## ", 1)[0]
# Fenced blocks, each (language, text), as Markdown opens and closes them at a line's start.
FENCES = re.findall(r"^```(\w*)\n(.*?)^```$", SECTION, flags=re.DOTALL | re.MULTILINE)
[ENTRY, *_] = [text for language, text in FENCES if language == "yaml"]
[COMMAND] = [
    line.split()[1:]  # `.venv/bin/caravan` is the venv's console script
    for language, text in FENCES
    if language == "bash"
    for line in text.splitlines()
    if "caravan load-history" in line
]
[SHOWN] = [text.splitlines() for language, text in FENCES if text.startswith("Loading the")]

# 11 records. By the UTC day of ordered_at: 1004 (23:30 at -02:00) is on 03-03, 1009
# (00:30 at +01:00) on 03-05; 1010 is before the range and 1011 has no date (both to the
# last day's quarantine); 1007's amount is no number (quarantined on its day, 03-04).
HISTORY = """\
order_id,customer,amount,ordered_at
1001,ana,12.50,2016-03-01T09:15:00Z
1002,ben,7.00,2016-03-01T17:40:00Z
1003,ana,30.00,2016-03-02T08:05:00Z
1004,cy,5.25,2016-03-02T23:30:00-02:00
1005,ben,18.00,2016-03-03T12:00:00Z
1006,dee,9.99,2016-03-04T10:00:00Z
1007,ana,not-a-number,2016-03-04T11:00:00Z
1008,cy,14.00,2016-03-05T00:00:00Z
1009,dee,3.50,2016-03-06T00:30:00+01:00
1010,ben,6.00,2016-02-29T22:00:00Z
1011,ana,8.00,
"""
DAILY = """\
order_id,customer,amount,ordered_at
1012,dee,11.00,2016-03-06T08:00:00Z
1013,ana,4.75,2016-03-06T19:20:00Z
"""


@dataclass(frozen=True)
class Step:
    result: subprocess.CompletedProcess
    lake: dict  # relpath of each partition → its manifest and records


@dataclass(frozen=True)
class Story:
    home: Path
    refused_run: subprocess.CompletedProcess
    refused_load: subprocess.CompletedProcess
    loaded: Step
    reloaded: Step
    daily: Step
    stopped: Step


def snapshot(lake: Path) -> dict:
    """Every published partition: its manifest and its records, in file order."""
    found = {}
    # raw and quarantine (JSON lines); the typed copies in curated are checked apart.
    paths = [
        *lake.glob("raw/bookshop/orders/ds=*/_manifest.json"),
        *lake.glob("quarantine/bookshop/orders/ds=*/_manifest.json"),
    ]
    for manifest_path in sorted(paths):
        manifest = json.loads(manifest_path.read_text())
        records = [
            json.loads(line)
            for entry in manifest["files"]
            for line in gzip.decompress((manifest_path.parent / entry["path"]).read_bytes())
            .decode()
            .splitlines()
        ]
        found[str(manifest_path.parent.relative_to(lake))] = {
            "manifest": manifest,
            "records": records,
        }
    return found


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Story:
    """A copy of dags/ with the entry appended, its export and a daily file dropped, then
    the commands in the order a data engineer would run them."""
    root = tmp_path_factory.mktemp("history")
    dags = root / "project" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "ingest.py", dags)
    registry = (REPO / "dags" / "sources.yaml").read_text() + "\n" + ENTRY
    (dags / "sources.yaml").write_text(registry)
    landing = root / "landing"
    landing.mkdir()
    (landing / "orders_export_2016.csv").write_text(HISTORY)
    (landing / "orders_2016-03-06.csv").write_text(DAILY)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "CARAVAN_"))}
    env.update(CARAVAN_HOME=str(root / "home"), CARAVAN_PROJECT_DIR=str(root / "project"))
    # Every source's connection set, so that `caravan run` starts no simulator; only
    # bookshop's is read.
    for source in load_registry(dags / "sources.yaml").values():
        path = landing if source.name == "bookshop" else root / "unused"
        env[f"AIRFLOW_CONN_{source.conn_id.upper()}"] = json.dumps(
            {"conn_type": "fs", "extra": {"path": str(path)}}
        )
    caravan = Path(sys.executable).with_name("caravan")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(caravan), *args], env=env, capture_output=True, text=True, timeout=600
        )

    def step(*args: str) -> Step:
        return Step(run(*args), snapshot(root / "home" / "lake"))

    history = tuple(COMMAND)
    assert history == (
        "load-history",
        "--source",
        "bookshop",
        "--start",
        DAYS[0],
        "--end",
        DAYS[-1],
    )
    return Story(
        home=root / "home",
        refused_run=run("run", "--start", "2016-02-29", "--dag", "ingest_bookshop"),
        refused_load=run(*history[:3], "--start", "2016-02-28", "--end", DAYS[0]),
        loaded=step(*history),
        reloaded=step(*history),
        daily=step("run", "--start", "2016-03-06", "--dag", "ingest_bookshop"),
        stopped=step(*history[:5], "--end", "2016-03-07"),
    )


def succeeded(step: Step) -> str:
    log = step.result.stdout + step.result.stderr
    assert step.result.returncode == 0, log
    return step.result.stdout


def test_the_history_is_one_partition_per_day_with_that_days_records(story):
    succeeded(story.loaded)
    raw = {
        path.removeprefix("raw/bookshop/orders/ds="): [r["order_id"] for r in p["records"]]
        for path, p in story.loaded.lake.items()
        if path.startswith("raw/")
    }
    assert raw == {
        "2016-03-01": ["1001", "1002"],
        "2016-03-02": ["1003"],
        "2016-03-03": ["1004", "1005"],
        "2016-03-04": ["1006"],
        "2016-03-05": ["1008", "1009"],
    }
    assert story.loaded.lake["raw/bookshop/orders/ds=2016-03-03"]["records"][0] == {
        "order_id": "1004",
        "customer": "cy",
        "amount": "5.25",
        "ordered_at": "2016-03-02T23:30:00-02:00",
    }


def test_each_days_manifest_reconciles_and_the_whole_load_counts_every_record(story):
    manifests = {
        path: p["manifest"] for path, p in story.loaded.lake.items() if path.startswith("raw/")
    }
    counts = {m["ds"]: (m["delivered"], m["rows"], m["quarantined"]) for m in manifests.values()}
    assert counts == {
        "2016-03-01": (2, 2, 0),
        "2016-03-02": (1, 1, 0),
        "2016-03-03": (2, 2, 0),
        "2016-03-04": (2, 1, 1),
        "2016-03-05": (4, 2, 2),
    }
    assert sum(delivered for delivered, _, _ in counts.values()) == 11  # the export's records
    [run_id] = {m["run_id"] for m in manifests.values()}
    assert run_id.startswith("history__2016-03-01_2016-03-05__")
    assert {m["producer"] for m in manifests.values()} == {"caravan.ingest"}


def test_the_rows_without_a_day_and_the_bad_one_are_in_quarantine_with_their_reasons(story):
    quarantine = {
        path.removeprefix("quarantine/bookshop/orders/ds="): [
            (r["origin"], r["reason"]) for r in p["records"]
        ]
        for path, p in story.loaded.lake.items()
        if path.startswith("quarantine/")
    }
    assert quarantine == {
        "2016-03-04": [
            ("orders_export_2016.csv line 8", "field 'amount' is 'not-a-number', not a decimal")
        ],
        "2016-03-05": [
            (
                "orders_export_2016.csv line 11",
                "field 'ordered_at' is '2016-02-29T22:00:00Z', not a day of the history load"
                " 2016-03-01 .. 2016-03-05",
            ),
            ("orders_export_2016.csv line 12", "missing required field 'ordered_at'"),
        ],
    }
    orphan = story.loaded.lake["quarantine/bookshop/orders/ds=2016-03-05"]["records"][0]
    assert orphan["record"] == {
        "order_id": "1010",
        "customer": "ben",
        "amount": "6.00",
        "ordered_at": "2016-02-29T22:00:00Z",
    }


def test_the_command_shows_the_extract_and_each_day(story):
    lines = succeeded(story.loaded).splitlines()
    assert lines[0].startswith(
        "Loading the history of bookshop (orders), 2016-03-01 .. 2016-03-05: one extract,"
        " 5 daily partition(s)"
    )
    assert lines[1:] == [
        "  extracted bookshop/orders: 11 records, 2 without a day in 2016-03-01 .. 2016-03-05",
        "  [1/5] 2016-03-01  orders 2 rows, 0 quarantined",
        "  [2/5] 2016-03-02  orders 1 rows, 0 quarantined",
        "  [3/5] 2016-03-03  orders 2 rows, 0 quarantined",
        "  [4/5] 2016-03-04  orders 1 rows, 1 quarantined",
        "  [5/5] 2016-03-05  orders 2 rows, 2 quarantined",
        "Done: 5 partition(s) of bookshop, delivered 11 = 8 rows + 3 quarantined.",
    ]
    # What the page shows of it, but for the log's path and the days it leaves out.
    assert lines[0].startswith(SHOWN[0].split("(log: ")[0])
    assert [line for line in SHOWN[1:] if line != "  ..."] == [
        line for line in lines[1:] if not line.startswith(("  [2/", "  [3/", "  [4/"))
    ]


def test_each_day_was_gated_against_the_days_published_before_it(story):
    """The volume band of a day is the median of the rows published the days before it,
    times [0.5, 2.0]: 03-02 [2] → 1..4; 03-03 [2, 1] → 1..3; 03-04 [2, 1, 2] → 1..4;
    03-05 [2, 1, 2, 1] → 1..3 (none for the first day: nothing published before it)."""
    with duckdb.connect(str(story.home / "warehouse.duckdb"), read_only=True) as con:
        bands = con.execute(
            "select ds::varchar, kwargs, success from quality.validation_results"
            " where source = 'bookshop'"
            " and expectation = 'expect_table_row_count_to_be_between' and severity = 'warn'"
            " and run_id = (select min(run_id) from quality.validation_results"
            "   where run_id like 'history__%') order by ds"
        ).fetchall()
    assert [(ds, json.loads(kwargs), ok) for ds, kwargs, ok in bands] == [
        ("2016-03-02", {"min_value": 1, "max_value": 4}, True),
        ("2016-03-03", {"min_value": 1, "max_value": 3}, True),
        ("2016-03-04", {"min_value": 1, "max_value": 4}, True),
        ("2016-03-05", {"min_value": 1, "max_value": 3}, True),
    ]


def test_loading_the_history_again_leaves_the_same_partitions(story):
    succeeded(story.reloaded)

    def content(lake: dict) -> dict:
        return {
            path: (
                [(f["path"], f["rows"], f["sha256"]) for f in p["manifest"]["files"]],
                {k: p["manifest"][k] for k in ("delivered", "rows", "quarantined", "schema")},
            )
            for path, p in lake.items()
        }

    assert content(story.reloaded.lake) == content(story.loaded.lake)
    assert len(story.reloaded.lake) == 7  # 5 raw, 2 quarantine partitions
    runs = {p["manifest"]["run_id"] for p in story.reloaded.lake.values()}
    assert len(runs) == 1 and runs != {p["manifest"]["run_id"] for p in story.loaded.lake.values()}


def test_a_run_before_the_sources_start_date_fails_naming_it(story):
    assert story.refused_run.returncode == 1
    assert (
        "FAILED: ingest_bookshop starts on 2016-03-01, so it has nothing to run for 1 date(s):"
        " 2016-02-29 (a DAG runs from its start_date: an ingest DAG's is its source's"
        " start_date in dags/sources.yaml, any other's caravan.dag_support.START_DATE)"
    ) in story.refused_run.stdout
    assert " ok " not in story.refused_run.stdout
    [shown] = [text for _, text in FENCES if text.startswith("FAILED: ingest_bookshop")]
    assert shown.split(" (a DAG runs")[0] in story.refused_run.stdout


def test_a_history_load_before_the_sources_start_date_is_refused_naming_it(story):
    assert story.refused_load.returncode == 2
    assert story.refused_load.stderr.strip() == (
        "caravan load-history: bookshop starts on 2016-03-01 (its start_date in"
        " dags/sources.yaml, else caravan.dag_support.START_DATE), so its history has"
        " nothing to load for 2 date(s): 2016-02-28 .. 2016-02-29. Declare an earlier"
        " start_date to load them."
    )


def test_the_daily_run_of_the_day_after_the_history_loads_its_file(story):
    assert "ingest_bookshop      ok" in succeeded(story.daily)
    day = story.daily.lake["raw/bookshop/orders/ds=2016-03-06"]
    assert [r["order_id"] for r in day["records"]] == ["1012", "1013"]
    assert (day["manifest"]["delivered"], day["manifest"]["quarantined"]) == (2, 0)
    assert day["manifest"]["run_id"].startswith("manual__")
    history = {k: v for k, v in story.daily.lake.items() if "2016-03-06" not in k}
    assert history == story.reloaded.lake  # the history's partitions untouched


def test_a_day_whose_gate_fails_stops_the_load_after_the_days_before_it(story):
    """The export has nothing on 03-06: its empty delivery fails the raw gate, so 03-06
    keeps the daily run's partition and 03-07 is never reached."""
    result = story.stopped.result
    assert result.returncode == 1
    assert "  [5/7] 2016-03-05  orders 2 rows, 0 quarantined" in result.stdout.splitlines()
    assert (
        "FAILED: bookshop ds=2016-03-06: the raw gate failed, so the history load stopped"
        " there (published: 2016-03-01 .. 2016-03-05; not loaded: 2016-03-06 .. 2016-03-07)."
    ) in result.stdout
    assert (
        story.stopped.lake["raw/bookshop/orders/ds=2016-03-06"]
        == (story.daily.lake["raw/bookshop/orders/ds=2016-03-06"])
    )
    # The last day is 03-07 now: 03-05 has no rows without a day any more.
    assert "quarantine/bookshop/orders/ds=2016-03-05" not in story.stopped.lake
    assert "raw/bookshop/orders/ds=2016-03-07" not in story.stopped.lake


def test_a_landing_entitys_history_is_in_the_warehouse_day_by_day(story):
    # The rows per day and their amounts as worked out above (1007 quarantined; 1004 on
    # 03-03, 1009 on 03-05), loaded as the typed copies, amount a decimal.
    con = duckdb.connect(str(story.home / "warehouse.duckdb"), read_only=True)
    try:
        found = con.execute(
            "select ds::varchar, count(*), sum(amount)::varchar, any_value(typeof(amount))"
            " from landing.bookshop__orders group by ds order by ds"
        ).fetchall()
    finally:
        con.close()
    assert found == [
        ("2016-03-01", 2, "19.500000000", "DECIMAL(38,9)"),
        ("2016-03-02", 1, "30.000000000", "DECIMAL(38,9)"),
        ("2016-03-03", 2, "23.250000000", "DECIMAL(38,9)"),
        ("2016-03-04", 1, "9.990000000", "DECIMAL(38,9)"),
        ("2016-03-05", 2, "17.500000000", "DECIMAL(38,9)"),
    ]
