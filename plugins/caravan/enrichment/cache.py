"""Labels already paid for, kept in the lake: `{lake}/cache/enrichment/<kind>/*.parquet`.

An entry's key is the sha256 of (kind, prompt version, model, text): the same text asked
the same way of the same model gets the same labels without a call, on a rerun, a backfill
or another day. Each run that paid for labels adds one file, written whole (under a
temporary name, then renamed; an object write on a bucket is whole anyway); a lookup reads
them all. Deleting the folder only costs calls: nothing else depends on it.

The model in the key is the one asked (settings.openai_model); the entry keeps the one
that answered (`labelled_by`).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re

from caravan.enrichment.labels import Kind, Label
from caravan.lake import Lake

CACHE_FOLDER = "cache/enrichment"


def cache_key(kind: Kind, prompt_version: str, model: str, text: str) -> str:
    return hashlib.sha256(json.dumps([kind.name, prompt_version, model, text]).encode()).hexdigest()


class LabelCache:
    """The cache of one kind of text in one lake."""

    def __init__(self, lake: Lake, kind: Kind):
        self.lake = lake
        self.kind = kind
        self.folder = f"{lake.root}/{CACHE_FOLDER}/{kind.name}"

    def files(self) -> list[str]:
        return sorted(self.lake.fs.glob(f"{self.folder}/*.parquet"))

    def load(self) -> dict[str, Label]:
        """Every entry: key → labels (files in name order; a later one wins a repeat)."""
        import pyarrow.parquet as pq

        entries: dict[str, Label] = {}
        for path in self.files():
            table = pq.read_table(io.BytesIO(self.lake.fs.cat_file(path)))
            for row in table.to_pylist():
                entries[row["cache_key"]] = Label(
                    sentiment=row["sentiment"],
                    topics=tuple(row["topics"]),
                    language=row["language"],
                    labelled_by=row["labelled_by"],
                )
        return entries

    def add(self, entries: dict[str, Label], run_id: str) -> str | None:
        """Write `entries` as one new file; returns its path (None when there are none)."""
        if not entries:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        keys = sorted(entries)
        table = pa.table(
            {
                "cache_key": keys,
                "sentiment": [entries[key].sentiment for key in keys],
                "topics": pa.array(
                    [list(entries[key].topics) for key in keys], pa.list_(pa.string())
                ),
                "language": [entries[key].language for key in keys],
                "labelled_by": [entries[key].labelled_by for key in keys],
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        data = buffer.getvalue()
        name = f"{_safe(run_id)}-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
        path = f"{self.folder}/{name}"
        self.lake.fs.makedirs(self.folder, exist_ok=True)
        self.lake.fs.pipe_file(f"{path}.tmp", data)
        self.lake.fs.mv(f"{path}.tmp", path)
        return path


def _safe(run_id: str) -> str:
    """A run id as a file name part (Airflow's hold ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", posixpath.basename(run_id))[:80] or "run"
