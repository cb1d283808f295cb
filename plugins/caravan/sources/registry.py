"""The source registry (`dags/sources.yaml`), parsed into typed specs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

KINDS = ("rest_api", "sql_database")
WINDOWS = ("data_interval", "snapshot")
# The share of a delivery that may go to quarantine before the raw gate fails.
DEFAULT_QUARANTINE_THRESHOLD = 0.01


@dataclass(frozen=True)
class EntitySpec:
    name: str
    primary_key: tuple[str, ...]
    required: tuple[str, ...]
    window: str
    incremental_field: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    conn_id: str
    schedule: str
    entities: dict[str, EntitySpec]
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD


def load_registry(path: Path) -> dict[str, SourceSpec]:
    """Parse the registry; a malformed entry raises naming the file, source and field."""
    raw = yaml.safe_load(path.read_text()) or {}
    return {name: _source(path, name, body or {}) for name, body in raw.items()}


def _source(path: Path, name: str, body: dict) -> SourceSpec:
    def need(mapping: dict, key: str, where: str):
        if key not in mapping:
            raise ValueError(f"{path}: source {name!r}: {where}missing field {key!r}")
        return mapping[key]

    kind = need(body, "kind", "")
    if kind not in KINDS:
        raise ValueError(f"{path}: source {name!r}: kind {kind!r} is not one of {KINDS}")
    entities = {}
    for entity, spec in (need(body, "entities", "") or {}).items():
        spec = spec or {}
        where = f"entity {entity!r}: "
        window = spec.get("window", "data_interval")
        if window not in WINDOWS:
            raise ValueError(f"{path}: source {name!r}: {where}window {window!r} not in {WINDOWS}")
        primary_key = _fields(need(spec, "primary_key", where))
        entities[entity] = EntitySpec(
            name=entity,
            primary_key=primary_key,
            required=_fields(spec["required"]) if "required" in spec else primary_key,
            window=window,
            incremental_field=spec.get("incremental_field"),
        )
    threshold = body.get("quarantine_threshold", DEFAULT_QUARANTINE_THRESHOLD)
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ValueError(
            f"{path}: source {name!r}: quarantine_threshold {threshold!r} is not a share in 0..1"
        )
    return SourceSpec(
        name=name,
        kind=kind,
        conn_id=need(body, "conn_id", ""),
        schedule=body.get("schedule", "0 0 * * *"),
        entities=entities,
        quarantine_threshold=float(threshold),
    )


def _fields(value: str | list[str]) -> tuple[str, ...]:
    """A field list; a single field may be written without brackets."""
    return (value,) if isinstance(value, str) else tuple(value)
