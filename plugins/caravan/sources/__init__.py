"""Sources: the systems Caravan ingests, and how their records reach the raw zone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


def configure_dlt() -> None:
    """Caravan hands dlt every setting and secret explicitly. Without this, dlt would look
    up each of its config keys as an Airflow Variable, a metadata-DB query apiece."""
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")


class SourceError(RuntimeError):
    """A source refused or failed a request; the message names the source and what was asked."""


class PermanentSourceError(SourceError):
    """A failure no retry can mend: the source refused the credentials (HTTP 401/403), what
    was asked does not exist (404), a file is corrupt or outside its folder. The ingest DAG
    fails such a task at once; other `SourceError`s (429, 5xx) keep Airflow's retries, and a
    late file drop (`file_drop.LateDrop`) waits until its deadline."""


@dataclass(frozen=True)
class Delivered:
    """One record as a source delivered it, and where it came from (for quarantine).

    `error` is set when the delivery could not even be parsed (a line that is not
    JSON); `record` then holds the original text.
    """

    record: Any
    origin: str
    error: str | None = None
