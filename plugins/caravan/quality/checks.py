"""What a gate checks: one Great Expectations expectation and what its failure means."""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx
from great_expectations.expectations.metadata_types import FailureSeverity

from caravan.quality.results import Severity

#: Each severity as GX records it on the expectation (and shows it in Data Docs).
GX_SEVERITY = {"error": FailureSeverity.CRITICAL, "warn": FailureSeverity.WARNING}


@dataclass(frozen=True)
class Check:
    """One expectation and what its failure means: `error` blocks publishing, `warn` records."""

    expectation: gx.expectations.Expectation
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.severity not in GX_SEVERITY:
            raise ValueError(f"Check severity {self.severity!r}: expected 'error' or 'warn'")
        if not isinstance(self.expectation, gx.expectations.Expectation):
            raise TypeError(
                f"Check expectation must be a GX expectation object, "
                f"got {type(self.expectation).__name__}"
            )


def zero_gap(column: str) -> Check:
    """`column` is 0 on every row: a value worked out again agrees with the one stored
    (to the cent where money: the gap columns are exact decimals)."""
    return Check(
        gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=0)
    )
