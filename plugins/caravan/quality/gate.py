"""Quality gates: validate one partition, record the outcome, decide whether it may publish.

Every stage (raw, curated, marts) audits what it wrote before publishing it
(write-audit-publish, DESIGN §1). A gate runs a list of checks through a Great
Expectations Core 1.x checkpoint built in code, appends one row per expectation
to `quality.validation_results` in the warehouse, and blocks publishing when a
check of severity `error` fails; `warn` checks are recorded only.

This module is the gate itself (`run_gate`: validate, record, decide) and the names its
callers use; each part of the work has a module of its own:

- quality.checks: a check (a GX expectation and its severity);
- quality.batches: what a gate validates (a frame, `PartitionChunks`, a `SqlBatch`);
- quality.validation: running the checks on a batch as a GX checkpoint, with the
  run's Data Docs page (quality.docs); quality.chunks: a partition read in chunks;
  quality.contexts: the process's GX contexts;
- quality.outcomes: a check's GX result as a row's columns;
- quality.results: `quality.validation_results` (table, columns, rows) and
  `GateResult`, with no GX: the warehouse backends record it, `caravan quality` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from caravan.quality.batches import PartitionChunks, SqlBatch
from caravan.quality.checks import Check
from caravan.quality.docs import DataDocs
from caravan.quality.results import GateFailed, GateResult
from caravan.quality.validation import Batch, validate_batch

if TYPE_CHECKING:
    from caravan.warehouse.targets import Warehouse

__all__ = [
    "Batch",
    "Check",
    "GateFailed",
    "GateResult",
    "PartitionChunks",
    "SqlBatch",
    "record_results",
    "run_gate",
    "validate_batch",
]


def record_results(result: GateResult, warehouse: Warehouse | Path) -> None:
    """Append the gate's rows to the target's `quality.validation_results`, replacing an
    earlier attempt of the same run: only the same checks, since one partition may be
    validated by several suites in one run (a job's own suite, then its reconciliation).

    `warehouse` is a target (`caravan.warehouse.targets`) or the DuckDB warehouse file.
    """
    if isinstance(warehouse, str | Path):
        from caravan.warehouse.targets import duckdb_warehouse

        warehouse = duckdb_warehouse(Path(warehouse))
    warehouse.record_validation_results(result)


def run_gate(
    batch: Batch,
    checks: list[Check],
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    key_columns: list[str],
    warehouse_path: Path | None = None,
    target: Warehouse | None = None,
    data_docs: DataDocs | None = None,
) -> GateResult:
    """Validate, record in `target` (or the DuckDB file at `warehouse_path`); raise GateFailed
    (after recording) when an `error` check fails.

    A frame is validated by GX's pandas engine; a `SqlBatch` by its SQL engine, in the
    warehouse the query names. With `data_docs`, the run gets a Data Docs page.
    """
    if (warehouse_path is None) == (target is None):
        raise ValueError(f"{stage} gate {source}/{entity}: give warehouse_path or target")
    where = {
        "stage": stage,
        "source": source,
        "entity": entity,
        "ds": ds,
        "run_id": run_id,
        "key_columns": key_columns,
    }
    result = validate_batch(batch, checks, **where, data_docs=data_docs)
    record_results(result, target if target is not None else warehouse_path)
    if not result.passed:
        raise GateFailed(result)
    return result
