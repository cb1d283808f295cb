"""The steps every ingest DAG runs: stage what a source delivered, then publish it.

Staging splits records into those that can be loaded and those that go to
quarantine (with the reason and the original record), so the counts always
reconcile: delivered = rows + quarantined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from caravan.lake import Lake, Manifest, Partition
from caravan.sources.registry import EntitySpec

PRODUCER = "caravan.ingest"


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
    """Why a record cannot be loaded, or None when it can."""
    if not isinstance(record, dict):
        return f"record is a {type(record).__name__}, not an object"
    for field in entity.required:
        if field_value(record, field) is None:
            return f"missing required field {field!r}"
    return None


def json_schema(records: list[dict]) -> dict[str, str]:
    """Top-level field → JSON type over all records (several types joined by `|`)."""
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
    return {key: "|".join(sorted(types)) for key, types in sorted(seen.items())}


def stage(lake: Lake, source: str, entity: EntitySpec, ds: str, records: Iterable) -> Staged:
    """Write a delivery to staging: loadable records to raw, the rest to quarantine."""
    accepted: list[dict] = []
    rejected: list[dict] = []
    for position, record in enumerate(records, start=1):
        reason = rejection_reason(record, entity)
        if reason is None:
            accepted.append(record)
        else:
            rejected.append(
                {
                    "reason": reason,
                    "source": source,
                    "entity": entity.name,
                    "ds": ds,
                    "position": position,
                    "record": record,
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
        schema=json_schema(accepted),
        reasons=dict(Counter(r["reason"] for r in rejected).most_common()),
    )


class QuarantineRateExceeded(RuntimeError):
    pass


def check_quarantine_rate(staged: Staged, threshold: float) -> None:
    """Fail when more of a delivery went to quarantine than the source allows, naming the
    source, entity, day, reasons (with their fields) and the quarantine file."""
    if not staged.delivered or staged.quarantined / staged.delivered <= threshold:
        return
    reasons = "; ".join(f"{reason} ({count})" for reason, count in staged.reasons.items())
    files = ", ".join(path for path, _ in staged.quarantine_files)
    raise QuarantineRateExceeded(
        f"{staged.source}/{staged.entity} ds={staged.ds}: {staged.quarantined} of"
        f" {staged.delivered} records ({staged.quarantined / staged.delivered:.1%}) went to"
        f" quarantine, above {staged.source}'s threshold of {threshold:.1%}. Reasons: {reasons}."
        f" Records with their reasons: {files}"
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
            schema={"reason": "string", "record": "object"},
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
