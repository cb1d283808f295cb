"""`_manifest.json`: the mark of a published partition (DESIGN §3, lake layout)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FileEntry:
    path: str  # file name, relative to the partition folder
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    run_id: str
    source: str
    entity: str
    ds: str
    files: list[FileEntry]
    delivered: int
    rows: int
    quarantined: int
    schema: dict[str, str]
    producer: str
    created_at: str

    def __post_init__(self) -> None:
        counts = {"delivered": self.delivered, "rows": self.rows, "quarantined": self.quarantined}
        if any(value < 0 for value in counts.values()):
            raise ValueError(f"manifest {self.source}/{self.entity} ds={self.ds}: {counts} < 0")
        if self.delivered != self.rows + self.quarantined:
            raise ValueError(
                f"manifest {self.source}/{self.entity} ds={self.ds}: delivered {self.delivered}"
                f" != rows {self.rows} + quarantined {self.quarantined}"
            )
        if sum(f.rows for f in self.files) != self.rows:
            raise ValueError(
                f"manifest {self.source}/{self.entity} ds={self.ds}: files hold"
                f" {sum(f.rows for f in self.files)} rows, manifest says {self.rows}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = [FileEntry(**f) for f in data["files"]]
        return cls(**data)
