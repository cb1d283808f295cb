"""The steps every ingest DAG runs: stage what a source delivered, then publish it.

Staging splits records into those that can be loaded and those that go to
quarantine (with the reason and the original record), so the counts always
reconcile: delivered = rows + quarantined.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from caravan.lake import Lake, Manifest, Partition
from caravan.sources import Delivered
from caravan.sources.fields import TypeMismatch
from caravan.sources.registry import EntitySpec

PRODUCER = "caravan.ingest"
# Rejected records a failure message names by origin (file and line, or request and record).
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Staged:
    """What a stage step leaves in `staging/` for the gate and the publish step (an XCom)."""

    source: str
    entity: str
    ds: str
    files: list[tuple[str, int]]
    quarantine_files: list[tuple[str, int]]
    delivered: int
    rows: int
    quarantined: int
    schema: dict[str, str]
    reasons: dict[str, int]  # why records went to quarantine, and how many each
    examples: list[str] = field(default_factory=list)  # "<origin>: <reason>", the first few

    def to_xcom(self) -> dict:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict) -> Staged:
        data = dict(data)
        data["files"] = [tuple(f) for f in data["files"]]
        data["quarantine_files"] = [tuple(f) for f in data["quarantine_files"]]
        return cls(**data)


def field_value(record: dict, dotted: str):
    """The value at a dotted path (`campaign.id`), or None when any step is missing."""
    value = record
    for step in dotted.split("."):
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def rejection_reason(record: object, entity: EntitySpec) -> str | None:
    """Why a record cannot be loaded (naming the field), or None when it can."""
    if not isinstance(record, dict):
        return f"record is a {type(record).__name__}, not an object"
    for name in entity.required:
        if field_value(record, name) is None:
            return f"missing required field {name!r}"
    for name, declared in entity.types.items():
        value = field_value(record, name)
        try:
            declared.parse(value)
        except TypeMismatch as error:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            return f"field {name!r} is {shown}, {error}"
    return None


# A wrong type's reason quotes the value; the failure summary counts by field and type.
_WRONG_TYPE = re.compile(r"field (?P<field>'[^']*') is .+, not (?P<type>an? .+)")
MAX_REASONS = 10  # reason groups a quarantine failure lists; the rest are counted


def reason_group(reason: str) -> str:
    """A rejection reason without the value it quotes (`field 'x' is 'N/A', not a date` →
    `field 'x' is not a date`): summaries count one line per field and kind, not one per
    distinct value. The quarantined record keeps its full reason."""
    match = _WRONG_TYPE.fullmatch(reason)
    return f"field {match['field']} is not {match['type']}" if match else reason


def json_schema(records: list[dict], entity: EntitySpec | None = None) -> dict[str, str]:
    """Top-level field → JSON type over all records (several types joined by `|`); a field
    the entity declares a type for is `<declared> as <JSON types>` (`decimal(12,2) as
    string`), so the manifest says what a field is and how it was delivered."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        dict: "object",
        list: "array",
        type(None): "null",
    }
    seen: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.items():
            seen.setdefault(key, set()).add(names.get(type(value), type(value).__name__))
    declared = entity.types if entity else {}
    return {
        key: (f"{declared[key].describe()} as " if key in declared else "")
        + "|".join(sorted(types))
        for key, types in sorted(seen.items())
    }


def delivered_types(schema_entry: str) -> set[str]:
    """The JSON types of a manifest's `schema` entry (`decimal as string|null` → string,
    null)."""
    return set(schema_entry.rpartition(" as ")[2].split("|")) - {""}


def stage(
    lake: Lake, source: str, entity: EntitySpec, ds: str, deliveries: Iterable[Delivered]
) -> Staged:
    """Write a delivery to staging: loadable records to raw, the rest to quarantine with
    the reason, where the record came from, and the record as delivered."""
    accepted: list[dict] = []
    rejected: list[dict] = []
    for delivered in deliveries:
        reason = delivered.error or rejection_reason(delivered.record, entity)
        if reason is None:
            accepted.append(delivered.record)
        else:
            rejected.append(
                {
                    "reason": reason,
                    "source": source,
                    "entity": entity.name,
                    "ds": ds,
                    "origin": delivered.origin,
                    "record": delivered.record,
                }
            )
    raw = Partition("raw", source, entity.name, ds)
    quarantine = Partition("quarantine", source, entity.name, ds)
    lake.clear(lake.staging_path(raw))
    lake.clear(lake.staging_path(quarantine))
    files = [lake.write_jsonl_gz(lake.staging_path(raw), "part-00000.jsonl.gz", accepted)]
    quarantine_files = (
        [lake.write_jsonl_gz(lake.staging_path(quarantine), "part-00000.jsonl.gz", rejected)]
        if rejected
        else []
    )
    return Staged(
        source=source,
        entity=entity.name,
        ds=ds,
        files=files,
        quarantine_files=quarantine_files,
        delivered=len(accepted) + len(rejected),
        rows=len(accepted),
        quarantined=len(rejected),
        schema=json_schema(accepted, entity),
        reasons=dict(Counter(reason_group(r["reason"]) for r in rejected).most_common()),
        examples=[f"{r['origin']}: {r['reason']}" for r in rejected[:MAX_EXAMPLES]],
    )


class QuarantineRateExceeded(RuntimeError):
    pass


def check_quarantine_rate(staged: Staged, threshold: float) -> None:
    """Fail when more of a delivery went to quarantine than the source allows, naming the
    source, entity, day, reasons by field and kind with their counts (at most
    MAX_REASONS), the first MAX_EXAMPLES rejected records and the quarantine file: a
    bounded message however many records were rejected."""
    if not staged.delivered or staged.quarantined / staged.delivered <= threshold:
        return
    groups = list(staged.reasons.items())
    reasons = "; ".join(f"{reason} ({count})" for reason, count in groups[:MAX_REASONS])
    if len(groups) > MAX_REASONS:
        rest = sum(count for _, count in groups[MAX_REASONS:])
        reasons += f"; {len(groups) - MAX_REASONS} other reasons ({rest})"
    examples = "; ".join(staged.examples)
    files = ", ".join(path for path, _ in staged.quarantine_files)
    raise QuarantineRateExceeded(
        f"{staged.source}/{staged.entity} ds={staged.ds}: {staged.quarantined} of"
        f" {staged.delivered} records ({staged.quarantined / staged.delivered:.1%}) went to"
        f" quarantine, above {staged.source}'s threshold of {threshold:.1%}. Reasons: {reasons}."
        f" First rejected: {examples}. Records with their reasons: {files}"
    )


def publish(lake: Lake, staged: Staged, run_id: str) -> Manifest:
    """Publish the quarantine partition (if any), then the raw one, manifests last."""
    quarantine = Partition("quarantine", staged.source, staged.entity, staged.ds)
    if staged.quarantine_files:
        lake.publish(
            quarantine,
            staged.quarantine_files,
            run_id=run_id,
            delivered=staged.quarantined,
            quarantined=0,
            schema={"reason": "string", "origin": "string", "record": "object|string|array"},
            producer=PRODUCER,
        )
    elif lake.read_manifest(quarantine) is not None:
        lake.clear(lake.path(quarantine))  # a rerun that rejects nothing leaves none behind
    return lake.publish(
        Partition("raw", staged.source, staged.entity, staged.ds),
        staged.files,
        run_id=run_id,
        delivered=staged.delivered,
        quarantined=staged.quarantined,
        schema=staged.schema,
        producer=PRODUCER,
    )
