"""The `file_drop` kind over a local folder: the simulator's GA4 export and the sales-ops
apps' messages, written into a temporary landing folder, read back line by line.

Expected lines, records and malformed lines come from the simulator's own functions
(`web_events`, `sales_ops_messages`, `World.malformed_records`, ...); the CSV drop is
written by hand below.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from caravan.lake import Lake, Partition
from caravan.simulator import write_file_drops
from caravan.simulator.files import (
    sales_ops_file_name,
    sales_ops_lines,
    sales_ops_messages,
    web_analytics_file_name,
    web_analytics_lines,
    web_events,
)
from caravan.simulator.world import World
from caravan.sources import Delivered, SourceError, extract, file_drop
from caravan.sources.ingest import publish, stage
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
RATE = 0.05  # day 1 then has every kind of malformed line in both entities
# The simulator's (id field, typed field) per entity, as the registry declares them.
MALFORMED_FIELDS = {
    "web_analytics/events": ("user_pseudo_id", "event_timestamp", "an epoch_micros"),
    "sales_ops/messages": ("message_id", "occurred_at", "a timestamp"),
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> dict[str, Path]:
    return write_file_drops(tmp_path_factory.mktemp("landing"), WORLD, DAYS)


@pytest.fixture(scope="module")
def malformed_landing(tmp_path_factory) -> dict[str, Path]:
    return write_file_drops(tmp_path_factory.mktemp("malformed"), WORLD, DAYS, RATE)


def read(source, entity, folder: Path | str, ds: str) -> list[Delivered]:
    url = folder.as_uri() if isinstance(folder, Path) else folder
    return list(file_drop.deliveries(source, entity, url, Window.for_run(source, entity, ds)))


def expected_events(day: date) -> list[tuple[str, dict]]:
    """(origin, record) for every line of the day's export, in file order."""
    name = web_analytics_file_name(day)
    return [(f"{name} line {n}", e) for n, e in enumerate(web_events(WORLD, day), start=1)]


def expected_messages(day: date) -> list[tuple[str, dict]]:
    """(origin, record) for every line of the apps' files of `day`, file by file in name
    order (accounting, sales, shipping), line by line."""
    by_app = sales_ops_messages(WORLD, day)
    return [
        (f"{sales_ops_file_name(day, app)} line {n}", message.record())
        for app in sorted(by_app)
        for n, message in enumerate(by_app[app], start=1)
    ]


# --- every line of the day, once ------------------------------------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_every_event_line_of_the_day_is_delivered_once(landing, day):
    delivered = read(WEB, EVENTS, landing["web_analytics"], day.isoformat())
    assert len(delivered) == len(web_events(WORLD, day)) > 0
    assert [d.error for d in delivered] == [None] * len(delivered)
    assert [(d.origin, d.record) for d in delivered] == expected_events(day)


@pytest.mark.parametrize("day", DAYS)
def test_every_message_line_of_the_day_is_delivered_once(landing, day):
    delivered = read(OPS, MESSAGES, landing["sales_ops"], day.isoformat())
    by_app = sales_ops_messages(WORLD, day)
    assert len(delivered) == sum(len(messages) for messages in by_app.values()) > 0
    assert [d.error for d in delivered] == [None] * len(delivered)
    assert [(d.origin, d.record) for d in delivered] == expected_messages(day)
    # At-least-once: a redelivered message comes twice, as the app dropped it.
    copies = Counter(m.message_id for messages in by_app.values() for m in messages)
    assert Counter(d.record["message_id"] for d in delivered) == copies


def test_late_messages_come_with_the_day_they_landed_not_the_day_they_are_about(landing):
    first, second = DAYS
    late = {
        m.message_id
        for messages in sales_ops_messages(WORLD, second).values()
        for m in messages
        if m.fact.occurred_at.date() == first
    }
    assert late  # the day has late messages, so the comparison means something
    on_second = read(OPS, MESSAGES, landing["sales_ops"], second.isoformat())
    on_first = read(OPS, MESSAGES, landing["sales_ops"], first.isoformat())
    late_delivered = [d for d in on_second if d.record["message_id"] in late]
    assert {d.record["message_id"] for d in late_delivered} == late
    for d in late_delivered:
        assert d.origin.startswith(f"{second.isoformat()}/"), d.origin
        assert d.record["occurred_at"].startswith(first.isoformat()), d.record
    assert late.isdisjoint(d.record["message_id"] for d in on_first)


def test_files_of_other_days_and_other_names_are_not_read(landing, tmp_path):
    web = tmp_path / "web_analytics"
    ops = tmp_path / "sales_ops"
    shutil.copytree(landing["web_analytics"], web)
    shutil.copytree(landing["sales_ops"], ops)
    day = DAYS[0]
    decoy = '{"user_pseudo_id":"decoy","event_timestamp":1,"event_name":"decoy"}\n'
    # A writer's half-written temporary file, a backup, a nested folder, another format.
    (web / f".{web_analytics_file_name(day)}.tmp").write_text(decoy)
    (web / f"{web_analytics_file_name(day)}.bak").write_text(decoy)
    (ops / day.isoformat() / ".sales.jsonl.tmp").write_text(decoy)
    (ops / day.isoformat() / "notes.txt").write_text(decoy)
    (ops / day.isoformat() / "archive").mkdir()
    (ops / day.isoformat() / "archive" / "sales.jsonl").write_text(decoy)

    events = read(WEB, EVENTS, web, day.isoformat())
    messages = read(OPS, MESSAGES, ops, day.isoformat())

    assert [(d.origin, d.record) for d in events] == expected_events(day)
    assert [(d.origin, d.record) for d in messages] == expected_messages(day)


def test_a_day_without_files_is_a_late_drop_not_an_empty_day(landing):
    with pytest.raises(
        SourceError, match=r"web_analytics/events: no file matches 'events_20260303"
    ):
        read(WEB, EVENTS, landing["web_analytics"], "2026-03-03")
    with pytest.raises(SourceError, match=r"sales_ops/messages: no file matches '2026-02-28/\*"):
        read(OPS, MESSAGES, landing["sales_ops"], "2026-02-28")


def test_a_lookback_does_not_widen_the_glob(landing):
    """The files glob names ds only; a lookback on the source reads no earlier day's file."""
    web = replace(WEB, lookback_days=1)
    delivered = read(web, EVENTS, landing["web_analytics"], DAYS[1].isoformat())
    assert [(d.origin, d.record) for d in delivered] == expected_events(DAYS[1])


# --- malformed lines go to quarantine, the rest to raw ----------------------------------------


def read_jsonl_gz(lake: Lake, path: str) -> list:
    return [json.loads(line) for line in gzip.decompress(lake.fs.cat_file(path)).splitlines()]


@pytest.mark.parametrize(
    "source, entity, lines",
    [
        (
            WEB,
            EVENTS,
            lambda day: {web_analytics_file_name(day): web_analytics_lines(WORLD, day, RATE)},
        ),
        (OPS, MESSAGES, lambda day: sales_ops_lines(WORLD, day, RATE)),
    ],
    ids=["web_analytics", "sales_ops"],
)
def test_exactly_the_malformed_lines_go_to_quarantine_with_reasons(
    malformed_landing, tmp_path, source, entity, lines
):
    day = DAYS[0]
    ds = day.isoformat()
    name = f"{source.name}/{entity.name}"
    malformed = WORLD.malformed_records([day], RATE)[name]
    assert set(malformed.values()) == {"missing_id", "wrong_type", "bad_json"}
    file_lines = {
        f"{path} line {n}": line
        for path, texts in sorted(lines(day).items())
        for n, line in enumerate(texts, 1)
    }
    id_field, typed_field, typed_as = MALFORMED_FIELDS[name]
    lake = Lake(f"file://{tmp_path / 'lake'}")

    staged = stage(
        lake, source.name, entity, ds, read(source, entity, malformed_landing[source.name], ds)
    )

    assert staged.delivered == len(file_lines)
    assert staged.quarantined == len(malformed)
    assert staged.delivered == staged.rows + staged.quarantined
    [(quarantine_path, quarantine_rows)] = staged.quarantine_files
    rejected = {r["origin"]: r for r in read_jsonl_gz(lake, quarantine_path)}
    assert quarantine_rows == len(rejected) == len(malformed)
    # World names a line `<relative path>:<n>`; the quarantine says `<relative path> line <n>`.
    expected_origins = {
        "{} line {}".format(*key.rsplit(":", 1)): kind for key, kind in malformed.items()
    }
    assert set(rejected) == set(expected_origins)
    for origin, kind in expected_origins.items():
        entry, text = rejected[origin], file_lines[origin]
        assert (entry["source"], entry["entity"], entry["ds"]) == (source.name, entity.name, ds)
        if kind == "bad_json":
            assert entry["reason"].startswith("line is not valid JSON ("), entry
            assert entry["reason"].endswith(")"), entry
            assert entry["record"] == text  # the original text, as it was in the file
        elif kind == "missing_id":
            assert entry["reason"] == f"missing required field {id_field!r}"
            assert entry["record"] == json.loads(text)
            assert id_field not in entry["record"]
        else:
            assert entry["reason"] == f"field {typed_field!r} is 'N/A', not {typed_as}"
            assert entry["record"] == json.loads(text)

    [(raw_path, raw_rows)] = staged.files
    assert raw_rows == staged.rows == len(file_lines) - len(malformed)
    assert read_jsonl_gz(lake, raw_path) == [
        json.loads(text) for origin, text in file_lines.items() if origin not in expected_origins
    ]

    manifest = publish(lake, staged, run_id="run-1")
    assert (manifest.delivered, manifest.rows, manifest.quarantined) == (
        len(file_lines),
        len(file_lines) - len(malformed),
        len(malformed),
    )
    quarantine = lake.read_manifest(Partition("quarantine", source.name, entity.name, ds))
    assert quarantine is not None and quarantine.rows == len(malformed)


def test_without_malformed_lines_nothing_goes_to_quarantine(landing, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    for source, entity in [(WEB, EVENTS), (OPS, MESSAGES)]:
        for day in DAYS:
            ds = day.isoformat()
            staged = stage(
                lake, source.name, entity, ds, read(source, entity, landing[source.name], ds)
            )
            assert staged.quarantined == 0, staged.examples
            assert staged.quarantine_files == []
            assert staged.rows == staged.delivered > 0


# --- CSV drops, from a registry written for the test ------------------------------------------

CSV_REGISTRY = """\
shop_exports:
  kind: file_drop
  conn_id: shop_exports_default
  entities:
    orders:
      files: orders_${ds}.csv
      format: csv
      primary_key: order_id
      required: [order_id, status]
      types: {order_id: integer, quantity: integer, amount: decimal}
"""
CSV_DS = "2026-03-01"
# Written with CRLF, as spreadsheet exports are; line numbers count the header as line 1.
CSV_LINES = [
    "order_id,status,quantity,amount,note",
    '1,placed,2,19.50,"gift, wrapped"',  # line 2: a quoted comma stays in its cell
    "2,shipped,1,5.00",  # line 3: four cells under five headers
    "3,placed,two,7.99,",  # line 4: quantity is no integer
    "",  # line 5: blank, skipped
    '4,delivered,3,0.10,""',  # line 6
    "5,placed,1,1.00,x,extra",  # line 7: six cells
]


@pytest.fixture
def csv_source(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(CSV_REGISTRY)
    source = load_registry(path)["shop_exports"]
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / f"orders_{CSV_DS}.csv").write_bytes("\r\n".join(CSV_LINES).encode() + b"\r\n")
    # Another day's file, and a copy under a name the glob does not match.
    (folder / "orders_2026-03-02.csv").write_text("order_id,status\n99,placed\n")
    (folder / f"orders_{CSV_DS}.csv.bak").write_text("order_id,status\n98,placed\n")
    return source, source.entities["orders"], folder


def test_csv_rows_come_as_dicts_of_strings_and_bad_rows_with_their_cells(csv_source):
    """An empty cell is a missing value (CSV has no null), not an empty string."""
    source, entity, folder = csv_source
    delivered = read(source, entity, folder, CSV_DS)
    name = f"orders_{CSV_DS}.csv"
    header = ["order_id", "status", "quantity", "amount", "note"]
    assert [(d.origin, d.record, d.error) for d in delivered] == [
        (f"{name} line 2", dict(zip(header, ["1", "placed", "2", "19.50", "gift, wrapped"])), None),
        (f"{name} line 3", ["2", "shipped", "1", "5.00"], "row has 4 cells, the header has 5"),
        (f"{name} line 4", dict(zip(header, ["3", "placed", "two", "7.99", None])), None),
        (f"{name} line 6", dict(zip(header, ["4", "delivered", "3", "0.10", None])), None),
        (
            f"{name} line 7",
            ["5", "placed", "1", "1.00", "x", "extra"],
            "row has 6 cells, the header has 5",
        ),
    ]


def test_csv_staging_rejects_wrong_cell_counts_and_wrong_types(csv_source, tmp_path):
    source, entity, folder = csv_source
    lake = Lake(f"file://{tmp_path / 'lake'}")
    staged = stage(lake, source.name, entity, CSV_DS, read(source, entity, folder, CSV_DS))

    assert (staged.delivered, staged.rows, staged.quarantined) == (5, 2, 3)
    name = f"orders_{CSV_DS}.csv"
    rejected = read_jsonl_gz(lake, staged.quarantine_files[0][0])
    assert [(r["origin"], r["reason"], r["record"]) for r in rejected] == [
        (f"{name} line 3", "row has 4 cells, the header has 5", ["2", "shipped", "1", "5.00"]),
        (
            f"{name} line 4",
            "field 'quantity' is 'two', not an integer",
            {
                "order_id": "3",
                "status": "placed",
                "quantity": "two",
                "amount": "7.99",
                "note": None,
            },
        ),
        (
            f"{name} line 7",
            "row has 6 cells, the header has 5",
            ["5", "placed", "1", "1.00", "x", "extra"],
        ),
    ]
    accepted = read_jsonl_gz(lake, staged.files[0][0])
    assert [r["order_id"] for r in accepted] == ["1", "4"]
    # What each field was declared, and the JSON type it came as (CSV: all text).
    assert staged.schema == {
        "amount": "decimal as string",
        "note": "null|string",  # order 4 has no note
        "order_id": "integer as string",
        "quantity": "integer as string",
        "status": "string",
    }


def test_csv_files_of_other_days_are_not_read(csv_source):
    source, entity, folder = csv_source
    [only] = read(source, entity, folder, "2026-03-02")
    assert (only.origin, only.record) == (
        "orders_2026-03-02.csv line 2",
        {"order_id": "99", "status": "placed"},
    )
    with pytest.raises(SourceError, match="no file matches 'orders_2026-03-03.csv'"):
        read(source, entity, folder, "2026-03-03")


def test_a_csv_file_with_only_a_header_or_nothing_delivers_nothing(csv_source):
    source, entity, folder = csv_source
    (folder / "orders_2026-03-04.csv").write_text("order_id,status\r\n")
    (folder / "orders_2026-03-05.csv").write_text("")
    assert read(source, entity, folder, "2026-03-04") == []
    assert read(source, entity, folder, "2026-03-05") == []


# --- the folder from the Airflow connection, and the dispatch by kind ------------------------


def test_the_folder_comes_from_the_connections_extra_path(tmp_path):
    from airflow.sdk import Connection

    local = Connection(conn_id="drops", conn_type="fs", extra=json.dumps({"path": str(tmp_path)}))
    bucket = Connection(conn_id="drops", conn_type="fs", extra='{"path": "gs://drops/web"}')
    assert file_drop.folder_from_connection(local) == f"file://{tmp_path}"
    assert file_drop.folder_from_connection(bucket) == "gs://drops/web"


def test_a_connection_without_a_path_is_refused_naming_it():
    from airflow.sdk import Connection

    with pytest.raises(ValueError, match="'web_analytics_default'.*'path'"):
        file_drop.folder_from_connection(
            Connection(conn_id="web_analytics_default", conn_type="fs")
        )


def test_extract_reads_a_file_drop_through_its_connection(landing):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="web_analytics_default",
        conn_type="fs",
        extra=json.dumps({"path": str(landing["web_analytics"])}),
    )
    day = DAYS[0]
    delivered = list(extract.deliveries(WEB, EVENTS, conn, day.isoformat()))
    assert [(d.origin, d.record) for d in delivered] == expected_events(day)
