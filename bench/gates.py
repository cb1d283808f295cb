"""What one quality gate costs in a long-lived process, by kind of gate and by phase.

    .venv/bin/python bench/gates.py [--home .caravan] [--ds 2026-11-04] [--repeat 20]

Needs a demo home (`make demo` makes `.caravan`); it is only read: its lake, warehouse
file and Data Docs ledger are copied to a scratch home first, and every write (results,
Data Docs pages, GX's stores) goes there. The gates are the demo's own suites on the
demo's partitions of `--ds`:

- `raw shop_db/orders` and `raw web_analytics/events`: published raw partitions, gzip
  JSON lines read through DuckDB (`frames.jsonl_batch`), the registry's raw suite with
  its volume check;
- `curated sales/orders`: a published curated partition, Parquet (`frames.parquet_batch`);
- `curated ad_spend_daily (reconciliation)`: ad spend against its raw inputs
  (`reconcile.RECONCILIATIONS`), a frame DuckDB works out from five partitions;
- `marts fct_orders` and `marts mart_marketing_roi`: the mart frames the DuckDB target
  gives its marts gates (read from the warehouse file).

All in one process, as `dag.test()` runs a demo day: every gate kind runs once to warm
up, then `--repeat` rounds follow, each running every kind in turn (so two gates of the
same entity never follow each other directly), and each kind's phases one after another:

- `read`: the batch, as the gate task reads it (not part of `run_gate`);
- `validate`: `validate_batch` without Data Docs (GX: suite, checkpoint, run);
- `record`: `record_results` of that result into the warehouse file (a new run id
  each time, as each gate run of a demo day appends its rows);
- `gate`: `run_gate` without Data Docs (validate + record);
- `gate + docs`: `run_gate` with Data Docs (the run's page and the index of the latest
  100 runs, which starts full: the demo's ledger is copied), as the DAGs run it.

It prints the median of each in milliseconds, of the wall clock and of the process's CPU
time (which other load on the machine disturbs less), as Markdown tables, and the first
(cold) `gate + docs` of the process: GX's imports are paid before it, its context,
templates and caches not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER = ".caravan_index.json"
PHASES = ("read", "validate", "record", "gate", "gate + docs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(".caravan"), help="a demo home")
    parser.add_argument("--ds", default="2026-11-04")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    demo = args.home.resolve()
    if not (demo / "warehouse.duckdb").exists():
        raise SystemExit(f"{demo}: no demo warehouse; run `make demo` first")
    scratch = Path(tempfile.mkdtemp(prefix="caravan-bench-gates-"))
    try:
        prepare_home(demo, scratch)
        os.environ["CARAVAN_HOME"] = str(scratch)
        os.environ["CARAVAN_TARGET"] = "duckdb"
        os.environ.setdefault("CARAVAN_PROJECT_DIR", str(Path(__file__).resolve().parents[1]))
        kinds, cold = measure(args.ds, args.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_tables(kinds, cold, args)


def prepare_home(demo: Path, scratch: Path) -> None:
    """A scratch home with the demo's lake, warehouse and Data Docs ledger (no pages)."""
    shutil.copytree(demo / "lake", scratch / "lake", symlinks=True)
    shutil.copy2(demo / "warehouse.duckdb", scratch / "warehouse.duckdb")
    (scratch / "data_docs").mkdir()
    if (demo / "data_docs" / LEDGER).exists():
        shutil.copy2(demo / "data_docs" / LEDGER, scratch / "data_docs" / LEDGER)


@dataclass
class Kind:
    """One kind of gate: its suite, how its task reads the batch, and what was measured."""

    name: str
    suite: Any
    read: Callable[[], Any]
    rows: int = 0
    checks: int = 0
    timings: dict[str, list[tuple[float, float]]] | None = None


def kinds_of_gate(ds: str) -> list[Kind]:
    from caravan.lake import Lake, Partition
    from caravan.quality import curated, marts, raw, reconcile
    from caravan.quality.frames import jsonl_batch, parquet_batch
    from caravan.settings import get_settings
    from caravan.sources.registry import load_registry
    from caravan.warehouse.targets import warehouse

    settings = get_settings()
    lake = Lake(settings.lake_url)
    registry = load_registry(settings.dags_dir / "sources.yaml")
    found = []
    for source, entity in (("shop_db", "orders"), ("web_analytics", "events")):
        spec = registry[source]
        partition = Partition("raw", source, entity, ds)
        manifest, files = lake.published(partition)
        rows = manifest.rows
        # As ingest gates a delivery: what the lake held before ds, the delivery's schema.
        known = raw.read_known(lake, spec, spec.entities[entity], ds, None, manifest.schema)
        suite = raw.suite(spec, spec.entities[entity], known)
        found.append(
            Kind(
                f"raw {source}/{entity}",
                suite,
                lambda files=files, suite=suite, rows=rows, known=known: jsonl_batch(
                    lake, files, suite.projection, rows=rows, lookups=known.lookups
                ),
            )
        )

    files = lake.published_files(Partition("curated", "sales", "orders", ds))
    suite = curated.SUITES[("sales", "orders")]
    found.append(
        Kind(
            "curated sales/orders",
            suite,
            lambda: parquet_batch(lake, files, curated.SUITES[("sales", "orders")].projection),
        )
    )

    spend = lake.published_files(Partition("curated", "marketing", "ad_spend_daily", ds))
    suite, frame_of = reconcile.RECONCILIATIONS[("marketing", "ad_spend_daily")]
    found.append(
        Kind(f"curated {suite.entity} (reconciliation)", suite, lambda: frame_of(lake, ds, spend))
    )

    target = warehouse(settings)
    for mart in ("fct_orders", "mart_marketing_roi"):
        suite = marts.SUITES[("marts", mart)]
        found.append(
            Kind(
                f"marts {mart}",
                suite,
                lambda mart=mart, suite=suite: target.mart_batch(mart, suite.projection),
            )
        )
    return found


def measure(ds: str, repeat: int) -> tuple[list[Kind], tuple[float, float]]:
    from caravan.quality.docs import DataDocs
    from caravan.quality.gate import record_results, run_gate
    from caravan.quality.results import GateFailed
    from caravan.quality.validation import validate_batch
    from caravan.settings import get_settings

    settings = get_settings()
    docs = DataDocs(site_dir=settings.data_docs_dir, store_dir=settings.gx_dir)
    kinds = kinds_of_gate(ds)
    runs = iter(range(10**9))

    def where(suite) -> dict:
        return {
            "stage": suite.stage,
            "source": suite.source,
            "entity": suite.entity,
            "ds": ds,
            "run_id": f"bench-{next(runs)}",
            "key_columns": suite.key_columns,
        }

    def phases(kind: Kind, held: dict) -> dict[str, Callable[[], object]]:

        def read() -> None:
            held["batch"] = kind.read()

        def validate() -> None:
            held["result"] = validate_batch(
                held["batch"], kind.suite.checks(ds), **where(kind.suite)
            )

        def gate(data_docs) -> Callable[[], object]:
            def run() -> object:
                try:
                    return run_gate(
                        held["batch"],
                        kind.suite.checks(ds),
                        **where(kind.suite),
                        warehouse_path=settings.warehouse_path,
                        data_docs=data_docs,
                    )
                except GateFailed as failed:  # recorded like a pass: the same work
                    return failed.result

            return run

        return {
            "read": read,
            "validate": validate,
            "record": lambda: record_results(held["result"], settings.warehouse_path),
            "gate": gate(None),
            "gate + docs": gate(docs),
        }

    cold = None
    for kind in kinds:  # the warm-up; the first gate + docs is the cold one
        held: dict = {}
        steps = phases(kind, held)
        steps["read"]()
        cold = cold or timed(steps["gate + docs"])
        for step in ("validate", "record", "gate"):
            steps[step]()
        kind.checks, kind.rows, kind.timings = len(kind.suite.checks(ds)), len(held["batch"]), {}
    for _ in range(repeat):
        for kind in kinds:
            steps = phases(kind, {})
            for step in PHASES:
                kind.timings.setdefault(step, []).append(timed(steps[step]))
    return kinds, cold


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `run` (CPU: this process's, so other load shows less)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def print_tables(kinds: list[Kind], cold: tuple[float, float], args) -> None:
    load = os.getloadavg()
    print(
        f"ds {args.ds}, median of {args.repeat} runs after a warm-up, milliseconds; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for clock, title in ((0, "wall clock"), (1, "CPU time of the process")):
        print(f"\n{title}:\n")
        print("| gate | rows | checks | " + " | ".join(PHASES) + " |")
        print("|---|---:|---:|" + "---:|" * len(PHASES))
        medians = [
            {step: statistics.median(t[clock] for t in kind.timings[step]) for step in PHASES}
            for kind in kinds
        ]
        for kind, median in zip(kinds, medians, strict=True):
            cells = " | ".join(f"{median[step] * 1000:.0f}" for step in PHASES)
            print(f"| {kind.name} | {kind.rows:,} | {kind.checks} | {cells} |")
        total = " | ".join(f"{sum(m[step] for m in medians) * 1000:.0f}" for step in PHASES)
        print(f"| all {len(kinds)} | | {sum(kind.checks for kind in kinds)} | {total} |")
    wall, cpu = cold
    print(f"\nfirst gate + docs of the process (cold): {wall * 1000:.0f} ms", end=" ")
    print(f"({cpu * 1000:.0f} ms CPU)")


if __name__ == "__main__":
    main()
