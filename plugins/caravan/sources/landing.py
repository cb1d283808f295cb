"""The typed copy of a raw partition that a `landing: true` entity loads into the warehouse.

The raw zone keeps records as delivered (JSON lines); the warehouse wants columns of the
declared types. `typed_table` reads each record's fields with the same parser staging and
the raw gate use (caravan.sources.fields): decimals as Parquet decimals of their precision
and scale, dates and timestamps from their declared format and time zone (timestamps in
UTC), undeclared fields as text. `write_typed` publishes it as Parquet to
`curated/<source>/<entity>`, so every warehouse target loads it as it loads the Spark
jobs' outputs (`landing.<source>__<entity>`, replaced per ds).

Columns: the fields the registry names (key, required, typed; a dotted field becomes
`parent_child`), then every other top-level field delivered, each as a lower-case
identifier (`Order Date` → `order_date`). A field that appears on a later day is added to
the table when that day loads.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from caravan.lake import Lake, Manifest, Partition
from caravan.sources.fields import FieldType, TypeMismatch
from caravan.sources.ingest import field_value
from caravan.sources.registry import EntitySpec

PRODUCER = "caravan.landing"
# Added by the warehouse load from the partition; a field may not take its name.
RESERVED_COLUMNS = ("ds",)


class LandingError(ValueError):
    """A raw partition that cannot be typed; names the source, entity, ds, record, field."""


def column_for(field: str) -> str:
    """A delivered field's name as a warehouse column: lower-case words joined by `_`."""
    column = re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")
    return f"_{column}" if column[:1].isdigit() else column


def arrow_type(declared: FieldType | None) -> pa.DataType:
    if declared is None:
        return pa.string()
    kind = declared.kind
    if kind == "decimal":
        return pa.decimal128(declared.precision, declared.scale)
    return {
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }.get(kind, pa.string())


def landing_fields(entity: EntitySpec, records: list[dict]) -> dict[str, str]:
    """Column → the field it holds: the registry's fields in its order, then the other
    top-level fields delivered, sorted. Raises when two fields would share a column."""
    named = [*entity.primary_key, *entity.required, *entity.types]
    delivered = sorted({key for record in records for key in record} - set(named))
    columns: dict[str, str] = {}
    for field in dict.fromkeys([*named, *delivered]):
        column = column_for(field)
        if not column or column in RESERVED_COLUMNS:
            raise LandingError(
                f"field {field!r} would be the column {column!r}, which the load keeps for"
                " the partition's day: rename it in the source"
            )
        if column in columns and columns[column] != field:
            raise LandingError(
                f"fields {columns[column]!r} and {field!r} would both be the column {column!r}"
            )
        columns[column] = field
    return columns


def _text(value: Any) -> str | None:
    """An undeclared field as text: strings as they are, other JSON values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def typed_table(entity: EntitySpec, records: list[dict], where: str) -> pa.Table:
    """The records as a table of the declared types (`where` names the partition in errors)."""
    fields = landing_fields(entity, records)
    arrays = {}
    for column, field in fields.items():
        declared = entity.types.get(field)
        values = []
        for number, record in enumerate(records, start=1):
            value = field_value(record, field)
            if declared is None:
                values.append(_text(value))
                continue
            try:
                typed = declared.parse(value)
            except TypeMismatch as error:
                shown = repr(value)[:60]
                raise LandingError(
                    f"{where} record {number}: field {field!r} is {shown}, {error}"
                ) from None
            if declared.kind in ("object", "array"):
                typed = json.dumps(typed, sort_keys=True)  # the warehouses' JSON text
            values.append(typed)
        arrays[column] = pa.array(values, type=arrow_type(declared))
    if not arrays:
        raise LandingError(
            f"{where}: no field to load (no record delivered one, and the registry names none)"
        )
    return pa.table(arrays)


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def read_records(lake: Lake, files: Iterable[str]) -> list[dict]:
    records = []
    for path in files:
        with lake.fs.open(path, "rb") as handle:
            for line in gzip.decompress(handle.read()).splitlines():
                records.append(json.loads(line))
    return records


def write_typed(lake: Lake, source: str, entity: EntitySpec, ds: str, run_id: str) -> Manifest:
    """Publish the typed copy of the published raw partition `source/entity/ds` (checked
    against its manifest) to `curated/<source>/<entity>/ds=…`: staged, then published
    with its manifest last, replacing a rerun's partition whole."""
    raw = Partition("raw", source, entity.name, ds)
    raw_manifest, files = lake.published(raw)
    records = read_records(lake, files)
    lake.check_rows(raw, raw_manifest, len(records), "the typed copy for landing")
    table = typed_table(entity, records, str(raw))
    typed = Partition("curated", source, entity.name, ds)
    folder = lake.staging_path(typed)
    lake.clear(folder)
    lake.fs.makedirs(folder, exist_ok=True)
    path = f"{folder}/part-00000.parquet"
    lake.fs.pipe_file(path, parquet_bytes(table))
    return lake.publish(
        typed,
        [(path, table.num_rows)],
        run_id=run_id,
        delivered=table.num_rows,
        quarantined=0,
        schema={field.name: str(field.type) for field in table.schema},
        producer=PRODUCER,
    )
