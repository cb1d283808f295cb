"""The raw gate: what a source's partition must hold before it is published.

One suite per registry entity, derived from what the registry says about it:
required fields are present, typed fields hold values of their type, the primary
key is unique (unless the source delivers at least once), records of a
data-interval entity fall in the run's window (plus lookback), named metrics are
non-negative, enumerations hold only their values, and the partition's row count
is within a band of the trailing 7-day median (severity `warn` by default).
Staging has already sent records of the wrong shape to quarantine; the gate judges
the partition, so a wrong-typed value that gets past staging is a named failure
rather than a null from `try_cast`.

Beside what the lake already holds (`Known`), it also catches what every type check
lets through: a delivery without records (unless the registry says a day may be
empty) or far below the trailing median; a field of the previous published partition
dropped or delivered with another JSON type (numbers turned into strings, a price in
cents where it was a decimal); and the registry's `plausible` checks: a value against
its reference (a price against the catalogue), a daily sum against the trailing
median of the published days' sums, one value per key across partitions (an
account's currency).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, timedelta
from decimal import Decimal

import great_expectations.expectations as gxe

from caravan.lake import Lake, Partition
from caravan.quality.checks import Check
from caravan.quality.suites import Suite
from caravan.sources.fields import FieldType
from caravan.sources.ingest import delivered_types
from caravan.sources.registry import NEAR_EMPTY_SHARE, EntitySpec, SourceSpec
from caravan.sources.window import Window

# Typed fields are read by `caravan_typed` (caravan.sources.fields, registered in the
# gates' DuckDB): the parser staging runs, so the two cannot disagree about a value.
TEXT_SUFFIX = "__text"
MISTYPED_SUFFIX = "__mistyped"
WINDOW_DAY_COLUMN = "window_day"
# The volume and sum checks compare with the median of this many days before ds, from
# the first of them published on (before any, the registry's `expected_rows`).
VOLUME_HISTORY_DAYS = 7
# A top-level field's JSON type as DuckDB's `json_type` names it, in the registry's words
# (and `ingest.json_schema`'s, which the manifest's `schema` holds).
_JSON_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "integer",
    "UBIGINT": "integer",
    "HUGEINT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "OBJECT": "object",
    "ARRAY": "array",
}
DRIFT_SUFFIX = "__json_type"
REFERENCE_SUFFIX = "__reference_ratio"
STABLE_SUFFIX, PREVIOUS_SUFFIX = "__stable", "__previous"


@dataclass(frozen=True)
class Known:
    """What the lake held of an entity before a delivery's `ds` (`read_known`), and the
    delivery's own top-level schema (`Staged.schema`; None when not known): the checks
    that compare a delivery with the past read them from here, never from the lake.

    `prior_rows`: published rows by ds, the week before; `previous_ds` and
    `previous_schema`: the latest partition published before ds and its manifest's
    schema; `prior_sums`: plausible field → ds → the day's sum; `lookups`: `$name` →
    the files the projection joins (a reference entity's, the previous partition's).
    """

    prior_rows: Mapping[str, int] = dataclass_field(default_factory=dict)
    previous_ds: str | None = None
    previous_schema: Mapping[str, str] = dataclass_field(default_factory=dict)
    prior_sums: Mapping[str, Mapping[str, float]] = dataclass_field(default_factory=dict)
    lookups: Mapping[str, list[str]] = dataclass_field(default_factory=dict)
    delivered_schema: Mapping[str, str] | None = None


def column_name(field: str) -> str:
    """A dotted registry path as a frame column: `campaign.id` → `campaign_id`."""
    return field.replace(".", "_")


def text_column(field: str) -> str:
    """The frame column holding a typed field's value as delivered (text)."""
    return column_name(field) + TEXT_SUFFIX


def _typed_fields(entity: EntitySpec) -> list[str]:
    return [f for f in entity.checked_fields if f in entity.types]


def mistyped_column(field: str) -> str:
    """The frame column holding a typed field's value as delivered where it is not of its
    type (null where it is, or is null): the offending values a failure shows."""
    return column_name(field) + MISTYPED_SUFFIX


def _json_path(field: str) -> str:
    return "$." + ".".join(f'"{step}"' for step in field.split("."))


def _json_text(field: str, row: str = "source_rows") -> str:
    """DuckDB SQL for the field's value as text, from the record read whole as `json`."""
    return f"({row}.json ->> '{_json_path(field)}')"


def _typed_text(field: str, declared: FieldType) -> str:
    """DuckDB SQL for the field's value read as its declared type, as canonical text (an
    ISO date, a UTC timestamp, a plain decimal); null when null or not of the type."""
    spec = declared.to_spec().replace("'", "''")
    return f"caravan_typed(json_extract(source_rows.json, '{_json_path(field)}'), '{spec}')"


def _typed_value(field: str, declared: FieldType) -> str:
    cast = declared.sql_type()
    typed = _typed_text(field, declared)
    return typed if cast == "varchar" else f"cast({typed} as {cast})"


def drift_column(field: str) -> str:
    return column_name(field) + DRIFT_SUFFIX


def _types(schema: Mapping[str, str], name: str) -> set[str]:
    return delivered_types(schema.get(name, ""))


def drift_fields(entity: EntitySpec, known: Known) -> dict[str, set[str]]:
    """Top-level fields of the previous partition that drifted → the JSON types they may
    have (theirs there, but `null`; a field declared `number` may be whole or not).

    Drifted: no record has a value any more (where it never was null), or some value has
    another type. With the delivery's schema unknown, every field of the previous
    partition is checked; with it known (ingest stages it), only those it shows drifted,
    so a delivery shaped like the one before costs no check per field.
    """
    drifted = {}
    for name in known.previous_schema:
        before = _types(known.previous_schema, name)
        allowed = before - {"null"}
        declared = entity.types.get(name)
        if declared and declared.kind == "number" and allowed & {"integer", "number"}:
            allowed |= {"integer", "number"}
        if not allowed:
            continue
        if known.delivered_schema is not None:
            now = _types(known.delivered_schema, name) - {"null"}
            dropped = not now and "null" not in before
            if not dropped and now <= allowed:
                continue
        drifted[name] = allowed
    return drifted


def _json_type(field: str) -> str:
    """The field's JSON type in the registry's words; SQL NULL when absent or null."""
    cases = " ".join(f"when '{duck}' then '{ours}'" for duck, ours in _JSON_TYPES.items())
    return f"case json_type(source_rows.json, '{_json_path(field)}') {cases} end"


def _lookup(files: str, value: str, key: str, cast: str = "{value}") -> str:
    """The `value` field of the record of `$files` whose `key` equals this record's."""
    from caravan.quality.frames import jsonl_records  # DuckDB: only when a gate runs

    looked_up = cast.format(value=_json_text(value, "looked_up"))
    return (
        f"(select any_value({looked_up}) from {jsonl_records(files)} as looked_up"
        f" where {_json_text(key, 'looked_up')} = {_json_text(key)})"
    )


def projection(entity: EntitySpec, known: Known | None = None) -> str:
    """DuckDB SQL over `read_json_objects` rows (one `json` column) for the suite's frame;
    the columns of the checks that compare with what is `known` only when it is."""
    known = known or Known()
    columns = []
    for field in entity.checked_fields:
        declared = entity.types.get(field)
        value = _typed_value(field, declared) if declared else _json_text(field)
        columns.append(f'{value} as "{column_name(field)}"')
    for field in _typed_fields(entity):
        typed, delivered = _typed_text(field, entity.types[field]), _json_text(field)
        mistyped = f"case when {typed} is null then {delivered} end"
        columns.append(f'{mistyped} as "{mistyped_column(field)}"')
        if field in entity.primary_key:
            columns.append(f'{delivered} as "{text_column(field)}"')
    if entity.window == "data_interval" and entity.incremental_field:
        # Canonical dates and UTC timestamps start with their (UTC) day.
        day = _typed_text(entity.incremental_field, entity.types[entity.incremental_field])
        columns.append(f"left({day}, 10) as {WINDOW_DAY_COLUMN}")
    for name in drift_fields(entity, known):
        columns.append(f'{_json_type(name)} as "{drift_column(name)}"')
    for check in entity.plausible:
        ref, col = check.reference, column_name(check.field)
        if ref and f"reference_{ref.entity}" in known.lookups:
            price = f"try_cast({_json_text(check.field)} as double)"
            cast = "try_cast({value} as double)"
            looked_up = _lookup(f"reference_{ref.entity}", ref.field, ref.key, cast)
            columns.append(f'{price} / nullif({looked_up}, 0) as "{col}{REFERENCE_SUFFIX}"')
        if check.stable_per and "previous" in known.lookups:
            columns.append(f'{_json_text(check.field)} as "{col}{STABLE_SUFFIX}"')
            previous = _lookup("previous", check.field, check.stable_per)
            columns.append(f'{previous} as "{col}{PREVIOUS_SUFFIX}"')
    return ", ".join(columns) or "1 as no_fields"


def key_columns(entity: EntitySpec) -> list[str]:
    """Columns naming a failing record: a typed key field as delivered, so a record whose
    key has the wrong type is still named (its typed column would be null)."""
    typed = set(_typed_fields(entity))
    return [text_column(f) if f in typed else column_name(f) for f in entity.primary_key]


def type_checks(entity: EntitySpec) -> list[Check]:
    """Each typed field's values are of its type (nulls are the not-null check's): the
    failure lists the offending values as delivered, beside the keys."""
    return [
        Check(
            gxe.ExpectColumnValuesToBeNull(
                column=mistyped_column(f),
                notes=f"{f}: values that are not {entity.types[f].describe()}",
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


def read_known(
    lake: Lake,
    source: SourceSpec,
    entity: EntitySpec,
    ds: str,
    staged: Mapping[str, list[str]] | None = None,
    delivered_schema: Mapping[str, str] | None = None,
) -> Known:
    """What the lake holds of the entity before ds: the published rows of the week, the
    latest published partition's schema (and files, for `stable_per`), the week's daily
    sums of the `sum_band` fields, and each reference entity's files: the same run's
    (`staged`: entity → staged files) or else its latest partition published by ds.
    Every file read is checked against its manifest (`Lake.published`); the previous
    partition's files are read only when a `stable_per` check joins them. The delivery's
    `delivered_schema` (as staged) is passed through, for `drift_fields`."""
    from caravan.quality.frames import jsonl_batch  # DuckDB: only when a gate runs

    staged = staged or {}
    prior_rows = read_prior_rows(lake, source.name, entity.name, ds)
    before = [day for day in lake.published_dates("raw", source.name, entity.name) if day < ds]
    previous_ds = before[-1] if before else None
    previous_schema: Mapping[str, str] = {}
    lookups: dict[str, list[str]] = {}
    if previous_ds:
        previous = Partition("raw", source.name, entity.name, previous_ds)
        if any(check.stable_per for check in entity.plausible):
            manifest, lookups["previous"] = lake.published(previous)
        else:
            manifest = lake.read_manifest(previous)
        previous_schema = manifest.schema
    for check in entity.plausible:
        ref = check.reference
        if ref is None:
            continue
        if ref.entity in staged:
            lookups[f"reference_{ref.entity}"] = staged[ref.entity]
            continue
        published = [d for d in lake.published_dates("raw", source.name, ref.entity) if d <= ds]
        if published:
            reference = Partition("raw", source.name, ref.entity, published[-1])
            lookups[f"reference_{ref.entity}"] = lake.published(reference)[1]
    summed = [check.field for check in entity.plausible if check.sum_band]
    prior_sums: dict[str, dict[str, float]] = {name: {} for name in summed}
    for day in sorted(prior_rows) if summed else []:
        sums = ", ".join(
            f'sum(try_cast({_json_text(name)} as double)) as "{column_name(name)}"'
            for name in summed
        )
        files = lake.published(Partition("raw", source.name, entity.name, day))[1]
        row = jsonl_batch(lake, files, sums).iloc[0]
        for name in summed:
            value = row[column_name(name)]
            if value is not None and not math.isnan(value):
                prior_sums[name][day] = float(value)
    return Known(prior_rows, previous_ds, previous_schema, prior_sums, lookups, delivered_schema)


def trailing_median(prior: Mapping[str, float], ds: str) -> float | None:
    """The median of the values of the days before ds (VOLUME_HISTORY_DAYS), or None."""
    window = set(prior_days(ds))
    values = [value for day, value in prior.items() if day in window]
    return statistics.median(values) if values else None


def row_count_bounds(
    prior_rows: Mapping[str, int],
    ds: str,
    band: tuple[float, float],
    expected_rows: int | None = None,
) -> tuple[int, int, float] | None:
    """(min, max, median) of the row count allowed for ds: `band` × the median of the
    published rows of the 7 days before ds, or of `expected_rows` before any is; None
    when neither is known. Bounds are whole rows inside the band, so a count on the
    band's edge passes."""
    median = trailing_median(prior_rows, ds)
    if median is None:
        median = expected_rows
    if median is None:
        return None
    # In decimal: as floats 0.85 x 100 is 85.00000000000001, which would round up to 86.
    low, high = (Decimal(str(factor)) * Decimal(str(median)) for factor in band)
    return math.ceil(low), math.floor(high), median


def volume_checks(entity: EntitySpec, ds: str, prior_rows: Mapping[str, int]) -> list[Check]:
    """A delivery's rows: at least one unless the registry says a day may be empty (and
    `min_rows`); not near-empty (under NEAR_EMPTY_SHARE of the trailing median, an error);
    within the entity's band of that median (its severity). The median and the history
    go in the expectation's meta, the bounds in its kwargs."""
    floor = max(entity.min_rows, 0 if entity.may_be_empty else 1)
    found = []
    if floor:
        found.append(Check(gxe.ExpectTableRowCountToBeBetween(min_value=floor)))
    bounds = row_count_bounds(prior_rows, ds, entity.row_count_band, entity.expected_rows)
    if bounds is None:
        return found
    low, high, median = bounds
    history = {day: prior_rows[day] for day in prior_days(ds) if day in prior_rows}
    basis = (
        f"the median {median} of the published rows of {sorted(history)}"
        if history
        else f"the registry's expected_rows {median} (nothing published before {ds})"
    )
    near_empty = math.ceil(Decimal(str(NEAR_EMPTY_SHARE)) * Decimal(str(median)))
    if not entity.may_be_empty and near_empty > floor:
        found.append(
            Check(
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=near_empty,
                    meta={"median_rows": median, "prior_rows": history},
                    notes=f"a near-empty delivery: under {NEAR_EMPTY_SHARE} x {basis}",
                )
            )
        )
    found.append(
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
                    f"rows within {entity.row_count_band[0]}..{entity.row_count_band[1]} x {basis}"
                ),
            ),
            severity=entity.row_count_severity,
        )
    )
    return found


def drift_checks(entity: EntitySpec, known: Known) -> list[Check]:
    """Each top-level field of the previous published partition (`drift_fields`) is still
    delivered, when it never was null there, and with a JSON type it had: failing rows
    named by key. Severity: the registry's `schema_drift`."""
    found = []
    for name, types in drift_fields(entity, known).items():
        was = f"{name!r} was {'|'.join(sorted(types))} in ds={known.previous_ds}"
        if "null" not in _types(known.previous_schema, name):
            found.append(
                Check(
                    gxe.ExpectColumnUniqueValueCountToBeBetween(
                        column=drift_column(name),
                        min_value=1,
                        notes=f"a dropped field: {was}, and no record of the delivery has it",
                    ),
                    severity=entity.schema_drift,
                )
            )
        found.append(
            Check(
                gxe.ExpectColumnValuesToBeInSet(
                    column=drift_column(name),
                    value_set=sorted(types),
                    notes=f"a retyped field: {was}",
                ),
                severity=entity.schema_drift,
            )
        )
    return found


def plausible_checks(entity: EntitySpec, ds: str, known: Known) -> list[Check]:
    """The registry's `plausible` checks that what is known allows (a reference entity
    delivered, a day published before ds)."""
    found = []
    for check in entity.plausible:
        col, ref = column_name(check.field), check.reference
        if ref and f"reference_{ref.entity}" in known.lookups:
            found.append(
                Check(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=col + REFERENCE_SUFFIX,
                        min_value=ref.band[0],
                        max_value=ref.band[1],
                        notes=(
                            f"{check.field} / {ref.entity}.{ref.field} (matched on {ref.key})"
                            f" within {ref.band[0]}..{ref.band[1]}: a unit change shows here"
                        ),
                    )
                )
            )
        median = trailing_median(known.prior_sums.get(check.field, {}), ds)
        if check.sum_band and median:
            low, high = (factor * median for factor in check.sum_band)
            found.append(
                Check(
                    gxe.ExpectColumnSumToBeBetween(
                        column=col,
                        min_value=low,
                        max_value=high,
                        meta={"median_sum": median, "sum_band": list(check.sum_band)},
                        notes=(
                            f"the sum of {check.field} within"
                            f" {check.sum_band[0]}..{check.sum_band[1]} x the median {median}"
                            f" of the published days before {ds}"
                        ),
                    )
                )
            )
        if check.stable_per and "previous" in known.lookups:
            found.append(
                Check(
                    gxe.ExpectColumnPairValuesToBeEqual(
                        column_A=col + STABLE_SUFFIX,
                        column_B=col + PREVIOUS_SUFFIX,
                        ignore_row_if="either_value_is_missing",
                        notes=(
                            f"one {check.field} per {check.stable_per}:"
                            f" as in ds={known.previous_ds}"
                        ),
                    )
                )
            )
    return found


def checks(
    source: SourceSpec, entity: EntitySpec, ds: str, known: Known | None = None
) -> list[Check]:
    known = known or Known()
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
    found += volume_checks(entity, ds, known.prior_rows)
    found += drift_checks(entity, known)
    found += plausible_checks(entity, ds, known)
    return found


def suite(source: SourceSpec, entity: EntitySpec, known: Known | None = None) -> Suite:
    """The entity's raw suite; what is `known` of the lake before ds (`read_known`) feeds
    the checks that compare with it, which are left out without it."""
    return Suite(
        stage="raw",
        source=source.name,
        entity=entity.name,
        projection=projection(entity, known),
        key_columns=key_columns(entity),
        checks=lambda ds: checks(source, entity, ds, known),
    )
