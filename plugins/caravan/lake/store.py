"""Reading and writing partitions, on a local folder or a bucket (fsspec)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import fsspec

from caravan.lake.manifest import FileEntry, Manifest

ZONES = ("raw", "curated", "quarantine")
DS_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Partition:
    """One `ds` of one entity in one zone; `source` is the domain in `curated`."""

    zone: str
    source: str
    entity: str
    ds: str

    def __post_init__(self) -> None:
        if self.zone not in ZONES:
            raise ValueError(f"unknown lake zone {self.zone!r}: expected one of {ZONES}")
        if not DS_PATTERN.fullmatch(self.ds):
            raise ValueError(f"ds {self.ds!r} is not a date written YYYY-MM-DD")
        date.fromisoformat(self.ds)  # and a real one (no 2026-02-30)

    @property
    def relpath(self) -> str:
        return f"{self.zone}/{self.source}/{self.entity}/ds={self.ds}"

    def __str__(self) -> str:
        return f"{self.relpath}"


def date_range(start: str, end: str) -> list[str]:
    """Every `ds` from `start` to `end`, both included, oldest first."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


class Lake:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.root = self.root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return "file" in self.fs.protocol or "local" in self.fs.protocol

    def path(self, partition: Partition) -> str:
        return f"{self.root}/{partition.relpath}"

    def staging_path(self, partition: Partition) -> str:
        """Where unpublished writes of a partition go (`staging` zone)."""
        return f"{self.root}/staging/{partition.relpath}"

    @contextmanager
    def local_files(self, paths: list[str]) -> Iterator[list[str]]:
        """The files as local paths for DuckDB: as they are on a local lake; on a bucket,
        copies in a temporary folder for the block (one partition at a time).

        Copying beats DuckDB's fsspec hook, whose reads through gcsfs's event loop
        can leave that loop waiting forever (seen with fsspec 2026.9's prefetcher).
        """
        if self.is_local:
            yield list(paths)
            return
        with tempfile.TemporaryDirectory(prefix="caravan-lake-") as folder:
            local = [f"{folder}/{n:05d}-{posixpath.basename(p)}" for n, p in enumerate(paths)]
            for remote, copy in zip(paths, local, strict=True):
                self.fs.get_file(remote, copy)
            yield local

    def reader_url(self, path: str) -> str:
        """A path as DuckDB or Spark take it: a plain path locally, `gs://…` on a bucket."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    # -- writing -------------------------------------------------------------

    def write_jsonl_gz(self, folder: str, name: str, records: Iterable[dict]) -> tuple[str, int]:
        """Write records as gzip JSON lines; returns (path, rows).

        gzip's mtime is fixed so the same records give the same bytes (and sha256)
        on every rerun.
        """
        buffer = io.BytesIO()
        rows = 0
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
            for record in records:
                out.write(json.dumps(record, sort_keys=True, default=str).encode())
                out.write(b"\n")
                rows += 1
        path = f"{folder}/{name}"
        self.fs.makedirs(folder, exist_ok=True)
        self.fs.pipe_file(path, buffer.getvalue())
        return path, rows

    def clear(self, folder: str) -> None:
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def publish(
        self,
        partition: Partition,
        staged: list[tuple[str, int]],
        *,
        run_id: str,
        delivered: int,
        quarantined: int,
        schema: dict[str, str],
        producer: str,
    ) -> Manifest:
        """Move staged files into the partition and write its manifest last.

        The manifest is worked out (and its counts checked) before anything
        published is touched. Then the old manifest goes first, so while files
        change the partition is absent to readers, never partial; a rerun
        replaces the partition whole.
        """
        final = self.path(partition)
        names = [f"part-{i:05d}{_suffix(path)}" for i, (path, _) in enumerate(sorted(staged))]
        entries = [
            FileEntry(name, rows, *_size_and_sha256(self.fs.cat_file(path)))
            for name, (path, rows) in zip(names, sorted(staged), strict=True)
        ]
        manifest = Manifest(
            run_id=run_id,
            source=partition.source,
            entity=partition.entity,
            ds=partition.ds,
            files=entries,
            delivered=delivered,
            rows=sum(e.rows for e in entries),
            quarantined=quarantined,
            schema=schema,
            producer=producer,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        manifest_path = f"{final}/{MANIFEST}"
        if self.fs.exists(manifest_path):
            self.fs.rm(manifest_path)
        self.fs.makedirs(final, exist_ok=True)
        for name, (path, _) in zip(names, sorted(staged), strict=True):
            self.fs.copy(path, f"{final}/{name}")
        for stale in self.fs.ls(final, detail=False):
            if posixpath.basename(stale) not in names:
                self.fs.rm(stale, recursive=True)
        self.fs.pipe_file(f"{manifest_path}.tmp", manifest.to_json().encode())
        self.fs.mv(f"{manifest_path}.tmp", manifest_path)
        for path, _ in staged:
            self.fs.rm(path)
        self.clear(self.staging_path(partition))  # what else the writer left (_SUCCESS, .crc)
        return manifest

    # -- reading -------------------------------------------------------------

    def read_manifest(self, partition: Partition) -> Manifest | None:
        path = f"{self.path(partition)}/{MANIFEST}"
        if not self.fs.exists(path):
            return None
        return Manifest.from_json(self.fs.cat_file(path).decode())

    def published_files(self, partition: Partition) -> list[str]:
        """Reader URLs of a published partition's files, checked against its manifest;
        [] when it is not published."""
        manifest = self.read_manifest(partition)
        if manifest is None:
            return []
        return self.verified_files(partition, manifest)

    def published(self, partition: Partition) -> tuple[Manifest, list[str]]:
        """A published partition's manifest and its files' reader URLs, checked against it;
        FileNotFoundError when the partition is not published."""
        manifest = self.read_manifest(partition)
        if manifest is None:
            raise FileNotFoundError(f"{self.location(partition)} is not published")
        return manifest, self.verified_files(partition, manifest)

    def verified_files(self, partition: Partition, manifest: Manifest) -> list[str]:
        """Reader URLs of the files `manifest` lists, once each is found to have the size
        and sha256 the manifest recorded at publishing (`PartitionCorrupt` otherwise).

        Every reader of a published partition comes through here: a file rewritten,
        truncated or removed after publishing is a named failure, never data. The hash
        covers the row count the manifest records too, for the bytes are the ones it
        was counted from. The files are fetched in one call (concurrently on a bucket).
        """
        folder = self.path(partition)
        paths = [f"{folder}/{entry.path}" for entry in manifest.files]
        found = self.fs.cat(paths, on_error="return") if paths else {}
        found = {self.fs._strip_protocol(path): data for path, data in found.items()}
        problems = [
            problem
            for entry, path in zip(manifest.files, paths, strict=True)
            if (problem := file_mismatch(entry, found.get(self.fs._strip_protocol(path))))
        ]
        if problems:
            raise PartitionCorrupt(self.location(partition), problems)
        return [self.reader_url(path) for path in paths]

    def check_rows(self, partition: Partition, manifest: Manifest, rows: int, reader: str) -> None:
        """Fail when a reader (a load, a reconciliation) found another number of rows in a
        published partition than its manifest records."""
        if rows != manifest.rows:
            raise PartitionCorrupt(
                self.location(partition),
                [f"{reader} read {rows} rows, the manifest records {manifest.rows}"],
            )

    def location(self, partition: Partition) -> str:
        """The partition as people find it: the lake's URL and the partition's path."""
        return f"{self.url}/{partition.relpath}"

    def published_dates(self, zone: str, source: str, entity: str) -> list[str]:
        pattern = f"{self.root}/{zone}/{source}/{entity}/ds=*/{MANIFEST}"
        return sorted(posixpath.basename(posixpath.dirname(p))[3:] for p in self.fs.glob(pattern))


class PartitionCorrupt(RuntimeError):
    """A published partition whose files differ from what its manifest recorded."""

    def __init__(self, location: str, problems: list[str]):
        self.location = location
        self.problems = problems
        super().__init__(
            f"{location} does not match its {MANIFEST}: "
            + "; ".join(problems)
            + ". The partition changed after it was published: nothing was read from it."
            " Publish it again by rerunning its producer for this ds (docs/reliability.md)."
        )


def file_mismatch(entry: FileEntry, data: bytes | Exception | None) -> str | None:
    """How a file's bytes differ from its manifest entry, or None when they match."""
    if data is None or isinstance(data, Exception):
        return f"{entry.path} is missing"
    size, sha256 = _size_and_sha256(data)
    if size != entry.bytes:
        return f"{entry.path} has {size} bytes, the manifest {entry.bytes}"
    if sha256 != entry.sha256:
        return f"{entry.path} has sha256 {sha256[:12]}…, the manifest {entry.sha256[:12]}…"
    return None


def _size_and_sha256(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def _suffix(path: str) -> str:
    for suffix in (".jsonl.gz", ".parquet"):
        if path.endswith(suffix):
            return suffix
    return posixpath.splitext(path)[1]
