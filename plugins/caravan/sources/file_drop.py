"""The `file_drop` kind: files other systems drop in a folder or bucket, found by dlt.

dlt's filesystem source lists the files matching the entity's glob (with the
run's `${ds}` filled in) on any fsspec URL (a local folder, `gs://`); each line
(JSON lines) or row (CSV) is one delivery. A line that is not JSON is still
delivered, with the error, so it lands in quarantine instead of being lost.

A glob stays inside its folder: the registry refuses `..` and absolute globs, and each
match is checked again here (a symlink may point anywhere). Text is read as UTF-8 with
an optional byte-order mark (Excel writes one before a CSV's header). A file that cannot
be read at all (a gzip that does not decompress, bytes that are not UTF-8) fails for
good: the same file fails the same way on every retry.

A day's drop is expected at the end of its data interval and may be late by the source's
`drop_wait_hours`: no file is a `LateDrop` carrying that deadline. The ingest DAG waits
for it until then (caravan.dag_support.failing_at_once reschedules the extract) and
fails for good after, without retries: a file that did not come will not come on a retry.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
import os
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from caravan.sources import Delivered, PermanentSourceError, SourceError, configure_dlt
from caravan.sources.registry import EntitySpec, SourceSpec, unsafe_glob_reason
from caravan.sources.window import Window, fill

# What reading a corrupt or mis-encoded file raises (decompression, decoding, CSV parsing).
_UNREADABLE = (
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    UnicodeDecodeError,
    csv.Error,
)


class LateDrop(SourceError):
    """No file of a day's drop: it may still come until `deadline` (the end of the data
    interval plus the source's `drop_wait_hours`). The message names the source, entity,
    the glob as filled for the day, the folder and when the drop was expected."""

    def __init__(self, message: str, deadline: datetime) -> None:
        super().__init__(message)
        self.deadline = deadline

    def __reduce__(self):  # keep the deadline when the exception crosses processes
        return (type(self), (str(self), self.deadline))


def folder_from_connection(conn: Any) -> str:
    """The landing folder's URL from an Airflow connection: extra `path` (as Airflow's
    File (path) connections hold it), a local path or any fsspec URL such as gs://."""
    path = conn.extra_dejson.get("path")
    if not path:
        raise ValueError(f"connection {conn.conn_id!r}: extra 'path' (the landing folder) is empty")
    return path if "://" in path else f"file://{path}"


def deliveries(
    source: SourceSpec, entity: EntitySpec, folder: str, window: Window
) -> Iterator[Delivered]:
    """Every record in the files the entity's glob matches for the window, file by file
    in name order, line by line. No file at all is a `LateDrop`, never an empty day."""
    configure_dlt()
    import fsspec
    from dlt.sources.filesystem import filesystem

    where = f"{source.name}/{entity.name}"
    file_glob = fill(entity.files, window.placeholders(), f"{where}: files")
    unsafe = unsafe_glob_reason(file_glob)
    if unsafe:  # refused by the registry already, unless a spec was built by hand
        raise PermanentSourceError(f"{where}: files {file_glob!r} {unsafe}")
    try:
        # The lake's filesystem (gcsfs finds credentials as the lake does), so dlt need not
        # resolve credentials from its own config.
        fs, _ = fsspec.core.url_to_fs(folder)
        files = filesystem(bucket_url=folder, credentials=fs, file_glob=file_glob)
        listed = sorted(files, key=lambda item: item["relative_path"])
    except Exception as error:
        raise SourceError(f"{where}: listing {folder}/{file_glob} failed: {error}") from error
    if not listed:  # a drop that has not arrived: wait for it, never publish nothing
        raise _late(where, file_glob, folder, window, source.drop_wait)
    for item in listed:  # every match checked before any is read
        _check_inside(where, folder, item, local="file" in fs.protocol)
    read = _jsonl_records if entity.format == "jsonl" else _csv_records
    for item in listed:
        name = item["relative_path"]
        try:
            with item.open(mode="rb", compression="auto") as handle:
                # utf-8-sig: a byte-order mark is not part of the first header or record.
                text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
                yield from read(text, name)
        except _UNREADABLE as error:
            raise PermanentSourceError(
                f"{where}: {name} in {folder} cannot be read, not retried (a corrupt or"
                f" mis-encoded file; replace it and run ds={window.ds} again):"
                f" {type(error).__name__}: {error}"
            ) from error


def _late(where: str, file_glob: str, folder: str, window: Window, wait: timedelta) -> LateDrop:
    expected = window.end_at  # a day's drop can hold the whole day only once it is over
    deadline = expected + wait
    return LateDrop(
        f"{where}: no file matches {file_glob!r} in {folder} for ds={window.ds}; the drop"
        f" was expected at {_moment(expected)} (the end of its data interval) and may be"
        f" late until {_moment(deadline)} (drop_wait_hours: {wait / timedelta(hours=1):g})",
        deadline,
    )


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _check_inside(where: str, folder: str, item: Any, local: bool) -> None:
    """A match must be inside the folder, also once its symlinks are resolved."""
    name = item["relative_path"]
    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise PermanentSourceError(f"{where}: {name!r} is outside {folder}; not read")
    if not local:  # object stores have no symlinks
        return
    from dlt.common.storages.configuration import FilesystemConfiguration

    local_folder = (
        folder if "://" not in folder else FilesystemConfiguration.make_local_path(folder)
    )
    root = os.path.realpath(local_folder)
    target = os.path.realpath(FilesystemConfiguration.make_local_path(item["file_url"]))
    if os.path.commonpath([root, target]) != root:
        raise PermanentSourceError(
            f"{where}: {name} in {folder} resolves to {target}, outside the folder; not read"
        )


def _jsonl_records(text: io.TextIOBase, name: str) -> Iterator[Delivered]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        origin = f"{name} line {number}"
        try:
            yield Delivered(json.loads(line), origin)
        except json.JSONDecodeError as error:  # the position is in `origin`; keep reasons few
            yield Delivered(line.rstrip("\n"), origin, f"line is not valid JSON ({error.msg})")


def _csv_records(text: io.TextIOBase, name: str) -> Iterator[Delivered]:
    """Rows as {header: value}, empty cells as null; a row with more or fewer cells than the
    header is kept whole (as its cells) and rejected."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    for row in reader:
        if not row:
            continue
        origin = f"{name} line {reader.line_num}"
        if len(row) != len(header):
            yield Delivered(row, origin, f"row has {len(row)} cells, the header has {len(header)}")
        else:
            # CSV has no null: an empty cell is a missing value, not an empty string.
            cells = zip(header, row, strict=True)
            record = {name: (cell if cell != "" else None) for name, cell in cells}
            yield Delivered(record, origin)
