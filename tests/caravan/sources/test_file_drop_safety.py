"""The `file_drop` kind's hygiene, over files written here: a glob stays inside its folder
(even through a symlink), a byte-order mark is no part of the data, and a file that cannot
be read fails for good (PermanentSourceError) naming the source, entity and file."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest

from caravan.lake import Lake
from caravan.sources import PermanentSourceError, SourceError, file_drop
from caravan.sources.ingest import stage
from caravan.sources.registry import SourceSpec, load_registry
from caravan.sources.window import Window

DS = "2026-03-01"
REGISTRY = """\
drop:
  kind: file_drop
  conn_id: drop_default
  entities:
    rows:
      files: rows_${ds}.jsonl.gz
      primary_key: id
    orders:
      files: orders_${ds}.csv
      format: csv
      primary_key: order_id
      required: [order_id, status]
    events:
      files: events_${ds}.jsonl
      primary_key: id
"""


@pytest.fixture
def source(tmp_path) -> SourceSpec:
    path = tmp_path / "sources.yaml"
    path.write_text(REGISTRY)
    return load_registry(path)["drop"]


@pytest.fixture
def folder(tmp_path) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir()
    return landing


def read(source: SourceSpec, entity: str, folder: Path) -> list:
    spec = source.entities[entity]
    return list(
        file_drop.deliveries(source, spec, folder.as_uri(), Window.for_run(source, spec, DS))
    )


# -- inside the folder -----------------------------------------------------------------------


def test_a_glob_climbing_out_is_refused_before_anything_is_listed(source, folder, tmp_path):
    # The registry refuses it; a spec built by hand meets the reader's own check.
    (tmp_path / "passwd").write_text('{"id": "root"}\n')
    climbing = dataclasses.replace(source.entities["events"], files="../passwd")
    source = dataclasses.replace(source, entities={"events": climbing})

    with pytest.raises(PermanentSourceError) as raised:
        read(source, "events", folder)
    assert str(raised.value) == (
        "drop/events: files '../passwd' climbs out of the connection's folder with '..'"
    )


def test_an_absolute_glob_is_refused(source, folder, tmp_path):
    (tmp_path / "passwd").write_text('{"id": "root"}\n')
    absolute = dataclasses.replace(source.entities["events"], files=str(tmp_path / "passwd"))
    source = dataclasses.replace(source, entities={"events": absolute})

    with pytest.raises(PermanentSourceError, match=r"^drop/events: files '/.*' is absolute"):
        read(source, "events", folder)


def test_a_symlink_out_of_the_folder_is_refused_naming_where_it_points(source, folder, tmp_path):
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"id": "secret"}\n')
    (folder / f"events_{DS}.jsonl").symlink_to(outside)

    with pytest.raises(PermanentSourceError) as raised:
        read(source, "events", folder)
    assert str(raised.value) == (
        f"drop/events: events_{DS}.jsonl in {folder.as_uri()} resolves to {outside.resolve()},"
        " outside the folder; not read"
    )


def test_a_symlink_inside_the_folder_is_read(source, folder):
    (folder / "archive").mkdir()
    (folder / "archive" / "day.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    (folder / f"events_{DS}.jsonl").symlink_to(folder / "archive" / "day.jsonl")

    delivered = read(source, "events", folder)
    assert [(d.record, d.origin, d.error) for d in delivered] == [
        ({"id": 1}, f"events_{DS}.jsonl line 1", None),
        ({"id": 2}, f"events_{DS}.jsonl line 2", None),
    ]


# -- a byte-order mark -----------------------------------------------------------------------


def test_a_csv_with_a_byte_order_mark_reads_its_first_header_by_name(source, folder, tmp_path):
    # Excel's "CSV UTF-8": a BOM, then the header, CRLF line ends.
    (folder / f"orders_{DS}.csv").write_bytes(
        b"\xef\xbb\xbforder_id,status\r\n1,placed\r\n2,shipped\r\n"
    )

    delivered = read(source, "orders", folder)
    assert [d.record for d in delivered] == [
        {"order_id": "1", "status": "placed"},
        {"order_id": "2", "status": "shipped"},
    ]
    lake = Lake((tmp_path / "lake").as_uri())
    staged = stage(lake, "drop", source.entities["orders"], DS, delivered)
    assert (staged.delivered, staged.rows, staged.quarantined) == (2, 2, 0)


def test_a_json_lines_file_with_a_byte_order_mark_reads_its_first_line(source, folder):
    (folder / f"events_{DS}.jsonl").write_bytes(b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n')

    assert [(d.record, d.error) for d in read(source, "events", folder)] == [
        ({"id": 1}, None),
        ({"id": 2}, None),
    ]


# -- files that cannot be read ---------------------------------------------------------------

LINES = b'{"id": 1}\n' * 1000


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"this is no gzip\n", "BadGzipFile: Not a gzipped file (b'th')"),
        (
            gzip.compress(LINES)[: len(gzip.compress(LINES)) // 2],
            "EOFError: Compressed file ended before the end-of-stream marker was reached",
        ),
    ],
    ids=["not_gzip", "truncated"],
)
def test_a_gzip_that_does_not_decompress_fails_for_good_naming_the_file(
    source, folder, content, error
):
    (folder / f"rows_{DS}.jsonl.gz").write_bytes(content)

    with pytest.raises(PermanentSourceError) as raised:
        read(source, "rows", folder)
    assert str(raised.value) == (
        f"drop/rows: rows_{DS}.jsonl.gz in {folder.as_uri()} cannot be read, not retried"
        f" (a corrupt or mis-encoded file; replace it and run ds={DS} again): {error}"
    )


def test_a_file_that_is_not_utf8_fails_for_good_naming_the_byte(source, folder):
    (folder / f"orders_{DS}.csv").write_bytes(
        "order_id,status\n1,exp\xe9di\xe9\n".encode("latin-1")
    )

    with pytest.raises(PermanentSourceError) as raised:
        read(source, "orders", folder)
    assert str(raised.value).endswith(
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 in position 21:"
        " invalid continuation byte"
    )


def test_a_late_drop_is_no_permanent_error(source, folder):
    # No file yet: the drop may still come, so Airflow's retries stay.
    with pytest.raises(SourceError) as raised:
        read(source, "events", folder)
    assert not isinstance(raised.value, PermanentSourceError)
