"""What a suite is: how to read one partition as a frame, and the checks to run on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from caravan.quality.checks import Check


@dataclass(frozen=True)
class Suite:
    """The checks of one entity at one stage.

    `projection` is DuckDB SQL over `source_rows` that flattens a partition into
    the columns the checks name; `checks(ds)` builds the checks for a partition.
    """

    stage: str
    source: str
    entity: str
    projection: str
    key_columns: list[str]
    checks: Callable[[str], list[Check]]
