"""One enrichment run for one kind of text and one `ds`: write, then publish.

`label_partition` reads the typed copy `curated/<source>/<entity>/ds=…` and the backlog
(texts an earlier run's budget left), labels each record (the cache, then the model; or
the offline classifier when no model is configured) and stages:
- the labels, one row per record, for `curated/enrichment/<kind>_labels/ds=…`;
- the records whose answers stayed malformed, with the reason, for `quarantine/…`;
- the backlog as it will be after this run: what the budget deferred, oldest first;
- the run's summary (`_summary.json`).
A gate may audit the staged labels; `publish_partition` then publishes them with their
manifest last (delivered = rows + quarantined: what this run took on and settled), the
quarantine beside it, and replaces the backlog. `enrich_partition` does both.

The backlog is a single file per kind, `{lake}/backlog/enrichment/<dataset>/backlog.parquet`,
read by whichever run comes next (runs of the enrich DAG do not overlap). It is replaced
after the labels are published: a crash in between leaves records in it that were already
labelled, which the next run labels again from the cache, never a record lost.

Labels' `topics` are one comma-separated string, most important first (`primary_topic`
holds the first): text loads the same into DuckDB, Snowflake and BigQuery, where a
Parquet list would not. There is no `ds` column: the warehouse load adds it.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from caravan.enrichment import offline
from caravan.enrichment.cache import LabelCache, cache_key
from caravan.enrichment.labels import PROMPT_VERSION, Kind, Label, kind_of, text_of, text_sha256
from caravan.enrichment.model import (
    BATCH_SIZE,
    MAX_ATTEMPTS,
    MAX_RETRIES,
    TIMEOUT_SECONDS,
    Budget,
    ModelUnavailable,
    OpenAILabeller,
    Outcome,
    client_for,
)
from caravan.lake import Lake, Partition
from caravan.settings import Settings

log = logging.getLogger(__name__)

DOMAIN = "enrichment"
PRODUCER = "caravan.enrichment"
SUMMARY = "_summary.json"
BACKLOG_FOLDER = "backlog/enrichment"


@dataclass(frozen=True)
class TextRecord:
    key: Any  # the record's key, as the typed copy holds it
    text: str
    source_ds: str  # the typed copy's ds it came from


def labels_partition(kind: Kind, ds: str) -> Partition:
    return Partition("curated", DOMAIN, kind.dataset, ds)


def quarantine_partition(kind: Kind, ds: str) -> Partition:
    return Partition("quarantine", DOMAIN, kind.dataset, ds)


def staged_labels(lake: Lake, kind: Kind, ds: str) -> str:
    """The labels `label_partition` staged for `ds` (one Parquet file), for a gate to audit."""
    return f"{lake.staging_path(labels_partition(kind, ds))}/part-00000.parquet"


def staged_summary(lake: Lake, kind: Kind, ds: str) -> dict:
    """The summary `label_partition` staged for `ds`; raises naming the partition if none."""
    partition = labels_partition(kind, ds)
    path = f"{lake.staging_path(partition)}/{SUMMARY}"
    if not lake.fs.exists(path):
        raise FileNotFoundError(
            f"{lake.location(partition)}: nothing staged to publish (run label_partition first)"
        )
    return json.loads(lake.fs.cat_file(path))


def backlog_path(lake: Lake, kind: Kind) -> str:
    return f"{lake.root}/{BACKLOG_FOLDER}/{kind.dataset}/backlog.parquet"


def staged_backlog_path(lake: Lake, kind: Kind, ds: str) -> str:
    return f"{lake.root}/staging/{BACKLOG_FOLDER}/{kind.dataset}/ds={ds}/backlog.parquet"


# -- pure parts ---------------------------------------------------------------------------


def records_to_label(
    backlog: Iterable[TextRecord], typed: Iterable[TextRecord]
) -> list[TextRecord]:
    """The backlog first, then the partition's records; a key in both keeps its latest
    text (the greater source ds; the partition's on a tie), in the backlog's place."""
    chosen: dict[str, TextRecord] = {}
    for record in [*backlog, *typed]:
        known = chosen.get(str(record.key))
        if known is None or record.source_ds >= known.source_ds:
            chosen[str(record.key)] = record
    return list(chosen.values())


def text_records(kind: Kind, rows: Iterable[dict], ds: str) -> tuple[list[TextRecord], dict]:
    """The typed copy's rows as texts to label, and {row number: reason} for rows that
    cannot be (no key, no text)."""
    records, rejected = [], {}
    for number, row in enumerate(rows, start=1):
        key = row.get(kind.record_key)
        text = text_of(row)
        if key is None:
            rejected[number] = (
                row,
                f"{kind.name} record {number}: field {kind.record_key} is empty",
            )
        elif not text:
            rejected[number] = (
                row,
                f"{kind.name} {kind.record_key} {key}: fields title and body are empty,"
                " no text to label",
            )
        else:
            records.append(TextRecord(key, text, ds))
    return records, rejected


def check_columns(kind: Kind, columns: list[str], where: str) -> None:
    """The typed copy must hold the key and a text field to label."""
    if kind.record_key not in columns:
        raise ValueError(f"{where}: no field {kind.record_key!r} (the {kind.name}' key)")
    if not {"title", "body"} & set(columns):
        raise ValueError(f"{where}: neither a 'title' nor a 'body' field: no text to label")


def label_row(kind: Kind, record: TextRecord, label: Label, version: str) -> dict:
    return {
        kind.key_column: record.key,
        "sentiment": label.sentiment,
        "topics": ",".join(label.topics),
        "primary_topic": label.topics[0] if label.topics else None,
        "language": label.language,
        "labelled_by": label.labelled_by,
        "prompt_version": version,
        "text_sha256": text_sha256(record.text),
        "source_ds": date.fromisoformat(record.source_ds),
    }


# -- labelling ----------------------------------------------------------------------------


@dataclass
class Labelled:
    labels: dict[str, Label]  # str(key) → labels
    quarantined: dict[str, str]  # str(key) → reason
    deferred: list[str]  # str(key), in order
    from_cache: int
    calls: int
    tokens: int
    version: str  # prompt_version of the rows


def label_offline(kind: Kind, records: list[TextRecord]) -> Labelled:
    labels = {str(record.key): offline.classify(kind, record.text) for record in records}
    return Labelled(labels, {}, [], 0, 0, 0, offline.VERSION)


def label_with_model(
    settings: Settings,
    lake: Lake,
    kind: Kind,
    records: list[TextRecord],
    run_id: str,
    *,
    batch_size: int,
    max_attempts: int,
    max_retries: int,
    timeout: float,
) -> Labelled:
    """Cache first; the texts it lacks (each distinct text once) go to the model within
    the budget; what the model labelled joins the cache, even when the run then fails."""
    model = settings.openai_model
    cache = LabelCache(lake, kind)
    known = cache.load()
    keys = {str(r.key): cache_key(kind, PROMPT_VERSION, model, r.text) for r in records}
    asked: dict[str, tuple[str, str]] = {}  # cache key → (id sent, text), first record's
    for record in records:
        if keys[str(record.key)] not in known:
            asked.setdefault(keys[str(record.key)], (str(record.key), record.text))
    from_cache = sum(1 for record in records if keys[str(record.key)] in known)
    labeller = OpenAILabeller(
        client_for(settings, max_retries=max_retries, timeout=timeout),
        model,
        kind,
        batch_size=batch_size,
        max_attempts=max_attempts,
    )
    key_of_id = {item_id: key for key, (item_id, _) in asked.items()}
    try:
        outcome = labeller.label(list(asked.values()), Budget(settings.enrich_token_budget))
    except ModelUnavailable as error:
        cache.add(_new_entries(error.partial, key_of_id), run_id)
        raise
    cache.add(_new_entries(outcome, key_of_id), run_id)
    by_key = {**known, **_new_entries(outcome, key_of_id)}
    quarantined_keys = {key_of_id[i]: reason for i, reason in outcome.quarantined.items()}
    deferred_keys = {key_of_id[i] for i in outcome.deferred}
    labels, quarantined, deferred = {}, {}, []
    for record in records:
        item_id, key = str(record.key), keys[str(record.key)]
        if key in by_key:
            labels[item_id] = by_key[key]
        elif key in quarantined_keys:
            quarantined[item_id] = quarantined_keys[key]
        elif key in deferred_keys:
            deferred.append(item_id)
        else:  # the labeller settles every text it is given
            raise AssertionError(
                f"{kind.name} {item_id}: neither labelled, quarantined nor deferred"
            )
    return Labelled(
        labels, quarantined, deferred, from_cache, outcome.calls, outcome.tokens, PROMPT_VERSION
    )


def _new_entries(outcome: Outcome, key_of_id: dict[str, str]) -> dict[str, Label]:
    return {key_of_id[item_id]: label for item_id, label in outcome.labels.items()}


# -- the steps ----------------------------------------------------------------------------


def label_partition(
    settings: Settings,
    kind: str,
    ds: str,
    run_id: str,
    *,
    batch_size: int = BATCH_SIZE,
    max_attempts: int = MAX_ATTEMPTS,
    max_retries: int = MAX_RETRIES,
    timeout: float = TIMEOUT_SECONDS,
) -> dict:
    """Label the typed copy of `ds` (and the backlog) and stage the results; returns the
    run's summary. `kind` is `reviews`/`issues` (or the dataset, `review_labels`)."""
    spec = kind_of(kind)
    lake = Lake(settings.lake_url)
    typed = Partition("curated", spec.source, spec.entity, ds)
    manifest, files = lake.published(typed)
    table = _read_parquet(lake, files)
    lake.check_rows(typed, manifest, table.num_rows, f"enrichment of {spec.name}")
    check_columns(spec, table.column_names, lake.location(typed))
    key_type = table.schema.field(spec.record_key).type
    from_ds, rejected = text_records(spec, table.to_pylist(), ds)
    backlog = read_backlog(lake, spec)
    records = records_to_label(backlog, from_ds)
    if settings.language_model is None:
        labelled = label_offline(spec, records)
    else:
        labelled = label_with_model(
            settings,
            lake,
            spec,
            records,
            run_id,
            batch_size=batch_size,
            max_attempts=max_attempts,
            max_retries=max_retries,
            timeout=timeout,
        )
    by_id = {str(record.key): record for record in records}
    rows = [
        label_row(spec, by_id[item_id], labelled.labels[item_id], labelled.version)
        for item_id in (str(record.key) for record in records)
        if item_id in labelled.labels
    ]
    quarantine_rows = [
        _quarantine_row(spec, by_id[item_id], reason)
        for item_id, reason in labelled.quarantined.items()
    ] + [
        _quarantine_row(spec, TextRecord(row.get(spec.record_key), text_of(row), ds), reason)
        for row, reason in rejected.values()
    ]
    deferred = [by_id[item_id] for item_id in labelled.deferred]
    summary = {
        "kind": spec.name,
        "dataset": spec.dataset,
        "ds": ds,
        "run_id": run_id,
        "records": len(from_ds) + len(rejected),
        "from_backlog": sum(1 for record in records if record.source_ds != ds),
        "labelled": len(rows),
        "from_cache": labelled.from_cache,
        "model_calls": labelled.calls,
        "tokens": labelled.tokens,
        "deferred": len(deferred),
        "quarantined": len(quarantine_rows),
        "labelled_by": sorted({row["labelled_by"] for row in rows}),
        "prompt_version": labelled.version,
    }
    _stage(lake, spec, ds, key_type, rows, quarantine_rows, deferred, summary)
    log.info("%s ds=%s: %s", spec.name, ds, summary)
    return summary


def publish_partition(settings: Settings, kind: str, ds: str, run_id: str) -> dict:
    """Publish what `label_partition` staged for `ds`: quarantine, labels (manifest last),
    then the backlog. Returns the summary."""
    spec = kind_of(kind)
    lake = Lake(settings.lake_url)
    partition = labels_partition(spec, ds)
    summary = staged_summary(lake, spec, ds)
    quarantined = _publish_quarantine(lake, spec, ds, run_id)
    staged = staged_labels(lake, spec, ds)
    schema = _parquet_schema(lake, staged)
    lake.publish(
        partition,
        [(staged, summary["labelled"])],
        run_id=run_id,
        delivered=summary["labelled"] + quarantined,
        quarantined=quarantined,
        schema=schema,
        producer=PRODUCER,
    )
    staged_backlog = staged_backlog_path(lake, spec, ds)
    final_backlog = backlog_path(lake, spec)
    lake.fs.makedirs(final_backlog.rsplit("/", 1)[0], exist_ok=True)
    lake.fs.pipe_file(f"{final_backlog}.tmp", lake.fs.cat_file(staged_backlog))
    lake.fs.mv(f"{final_backlog}.tmp", final_backlog)
    lake.clear(staged_backlog.rsplit("/", 1)[0])
    return summary


def enrich_partition(settings: Settings, kind: str, ds: str, run_id: str, **options: Any) -> dict:
    """Label and publish one kind's partition for `ds` (no gate in between); the summary:
    labelled, from_cache, model_calls, tokens, deferred, quarantined, labelled_by, …"""
    label_partition(settings, kind, ds, run_id, **options)
    return publish_partition(settings, kind, ds, run_id)


# -- lake I/O -----------------------------------------------------------------------------


def read_backlog(lake: Lake, kind: Kind) -> list[TextRecord]:
    """The texts earlier runs deferred, oldest first ([] when there are none)."""
    path = backlog_path(lake, kind)
    if not lake.fs.exists(path):
        return []
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(lake.fs.cat_file(path)))
    return [
        TextRecord(row[kind.key_column], row["text"], row["source_ds"].isoformat())
        for row in table.to_pylist()
    ]


def _read_parquet(lake: Lake, files: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(lake.fs.cat_file(path))) for path in files]
    if not tables:
        raise ValueError("a published typed copy without files")
    return pa.concat_tables(tables, promote_options="default")


def _quarantine_row(kind: Kind, record: TextRecord, reason: str) -> dict:
    return {
        kind.key_column: record.key,
        "text": record.text,
        "source_ds": date.fromisoformat(record.source_ds),
        "reason": reason,
    }


def _stage(
    lake: Lake,
    kind: Kind,
    ds: str,
    key_type: Any,
    rows: list[dict],
    quarantine_rows: list[dict],
    deferred: list[TextRecord],
    summary: dict,
) -> None:
    import pyarrow as pa

    labels = lake.staging_path(labels_partition(kind, ds))
    lake.clear(labels)
    label_schema = pa.schema(
        [
            (kind.key_column, key_type),
            ("sentiment", pa.string()),
            ("topics", pa.string()),
            ("primary_topic", pa.string()),
            ("language", pa.string()),
            ("labelled_by", pa.string()),
            ("prompt_version", pa.string()),
            ("text_sha256", pa.string()),
            ("source_ds", pa.date32()),
        ]
    )
    _write(lake, staged_labels(lake, kind, ds), pa.Table.from_pylist(rows, label_schema))
    record_schema = pa.schema(
        [
            (kind.key_column, key_type),
            ("text", pa.string()),
            ("source_ds", pa.date32()),
        ]
    )
    quarantine = lake.staging_path(quarantine_partition(kind, ds))
    lake.clear(quarantine)
    if quarantine_rows:
        schema = record_schema.append(pa.field("reason", pa.string()))
        _write(
            lake, f"{quarantine}/part-00000.parquet", pa.Table.from_pylist(quarantine_rows, schema)
        )
    backlog_rows = [
        {kind.key_column: r.key, "text": r.text, "source_ds": date.fromisoformat(r.source_ds)}
        for r in deferred
    ]
    staged_backlog = staged_backlog_path(lake, kind, ds)
    _write(lake, staged_backlog, pa.Table.from_pylist(backlog_rows, record_schema))
    lake.fs.pipe_file(f"{labels}/{SUMMARY}", json.dumps(summary, indent=2).encode())


def _write(lake: Lake, path: str, table: Any) -> None:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    lake.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    lake.fs.pipe_file(path, buffer.getvalue())


def _parquet_schema(lake: Lake, path: str) -> dict[str, str]:
    import pyarrow.parquet as pq

    with lake.fs.open(path, "rb") as handle:
        return {field.name: str(field.type) for field in pq.ParquetFile(handle).schema_arrow}


def _publish_quarantine(lake: Lake, kind: Kind, ds: str, run_id: str) -> int:
    """Publish the staged quarantine (or remove a rerun's stale one); how many it holds."""
    partition = quarantine_partition(kind, ds)
    staged = f"{lake.staging_path(partition)}/part-00000.parquet"
    if not lake.fs.exists(staged):
        if lake.read_manifest(partition) is not None:
            lake.clear(lake.path(partition))
        return 0
    import pyarrow.parquet as pq

    with lake.fs.open(staged, "rb") as handle:
        count = pq.ParquetFile(handle).metadata.num_rows
    log.warning(
        "%s ds=%s: %d records to quarantine (%s)", kind.name, ds, count, lake.path(partition)
    )
    lake.publish(
        partition,
        [(staged, count)],
        run_id=run_id,
        delivered=count,
        quarantined=0,
        schema=_parquet_schema(lake, staged),
        producer=PRODUCER,
    )
    return count
