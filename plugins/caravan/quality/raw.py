"""The raw gate: what a source's partition must hold before it is published.

One suite per registry entity, derived from what the registry says about it:
required fields are present, typed fields hold values of their type, the primary
key is unique (unless the source delivers at least once), records of a
data-interval entity fall in the run's window (plus lookback), named metrics are
non-negative, enumerations hold only their values, a source that always has data
has some, and the partition's row count is within a band of the trailing 7-day
median (severity `warn` by default). Staging has already sent records of the
wrong shape to quarantine; the gate judges the partition, so a wrong-typed value
that gets past staging is a named failure rather than a null from `try_cast`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

import great_expectations.expectations as gxe

from caravan.lake import Lake, Partition
from caravan.quality.gate import Check
from caravan.quality.suites import Suite
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window

# How each registry type is read from the JSON text, so checks compare values, not text.
_CASTS = {
    "integer": "try_cast({value} as bigint)",
    "epoch_micros": "try_cast({value} as bigint)",
    "number": "try_cast({value} as double)",
    "decimal": "try_cast({value} as decimal(38, 9))",
    "date": "try_cast({value} as date)",
    "timestamp": "try_cast({value} as timestamptz)",
}
# The UTC day of an incremental field, by its type.
_DAYS = {
    "date": "try_cast({value} as date)::varchar",
    "timestamp": "(try_cast({value} as timestamptz) at time zone 'UTC')::date::varchar",
    "epoch_micros": "make_timestamp(try_cast({value} as bigint))::date::varchar",
}
# The text each registry type must look like, as DuckDB's `->>` renders the JSON value
# (a JSON number as its digits, a string as itself). Same shapes staging accepts; a
# value outside them would be nulled or rounded by the cast (`12.5` as bigint is 13).
TYPE_PATTERNS = {
    "integer": r"^-?\d+$",
    "epoch_micros": r"^\d+$",
    "number": r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$",
    "decimal": r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "timestamp": (
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
    ),
}
TEXT_SUFFIX = "__text"
WINDOW_DAY_COLUMN = "window_day"
# The volume check compares with the median of this many days before ds, and only
# once enough of them are published for a median to mean something.
VOLUME_HISTORY_DAYS = 7
VOLUME_MIN_PRIOR_PARTITIONS = 3


def column_name(field: str) -> str:
    """A dotted registry path as a frame column: `campaign.id` → `campaign_id`."""
    return field.replace(".", "_")


def text_column(field: str) -> str:
    """The frame column holding a typed field's value as delivered (text)."""
    return column_name(field) + TEXT_SUFFIX


def _typed_fields(entity: EntitySpec) -> list[str]:
    return [f for f in entity.checked_fields if entity.types.get(f) in TYPE_PATTERNS]


def _json_text(field: str) -> str:
    """DuckDB SQL for the field's value as text, from the record read whole as `json`."""
    path = ".".join(f'"{step}"' for step in field.split("."))
    return f"(json ->> '$.{path}')"


def projection(entity: EntitySpec) -> str:
    """DuckDB SQL over `read_json_objects` rows (one `json` column) for the suite's frame."""
    columns = []
    for field in entity.checked_fields:
        value = _json_text(field)
        cast = _CASTS.get(entity.types.get(field, ""), "{value}")
        columns.append(f'{cast.format(value=value)} as "{column_name(field)}"')
    for field in _typed_fields(entity):
        columns.append(f'{_json_text(field)} as "{text_column(field)}"')
    if entity.window == "data_interval" and entity.incremental_field:
        day = _DAYS[entity.types[entity.incremental_field]]
        columns.append(
            f"{day.format(value=_json_text(entity.incremental_field))} as {WINDOW_DAY_COLUMN}"
        )
    return ", ".join(columns) or "1 as no_fields"


def key_columns(entity: EntitySpec) -> list[str]:
    """Columns naming a failing record: a typed key field as delivered, so a record whose
    key has the wrong type is still named (its typed column would be null)."""
    typed = set(_typed_fields(entity))
    return [text_column(f) if f in typed else column_name(f) for f in entity.primary_key]


def type_checks(entity: EntitySpec) -> list[Check]:
    """Each typed field's text has its type's shape (nulls are the not-null check's)."""
    return [
        Check(
            gxe.ExpectColumnValuesToMatchRegex(
                column=text_column(f), regex=TYPE_PATTERNS[entity.types[f]]
            ),
            severity="error",
        )
        for f in _typed_fields(entity)
    ]


def prior_days(ds: str, days: int = VOLUME_HISTORY_DAYS) -> list[str]:
    """The `days` days before ds, oldest first (never ds itself, never "now")."""
    day = date.fromisoformat(ds)
    return [(day - timedelta(days=n)).isoformat() for n in range(days, 0, -1)]


def read_prior_rows(lake: Lake, source: str, entity: str, ds: str) -> dict[str, int]:
    """Rows of each published raw partition in the week before ds, by day; days without
    a manifest (not published) are absent."""
    found = {}
    for day in prior_days(ds):
        manifest = lake.read_manifest(Partition("raw", source, entity, day))
        if manifest is not None:
            found[day] = manifest.rows
    return found


def row_count_bounds(
    prior_rows: Mapping[str, int], ds: str, band: tuple[float, float]
) -> tuple[int, int, float] | None:
    """(min, max, median) of the row count allowed for ds: `band` × the median of the
    published rows of the 7 days before ds; None with fewer than 3 such partitions.
    Bounds are whole rows inside the band, so a count on the band's edge passes."""
    window = set(prior_days(ds))
    rows = [count for day, count in prior_rows.items() if day in window]
    if len(rows) < VOLUME_MIN_PRIOR_PARTITIONS:
        return None
    median = statistics.median(rows)
    # In decimal: as floats 0.85 x 100 is 85.00000000000001, which would round up to 86.
    low, high = (Decimal(str(factor)) * Decimal(str(median)) for factor in band)
    return math.ceil(low), math.floor(high), median


def volume_check(entity: EntitySpec, ds: str, prior_rows: Mapping[str, int]) -> list[Check]:
    """The row count within the entity's band of the trailing median; [] without history.
    The median and the history go in the expectation's meta, the bounds in its kwargs."""
    bounds = row_count_bounds(prior_rows, ds, entity.row_count_band)
    if bounds is None:
        return []
    low, high, median = bounds
    history = {day: prior_rows[day] for day in prior_days(ds) if day in prior_rows}
    return [
        Check(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=low,
                max_value=high,
                meta={
                    "median_rows": median,
                    "row_count_band": list(entity.row_count_band),
                    "prior_rows": history,
                },
                notes=(
                    f"rows within {entity.row_count_band[0]}..{entity.row_count_band[1]} x"
                    f" the median {median} of the published rows of {sorted(history)}"
                ),
            ),
            severity=entity.row_count_severity,
        )
    ]


def checks(
    source: SourceSpec, entity: EntitySpec, ds: str, prior_rows: Mapping[str, int] | None = None
) -> list[Check]:
    key = [column_name(f) for f in entity.primary_key]
    found = [
        *[Check(gxe.ExpectColumnValuesToNotBeNull(column=column_name(f))) for f in entity.required],
        *type_checks(entity),
        *[
            Check(gxe.ExpectColumnValuesToBeBetween(column=column_name(f), min_value=0))
            for f in entity.non_negative
        ],
        *[
            Check(gxe.ExpectColumnValuesToBeInSet(column=column_name(f), value_set=list(values)))
            for f, values in entity.accepted_values.items()
        ],
    ]
    if not entity.duplicates_expected:
        found.append(
            Check(gxe.ExpectColumnValuesToBeUnique(column=key[0]))
            if len(key) == 1
            else Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=key))
        )
    if entity.window == "data_interval" and entity.incremental_field:
        days = Window.for_run(source, entity, ds).days()
        found.append(
            Check(gxe.ExpectColumnValuesToBeInSet(column=WINDOW_DAY_COLUMN, value_set=days))
        )
    if entity.min_rows:
        found.append(Check(gxe.ExpectTableRowCountToBeBetween(min_value=entity.min_rows)))
    found += volume_check(entity, ds, prior_rows or {})
    return found


def suite(
    source: SourceSpec, entity: EntitySpec, prior_rows: Mapping[str, int] | None = None
) -> Suite:
    """The entity's raw suite; `prior_rows` (published rows by ds, `read_prior_rows`)
    feeds the volume check, which is left out without it."""
    return Suite(
        stage="raw",
        source=source.name,
        entity=entity.name,
        projection=projection(entity),
        key_columns=key_columns(entity),
        checks=lambda ds: checks(source, entity, ds, prior_rows),
    )
