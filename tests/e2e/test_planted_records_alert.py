"""A planted bad record class stops its partition at the raw gate and sends one alert.

`caravan run` (Airflow's dag.test, the simulator) runs `ingest_google_ads` for two days:
the first clean, the second with negative costs planted in some campaign-days. A local
webhook receiver and a local SMTP server stand for Slack and the mail relay, configured
as Airflow connections with secrets that must not appear in any message. Which rows are
planted comes from the simulator's ground truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from caravan.simulator.faults import NEGATIVE_COST, Plant
from caravan.simulator.google_ads_api import planted_records
from caravan.simulator.world import World
from tests.caravan.alert_receivers import (
    slack_connection,
    smtp_connection,
    smtp_receiver,
    webhook_receiver,
)

pytestmark = pytest.mark.e2e

SEED = 42
CLEAN, PLANTED = date(2026, 11, 1), date(2026, 11, 2)
WEBHOOK_TOKEN = "s3cr3tWebhookT0ken"
SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-Pa55word-xyz"
OPENAI_KEY = "sk-test-0123456789abcdef"
SECRETS = (WEBHOOK_TOKEN, SMTP_PASSWORD, OPENAI_KEY)
EXPECTATION = "expect_column_values_to_be_between"
TASK = "gate"  # every entity of the source is gated in one task


def partition(home: Path, day: date) -> Path:
    return home / "lake" / "raw" / "google_ads" / "campaign_performance" / f"ds={day}"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("caravan_home")
    with webhook_receiver() as hook, smtp_receiver(SMTP_USER, SMTP_PASSWORD) as box:
        env = {
            name: value
            for name, value in os.environ.items()
            # the simulator, not connections from the caller's environment
            if not name.startswith(("AIRFLOW_CONN_", "CARAVAN_")) and name != "AIRFLOW_HOME"
        }
        env |= {
            "CARAVAN_HOME": str(home),
            "CARAVAN_SEED": str(SEED),
            "CARAVAN_ALERT_EMAIL_TO": "ops@example.com",
            "OPENAI_API_KEY": OPENAI_KEY,
            "AIRFLOW_CONN_CARAVAN_SLACK": slack_connection(hook, WEBHOOK_TOKEN),
            "AIRFLOW_CONN_CARAVAN_SMTP": smtp_connection(box, SMTP_USER, SMTP_PASSWORD),
        }
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("caravan")),
                "run", "--start", str(CLEAN), "--end", str(PLANTED),
                "--dag", "ingest_google_ads",
                "--plant", f"{NEGATIVE_COST}@{PLANTED}",
            ],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    log = (home / "logs" / "run.log").read_text() if (home / "logs" / "run.log").exists() else ""
    return home, result, log, hook.posts, box


@pytest.fixture(scope="module")
def planted_keys() -> list[tuple[str, str]]:
    """(campaign id, date) of the planted rows the day-2 run reads (its lookback is clean)."""
    truth = planted_records(World(seed=SEED), [PLANTED], Plant(NEGATIVE_COST, PLANTED))
    keys = [tuple(key.split(":")) for key in truth]
    assert keys and all(day == str(PLANTED) for _, day in keys)
    return sorted(keys, key=lambda k: (k[1], int(k[0])))


def test_the_planted_day_fails_at_its_gate_and_the_chain_stops(run):
    home, result, log, _, _ = run
    assert result.returncode == 1, result.stdout + result.stderr + log[-20000:]
    lines = result.stdout.splitlines()
    assert any(f"{CLEAN}  ingest_google_ads" in line and " ok " in line for line in lines)
    assert any(f"{PLANTED}  ingest_google_ads" in line and "FAILED" in line for line in lines)
    assert (
        f"FAILED: ingest_google_ads failed for ds={PLANTED} (tasks: {TASK}, publish)"
    ) in result.stdout
    assert f"{EXPECTATION} on column metrics_costMicros" in log  # the task log names it


def test_nothing_is_published_for_the_planted_day_and_the_clean_day_is_intact(run):
    home, *_ = run
    # A source publishes whole or not at all: its clean entities wait with the bad one.
    for entity in ("campaign_performance", "campaigns", "ad_groups"):
        folder = home / "lake" / "raw" / "google_ads" / entity
        assert (folder / f"ds={CLEAN}" / "_manifest.json").exists(), entity
        assert not (folder / f"ds={PLANTED}" / "_manifest.json").exists(), entity
    manifest = json.loads((partition(home, CLEAN) / "_manifest.json").read_text())
    assert manifest["ds"] == str(CLEAN)
    assert manifest["rows"] == 15  # 5 campaigns × (ds and its 2 lookback days)
    for file in manifest["files"]:
        data = (partition(home, CLEAN) / Path(file["path"]).name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == file["sha256"]


def test_transform_is_not_triggered_for_the_planted_day(run):
    """The raw Asset gets an event (which triggers transform) for the clean day only."""
    home, *_ = run
    with sqlite3.connect(home / "airflow" / "airflow.db") as con:
        keys = con.execute(
            "select e.partition_key from asset_event e join asset a on a.id = e.asset_id"
            " where a.name = 'caravan.raw.google_ads' order by e.partition_key"
        ).fetchall()
    assert keys == [(str(CLEAN),)]


def test_the_gate_recorded_exactly_the_planted_rows(run, planted_keys):
    home, *_ = run
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        [(samples, count)] = con.execute(
            "select sample_keys, unexpected_count from quality.validation_results"
            " where entity = 'campaign_performance' and ds = ? and expectation = ?"
            " and column_name = 'metrics_costMicros'",
            [PLANTED, EXPECTATION],
        ).fetchall()
    assert count == len(planted_keys)
    assert [tuple(str(v)[:10] for v in s.values()) for s in json.loads(samples)] == planted_keys


def test_one_alert_reaches_each_receiver_naming_the_expectation_and_sample_keys(run, planted_keys):
    home, _, log, posts, box = run
    assert len(posts) == 1, posts
    assert len(box.messages) == 1, [m["Subject"] for m in box.messages]
    slack, mail = posts[0]["body"]["text"], box.text(box.messages[0])
    subject = box.messages[0]["Subject"]

    assert subject == f"[Caravan] FAILED: ingest_google_ads.{TASK} ds={PLANTED}"
    assert f"DAG `ingest_google_ads` · task `{TASK}` · ds `{PLANTED}`" in slack
    assert f"DAG:    ingest_google_ads\nTask:   {TASK}\nds:     {PLANTED}\n" in mail
    failure = f"[error] {EXPECTATION} on column metrics_costMicros: {len(planted_keys)} unexpected"
    assert failure in slack and failure in mail
    for campaign_id, _ in planted_keys:
        assert f'"{campaign_id}"' in slack and f'"{campaign_id}"' in mail
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        [(samples,)] = con.execute(
            "select sample_keys from quality.validation_results where ds = ? and expectation = ?"
            " and column_name = 'metrics_costMicros'",
            [PLANTED, EXPECTATION],
        ).fetchall()
    shown = ", ".join(json.dumps(s, sort_keys=True) for s in json.loads(samples))
    assert f"sample keys: {shown}" in mail
    for secret in SECRETS:
        assert secret not in slack + subject + mail
        assert secret not in log
