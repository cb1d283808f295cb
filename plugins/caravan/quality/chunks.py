"""Validating a partition read in chunks (`PartitionChunks`): the rows a whole frame gives.

Row-wise checks run on every chunk and their rows are merged; the others run once, on a
frame of only the columns they read and the keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import great_expectations as gx

from caravan.quality.outcomes import to_json
from caravan.quality.results import SAMPLE_KEYS_LIMIT, GateResult

if TYPE_CHECKING:
    from caravan.quality.batches import PartitionChunks
    from caravan.quality.checks import Check
    from caravan.quality.docs import DataDocs

# Expectations that judge each row alone (with `mostly` at 1): over chunks, their
# unexpected counts and sample keys add up. Anything else needs the partition whole.
_ROW_WISE = (
    gx.expectations.ExpectColumnValuesToNotBeNull,
    gx.expectations.ExpectColumnValuesToBeNull,
    gx.expectations.ExpectColumnValuesToBeBetween,
    gx.expectations.ExpectColumnValuesToBeInSet,
    gx.expectations.ExpectColumnValuesToNotBeInSet,
    gx.expectations.ExpectColumnValuesToMatchRegex,
    gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
    gx.expectations.ExpectColumnPairValuesToBeEqual,
)


def validate_in_chunks(
    partition: PartitionChunks,
    checks: list[Check],
    *,
    validate: Callable[..., GateResult],
    key_columns: list[str],
    data_docs: DataDocs | None,
    **where: str,
) -> GateResult:
    """`validate` (quality.validation's validate_batch, for one frame) over a partition
    read in chunks: the same rows a whole frame gives.

    The Data Docs page is the partition-wide run's (the row-wise checks' merged outcome
    is in the rows, so in `quality.validation_results`).
    """
    row_wise = [index for index, check in enumerate(checks) if _is_row_wise(check)]
    whole = [index for index in range(len(checks)) if index not in row_wise]
    outcomes: dict[int, list[dict]] = {index: [] for index in range(len(checks))}
    docs_url = None
    if whole:
        needed = [*key_columns, *(c for i in whole for c in _check_columns(checks[i]))]
        frame = partition.read_columns(list(dict.fromkeys(needed)))
        result = validate(
            frame,
            [checks[i] for i in whole],
            key_columns=key_columns,
            data_docs=data_docs,
            **where,
        )
        for index, row in zip(whole, result.rows, strict=True):
            outcomes[index].append(row)
        docs_url = result.docs_url
    if row_wise:
        for chunk in partition.read_chunks():
            result = validate(
                chunk, [checks[i] for i in row_wise], key_columns=key_columns, **where
            )
            for index, row in zip(row_wise, result.rows, strict=True):
                outcomes[index].append(row)
    rows = [merge_chunk_rows(outcomes[index]) for index in range(len(checks))]
    return GateResult(
        where["stage"], where["source"], where["entity"], where["ds"], where["run_id"], rows,
        docs_url,
    )  # fmt: skip


def _is_row_wise(check: Check) -> bool:
    mostly = check.expectation.configuration.kwargs.get("mostly", 1)
    return isinstance(check.expectation, _ROW_WISE) and mostly in (None, 1)


def _check_columns(check: Check) -> list[str]:
    """The columns an expectation reads (none for table-level ones)."""
    kwargs = check.expectation.configuration.kwargs
    named = [kwargs.get(name) for name in ("column", "column_A", "column_B")]
    return [str(c) for c in [*named, *(kwargs.get("column_list") or [])] if c is not None]


def merge_chunk_rows(rows: list[dict]) -> dict:
    """One check's rows from several chunks of a partition as the whole partition's row:
    counts add up, the first SAMPLE_KEYS_LIMIT sample keys are kept, an evaluation error
    of any chunk is the row's."""
    if len(rows) == 1:
        return rows[0]
    first = rows[0]
    observed = [json.loads(row["observed_value"]) for row in rows]
    errors = [value for value in observed if isinstance(value, dict) and "error" in value]
    unexpected = [row["unexpected_count"] for row in rows]
    samples = [sample for row in rows for sample in json.loads(row["sample_keys"])]
    if errors:
        merged_observed: Any = errors[0]
    else:
        merged_observed = _merged_counts(observed, sum(u or 0 for u in unexpected))
    return {
        **first,
        "success": all(row["success"] for row in rows),
        "observed_value": to_json(merged_observed),
        "unexpected_count": None if None in unexpected else sum(unexpected),
        "sample_keys": to_json(samples[:SAMPLE_KEYS_LIMIT]),
    }


def _merged_counts(observed: list[Any], unexpected: int) -> dict | None:
    """Row-wise results' element and missing counts summed; the unexpected percent of the
    non-missing values, as GX gives it."""
    if not all(isinstance(value, dict) and "element_count" in value for value in observed):
        return None
    elements = sum(value["element_count"] for value in observed)
    merged: dict[str, Any] = {"element_count": elements}
    if all("missing_count" in value for value in observed):
        merged["missing_count"] = sum(value["missing_count"] for value in observed)
    counted = elements - merged.get("missing_count", 0)
    merged["unexpected_percent"] = unexpected / counted * 100 if counted else None
    sampled = [v for value in observed for v in value.get("sample_values", [])]
    if sampled:
        merged["sample_values"] = sampled[:SAMPLE_KEYS_LIMIT]
    return merged
