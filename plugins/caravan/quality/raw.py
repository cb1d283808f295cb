"""The raw gate: what a source's partition must hold before it is published.

One suite per registry entity, derived from what the registry says about it:
required fields are present, the primary key is unique (unless the source
delivers at least once), records of a data-interval entity fall in the run's
window (plus lookback), named metrics are non-negative, enumerations hold only
their values, and a source that always has data has some. Staging has already
sent records of the wrong shape to quarantine; the gate judges the partition.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

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
WINDOW_DAY_COLUMN = "window_day"


def column_name(field: str) -> str:
    """A dotted registry path as a frame column: `campaign.id` → `campaign_id`."""
    return field.replace(".", "_")


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
    if entity.window == "data_interval" and entity.incremental_field:
        day = _DAYS[entity.types[entity.incremental_field]]
        columns.append(
            f"{day.format(value=_json_text(entity.incremental_field))} as {WINDOW_DAY_COLUMN}"
        )
    return ", ".join(columns) or "1 as no_fields"


def checks(source: SourceSpec, entity: EntitySpec, ds: str) -> list[Check]:
    key = [column_name(f) for f in entity.primary_key]
    found = [
        *[Check(gxe.ExpectColumnValuesToNotBeNull(column=column_name(f))) for f in entity.required],
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
    return found


def suite(source: SourceSpec, entity: EntitySpec) -> Suite:
    return Suite(
        stage="raw",
        source=source.name,
        entity=entity.name,
        projection=projection(entity),
        key_columns=[column_name(f) for f in entity.primary_key],
        checks=lambda ds: checks(source, entity, ds),
    )
