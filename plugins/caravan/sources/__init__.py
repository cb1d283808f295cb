"""Sources: the systems Caravan ingests, and how their records reach the raw zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SourceError(RuntimeError):
    """A source refused or failed a request; the message names the source and what was asked."""


@dataclass(frozen=True)
class Delivered:
    """One record as a source delivered it, and where it came from (for quarantine).

    `error` is set when the delivery could not even be parsed (a line that is not
    JSON); `record` then holds the original text.
    """

    record: Any
    origin: str
    error: str | None = None
