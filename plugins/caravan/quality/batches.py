"""What a gate validates: a frame, a partition read in chunks, or a query in the warehouse.

`SqlBatch` is what a warehouse backend hands a marts gate (caravan.warehouse), and
`PartitionChunks` what the lake's readers hand a raw or curated gate (quality.frames):
plain data: no Great Expectations, no pandas (`Batch`, the union with a frame, is
quality.validation's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SqlBatch:
    """A query for GX's SQL engine to validate where the data lives (no rows come back).

    `connection_string` is a SQLAlchemy URL with no secret in it; `connect_args` go to
    the DB-API driver as they are (credentials, host, port): they override the URL's
    parameters, never appear in a URL, and are left out of the repr.
    """

    connection_string: str
    query: str
    connect_args: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dialect(self) -> str:
        return self.connection_string.split(":", 1)[0]


@dataclass(frozen=True)
class PartitionChunks:
    """A partition too large for one frame, read by DuckDB a chunk at a time.

    Row-wise checks (each row judged alone) run on every chunk, and their counts and
    sample keys add up; partition-wide checks (uniqueness, row counts, aggregates) run
    once, on a frame of only the columns they name and the keys. GX never holds more
    than a chunk of the whole projection (quality.chunks).
    """

    rows: int
    read_chunks: Callable[[], Iterator[pd.DataFrame]]
    read_columns: Callable[[list[str]], pd.DataFrame]
