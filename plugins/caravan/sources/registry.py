"""The source registry (`dags/sources.yaml`), parsed into typed specs.

Everything about a source that is configuration lives in the registry: how it
is reached (its kind and the kind's settings), which records it delivers and
how they are identified, checked and windowed. Code only knows the kinds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from caravan.sources.fields import TYPE_NAMES, FieldType, TypeMismatch, field_type

# libyaml's loader parses the registry ten times faster than the pure-Python one; every
# DAG parse and every ingest task reads it.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Source and entity names become DAG ids, Asset names, lake folders and warehouse tables
# (`stg_<source>__<entity>s`, where `__` separates the two): lower-case words joined by
# single underscores, so no name can climb out of a folder or clash with the separator.
NAME_PATTERN = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
_NAME = re.compile(NAME_PATTERN)

KINDS = ("rest_api", "sql_database", "file_drop")
WINDOWS = ("data_interval", "snapshot")
# The types a field can be declared with (checked on every record at staging and by the
# raw gate, through caravan.sources.fields).
FIELD_TYPES = TYPE_NAMES
FILE_FORMATS = ("jsonl", "csv")
# The share of a delivery that may go to quarantine before the raw gate fails.
DEFAULT_QUARANTINE_THRESHOLD = 0.01
# How long after the end of its data interval a file drop may still arrive: until then a
# missing file waits (the extract reschedules), after it the run fails for good.
DEFAULT_DROP_WAIT_HOURS = 6
DEFAULT_SCHEDULE = "0 0 * * *"
# The raw gate's volume check: a partition's rows within [low, high] × the median of
# the previous 7 published partitions. A swing is worth a notice, not a block.
DEFAULT_ROW_COUNT_BAND = (0.5, 2.0)
DEFAULT_ROW_COUNT_SEVERITY = "warn"
SEVERITIES = ("error", "warn")
# The raw gate's drift check: a top-level field of the previous published partition
# missing from a whole delivery, or delivered with another JSON type, fails by default.
DEFAULT_SCHEMA_DRIFT = "error"
# A delivery with fewer rows than this share of the trailing median is near-empty: an
# error, whatever the volume band's severity (a lost file or export, not a slow day).
NEAR_EMPTY_SHARE = 0.1
PLAUSIBLE_KEYS = {"reference", "sum_band", "stable_per"}

_ENTITY_KEYS = {
    "primary_key",
    "required",
    "types",
    "window",
    "incremental_field",
    "non_negative",
    "accepted_values",
    "min_rows",
    "row_count_band",
    "row_count_severity",
    "duplicates_expected",
    "schema_drift",
    "may_be_empty",
    "expected_rows",
    "plausible",
    "landing",
}
_KIND_ENTITY_KEYS = {
    "rest_api": {"endpoint", "open_ended"},
    "sql_database": {"table", "as_of_field"},
    "file_drop": {"files", "format", "history_files"},
}
_SOURCE_KEYS = {
    "kind",
    "start_date",
    "conn_id",
    "schedule",
    "lookback_days",
    "quarantine_threshold",
    "entities",
    "description",
}
_KIND_SOURCE_KEYS = {
    "rest_api": {"client"},
    "sql_database": set(),
    "file_drop": {"drop_wait_hours"},
}


@dataclass(frozen=True)
class Reference:
    """A field checked against another entity's field of the same source (a price
    against the catalogue's): their ratio, matched on `key`, within `band`."""

    entity: str
    field: str
    key: str
    band: tuple[float, float]


@dataclass(frozen=True)
class Plausible:
    """What a field's values must look like beside what is known, for unit and currency
    changes that pass every type check: against a reference, its daily sum within
    `sum_band` × the trailing median of the published days' sums, one value per
    `stable_per` key across partitions."""

    field: str
    reference: Reference | None = None
    sum_band: tuple[float, float] | None = None
    stable_per: str | None = None


class RegistryError(ValueError):
    """A registry entry that cannot work; the message names the file, source and field."""


@dataclass(frozen=True)
class EntitySpec:
    name: str
    primary_key: tuple[str, ...]
    required: tuple[str, ...]
    window: str
    incremental_field: str | None = None
    types: dict[str, FieldType] = field(default_factory=dict)
    non_negative: tuple[str, ...] = ()
    accepted_values: dict[str, tuple] = field(default_factory=dict)
    min_rows: int = 0
    row_count_band: tuple[float, float] = DEFAULT_ROW_COUNT_BAND
    row_count_severity: str = DEFAULT_ROW_COUNT_SEVERITY
    duplicates_expected: bool = False  # at-least-once deliveries: raw keeps every copy
    schema_drift: str = DEFAULT_SCHEMA_DRIFT  # severity of a dropped or retyped field
    may_be_empty: bool = False  # else a delivery without records fails the raw gate
    landing: bool = False  # loaded, typed, into the warehouse's landing.<source>__<entity>
    expected_rows: int | None = None  # seeds the volume band before a partition is published
    plausible: tuple[Plausible, ...] = ()
    endpoint: dict[str, Any] = field(default_factory=dict)  # rest_api: a dlt endpoint
    # rest_api: the API bounds the window's start only (GitHub's `since`): records whose
    # incremental_field is outside the window are left to their own day's run.
    open_ended: bool = False
    table: str | None = None  # sql_database: defaults to the entity's name
    as_of_field: str | None = None  # sql_database snapshots: rows created by the day's end
    files: str | None = None  # file_drop: glob under the connection's folder
    format: str = "jsonl"  # file_drop
    history_files: str | None = None  # file_drop: glob of the history export (load-history)

    @property
    def checked_fields(self) -> tuple[str, ...]:
        """Every field the registry says something about, in a stable order."""
        named = [
            *self.primary_key,
            *self.required,
            *self.types,
            *([self.incremental_field] if self.incremental_field else []),
            *self.non_negative,
            *self.accepted_values,
            *[check.field for check in self.plausible if check.sum_band],
        ]
        return tuple(dict.fromkeys(named))


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    conn_id: str
    schedule: str
    entities: dict[str, EntitySpec]
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD
    lookback_days: int = 0  # data-interval entities also re-read this many earlier days
    client: dict[str, Any] = field(default_factory=dict)  # rest_api: auth, paginator, headers
    description: str = ""
    # The first day the source has data: its ingest DAG's start_date (None: the platform's,
    # caravan.dag_support.START_DATE), and the earliest day `caravan load-history` loads.
    start_date: date | None = None
    # file_drop: how long after the end of its data interval a missing file is waited for.
    drop_wait: timedelta = timedelta(hours=DEFAULT_DROP_WAIT_HOURS)


def load_registry(path: Path) -> dict[str, SourceSpec]:
    """Parse the registry; a malformed entry raises naming the file, source and field."""
    sources, errors = load_registry_lenient(path)
    if errors:
        raise errors[0]
    return sources


def load_registry_lenient(path: Path) -> tuple[dict[str, SourceSpec], list[RegistryError]]:
    """Every source that parses, and the error of each that does not (in file order).

    For the DAG files: one bad entry must not take every source's DAG down. A file that
    cannot be read as a mapping of sources is one error and no source."""
    try:
        raw = yaml.load(Path(path).read_text(), Loader=_YAML_LOADER) or {}
    # An unquoted date that is no day (`2012-13-01`) fails in the loader with a ValueError.
    except (yaml.YAMLError, ValueError) as error:
        return {}, [RegistryError(f"{path}: not valid YAML: {error}")]
    except OSError as error:
        return {}, [RegistryError(f"{path}: cannot be read: {error}")]
    if not isinstance(raw, dict):
        return {}, [RegistryError(f"{path}: expected a mapping of source name to source")]
    sources: dict[str, SourceSpec] = {}
    errors: list[RegistryError] = []
    for name, body in raw.items():
        try:
            sources[str(name)] = _source(Path(path), str(name), body)
        except RegistryError as error:
            errors.append(error)
    return sources, errors


def load_source(path: Path, name: str) -> SourceSpec:
    """One source of the registry, whatever the other entries hold: a task of one source's
    DAG needs only its own entry. Raises when that entry is missing or bad, with every
    error of the file."""
    sources, errors = load_registry_lenient(path)
    if name not in sources:
        found = "".join(f"\n- {error}" for error in errors)
        raise RegistryError(f"{path}: no valid source {name!r}{found}")
    return sources[name]


def _is_name(name: Any) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _name_rule(what: str) -> str:
    return (
        f"the {what} name is not a safe identifier {NAME_PATTERN} (lower-case letters and"
        " digits, words joined by single underscores): it becomes the DAG id, lake folders"
        " and table names"
    )


def _source(path: Path, name: str, body: Any) -> SourceSpec:
    def fail(message: str) -> RegistryError:
        return RegistryError(f"{path}: source {name!r}: {message}")

    if not _is_name(name):
        raise fail(_name_rule("source"))
    if not isinstance(body, dict):
        raise fail("expected a mapping")
    if "kind" not in body:
        raise fail(f"missing field 'kind' (one of {KINDS})")
    kind = body["kind"]
    if kind not in KINDS:
        raise fail(f"kind {kind!r} is not one of {KINDS}")
    unknown = set(body) - _SOURCE_KEYS - _KIND_SOURCE_KEYS[kind]
    if unknown:
        raise fail(f"unknown field(s) {sorted(unknown)} for kind {kind!r}")
    if not body.get("conn_id"):
        raise fail("missing field 'conn_id'")
    threshold = body.get("quarantine_threshold", DEFAULT_QUARANTINE_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise fail(f"quarantine_threshold {threshold!r} is not a share in 0..1")
    if not 0 <= threshold <= 1:
        raise fail(f"quarantine_threshold {threshold!r} is not a share in 0..1")
    lookback = body.get("lookback_days", 0)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 0:
        raise fail(f"lookback_days {lookback!r} is not a whole number of days >= 0")
    entities = body.get("entities")
    if not entities or not isinstance(entities, dict):
        raise fail("missing field 'entities' (a mapping of entity name to entity)")
    for entity_name in entities:
        if not _is_name(entity_name):
            raise fail(f"entity {str(entity_name)!r}: {_name_rule('entity')}")
    client = body.get("client") or {}
    if kind == "rest_api" and not isinstance(client, dict):
        raise fail("client must be a mapping (auth, paginator, headers, for_each)")
    spec = SourceSpec(
        name=name,
        kind=kind,
        conn_id=str(body["conn_id"]),
        schedule=str(body.get("schedule", DEFAULT_SCHEDULE)),
        entities={
            str(entity): _entity(fail, kind, str(entity), spec) for entity, spec in entities.items()
        },
        quarantine_threshold=float(threshold),
        lookback_days=lookback,
        client=client,
        description=str(body.get("description", "")),
        start_date=_start_date(fail, body.get("start_date")),
        drop_wait=_drop_wait(fail, body.get("drop_wait_hours", DEFAULT_DROP_WAIT_HOURS)),
    )
    for entity in spec.entities.values():
        for check in entity.plausible:
            if check.reference and check.reference.entity not in spec.entities:
                raise fail(
                    f"entity {entity.name!r}: plausible {check.field!r}: reference entity"
                    f" {check.reference.entity!r} is not an entity of this source"
                )
    return spec


def _entity(fail, kind: str, name: str, spec: Any) -> EntitySpec:
    def bad(message: str) -> RegistryError:
        return fail(f"entity {name!r}: {message}")

    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise bad("expected a mapping")
    unknown = set(spec) - _ENTITY_KEYS - _KIND_ENTITY_KEYS[kind]
    if unknown:
        raise bad(f"unknown field(s) {sorted(unknown)} for kind {kind!r}")
    if "primary_key" not in spec:
        raise bad("missing field 'primary_key'")
    window = spec.get("window", "data_interval")
    if window not in WINDOWS:
        raise bad(f"window {window!r} is not one of {WINDOWS}")
    types = _types(bad, spec.get("types") or {})
    incremental_field = spec.get("incremental_field")
    if incremental_field and (
        incremental_field not in types or types[incremental_field].kind not in ("date", "timestamp")
    ):
        raise bad(
            f"incremental_field {incremental_field!r} needs a type date, timestamp or"
            " epoch_micros under 'types'"
        )
    if kind == "rest_api" and not (spec.get("endpoint") or {}).get("path"):
        raise bad("missing field 'endpoint.path'")
    open_ended = spec.get("open_ended", False)
    if not isinstance(open_ended, bool):
        raise bad(f"open_ended {open_ended!r} is not true or false")
    if open_ended and (not incremental_field or window != "data_interval"):
        raise bad(
            "open_ended needs an incremental_field and the data_interval window: it drops"
            " records whose incremental_field is outside the run's window"
        )
    if kind == "file_drop":
        if not spec.get("files"):
            raise bad("missing field 'files' (a glob under the connection's folder)")
        unsafe = unsafe_glob_reason(spec["files"])
        if unsafe:
            raise bad(f"files {spec['files']!r} {unsafe}")
        if spec.get("format", "jsonl") not in FILE_FORMATS:
            raise bad(f"format {spec.get('format')!r} is not one of {FILE_FORMATS}")
        if "history_files" in spec:
            unsafe = (
                unsafe_glob_reason(spec["history_files"]) if spec["history_files"] else "is empty"
            )
            if unsafe:
                raise bad(f"history_files {spec['history_files']!r} {unsafe}")
    band = spec.get("row_count_band", DEFAULT_ROW_COUNT_BAND)
    if not _is_band(band):
        raise bad(f"row_count_band {band!r} is not [low, high] with 0 <= low <= 1 <= high")
    row_count_severity = spec.get("row_count_severity", DEFAULT_ROW_COUNT_SEVERITY)
    if row_count_severity not in SEVERITIES:
        raise bad(f"row_count_severity {row_count_severity!r} is not one of {SEVERITIES}")
    schema_drift = spec.get("schema_drift", DEFAULT_SCHEMA_DRIFT)
    if schema_drift not in SEVERITIES:
        raise bad(f"schema_drift {schema_drift!r} is not one of {SEVERITIES}")
    expected_rows = spec.get("expected_rows")
    if expected_rows is not None and (
        isinstance(expected_rows, bool) or not isinstance(expected_rows, int) or expected_rows < 1
    ):
        raise bad(f"expected_rows {expected_rows!r} is not a whole number of rows >= 1")
    primary_key = _fields(spec["primary_key"])
    return EntitySpec(
        name=name,
        primary_key=primary_key,
        required=_fields(spec["required"]) if "required" in spec else primary_key,
        window=window,
        incremental_field=incremental_field,
        types=types,
        non_negative=_fields(spec.get("non_negative", [])),
        accepted_values=_accepted_values(bad, spec.get("accepted_values") or {}, types),
        min_rows=int(spec.get("min_rows", 0)),
        row_count_band=(float(band[0]), float(band[1])),
        row_count_severity=row_count_severity,
        duplicates_expected=bool(spec.get("duplicates_expected", False)),
        schema_drift=schema_drift,
        may_be_empty=bool(spec.get("may_be_empty", False)),
        landing=_landing(bad, spec.get("landing", False)),
        expected_rows=expected_rows,
        plausible=_plausible(bad, spec.get("plausible") or {}),
        endpoint=dict(spec.get("endpoint") or {}),
        open_ended=open_ended,
        table=spec.get("table"),
        as_of_field=spec.get("as_of_field"),
        files=spec.get("files"),
        format=spec.get("format", "jsonl"),
        history_files=spec.get("history_files"),
    )


def _landing(bad, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad(f"landing {value!r} is not true or false")
    return value


def _types(bad, spec: Any) -> dict[str, FieldType]:
    """`types:` — field → a type name, `decimal(p,s)`, or a mapping with a date's or a
    timestamp's `format` and `tz` (caravan.sources.fields)."""
    if not isinstance(spec, dict):
        raise bad(f"types {spec!r} is not a mapping of field to type")
    found = {}
    for name, declared in spec.items():
        try:
            found[str(name)] = field_type(declared)
        except ValueError as error:
            raise bad(f"field {str(name)!r}: {error}") from None
    return found


def _start_date(fail, value: Any) -> date | None:
    """`start_date:` a day written YYYY-MM-DD (YAML reads it as a date unquoted, as text
    quoted); a time of day or any other value is refused."""
    if value is None:
        return None
    if type(value) is date:  # a datetime is a date too, and has a time of day
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise fail(f"start_date {value!r} is not a day written YYYY-MM-DD (e.g. 2012-01-01)")


def _drop_wait(fail, hours: Any) -> timedelta:
    """`drop_wait_hours:` hours from 0 (a file missing at the end of the data interval fails
    the run at once) to a year."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= 8760:
        raise fail(f"drop_wait_hours {hours!r} is not a number of hours from 0 to 8760 (e.g. 6)")
    return timedelta(hours=hours)


def _accepted_values(bad, spec: Any, types: dict[str, FieldType]) -> dict[str, tuple]:
    """`accepted_values:` — field → its values, each as the gate compares it: in the field's
    type (`[1, 2]` or `["1", "2"]` for an integer), or as the JSON text of an untyped
    field (`true`, `1`); a value that is not of the field's type is an error here."""
    if not isinstance(spec, dict):
        raise bad(f"accepted_values {spec!r} is not a mapping of field to values")
    accepted = {}
    for name, values in spec.items():
        if not isinstance(values, list) or not values:
            raise bad(f"accepted_values of {name!r}: {values!r} is not a list of values")
        declared = types.get(str(name))
        try:
            accepted[str(name)] = tuple(_typed_value(value, declared) for value in values)
        except TypeMismatch as error:
            typed = f" ({declared.describe()})" if declared else ""
            raise bad(f"accepted_values of {name!r}{typed}: {error}") from None
    return accepted


def _typed_value(value: Any, declared: FieldType | None) -> Any:
    """A declared value as the gate's column holds it: read as the field's type by the one
    parser staging and the gate use (an integer field's "1" is 1), numbers as floats (the
    frame's), an untyped field's as its JSON text ("true", "1", "shipped")."""
    if declared is None or declared.kind == "string":
        return value if isinstance(value, str) else json.dumps(value)
    try:
        typed = declared.parse(value)
    except TypeMismatch as error:
        raise TypeMismatch(f"{value!r} is {error}") from None
    return float(typed) if declared.kind in ("number", "decimal") else typed


def _plausible(bad, spec: Any) -> tuple[Plausible, ...]:
    """`plausible:` — field → reference / sum_band / stable_per (sources.yaml's header)."""
    if not isinstance(spec, dict):
        raise bad("plausible must be a mapping of field to checks")
    found = []
    for field_name, checks in spec.items():

        def wrong(message: str, field_name=field_name) -> RegistryError:
            return bad(f"plausible {field_name!r}: {message}")

        if not isinstance(checks, dict) or not checks:
            raise wrong(f"expected a mapping with some of {sorted(PLAUSIBLE_KEYS)}")
        unknown = set(checks) - PLAUSIBLE_KEYS
        if unknown:
            raise wrong(f"unknown field(s) {sorted(unknown)}")
        reference = None
        if "reference" in checks:
            ref = checks["reference"]
            if not isinstance(ref, dict) or not {"entity", "field", "key"} <= set(ref):
                raise wrong("reference needs entity, field and key (and may have a band)")
            band = ref.get("band", [0.5, 2.0])
            if not _is_band(band):
                raise wrong(f"reference band {band!r} is not [low, high] around 1")
            reference = Reference(
                str(ref["entity"]), str(ref["field"]), str(ref["key"]), (band[0], band[1])
            )
        sum_band = checks.get("sum_band")
        if sum_band is not None and not _is_band(sum_band):
            raise wrong(f"sum_band {sum_band!r} is not [low, high] with 0 <= low <= 1 <= high")
        found.append(
            Plausible(
                field=str(field_name),
                reference=reference,
                sum_band=(float(sum_band[0]), float(sum_band[1])) if sum_band else None,
                stable_per=str(checks["stable_per"]) if checks.get("stable_per") else None,
            )
        )
    return tuple(found)


def _is_band(value: Any) -> bool:
    """Two numbers around 1: the median itself is always inside the band."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        return False
    return 0 <= value[0] <= 1 <= value[1]


def _fields(value: str | list[str]) -> tuple[str, ...]:
    """A field list; a single field may be written without brackets."""
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def unsafe_glob_reason(glob: Any) -> str | None:
    """Why a `files` glob could reach outside the connection's folder, or None when it
    cannot (a relative path of plain names and wildcards). The reader checks each match
    again, for what a glob cannot show: a symlink pointing out."""
    if not isinstance(glob, str):
        return f"is a {type(glob).__name__}, not a glob under the connection's folder"
    if "://" in glob:
        return "is a URL: a glob is relative to the connection's folder or bucket"
    if glob.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", glob):
        return "is absolute: a glob is relative to the connection's folder or bucket"
    if ".." in re.split(r"[/\\]", glob):
        return "climbs out of the connection's folder with '..'"
    return None
