"""What Airflow adds to the chain: the demo's days through Airflow, then as bare steps.

    .venv/bin/python bench/chain.py [--start 2026-11-01] [--days 7] [--rounds 2]

Runs the same days twice, each in a fresh `CARAVAN_HOME` under `bench/.data/chain/`
and a fresh Python process (so both pay the same imports and start-ups):

- **airflow**: `caravan.runner.run_chain`, exactly what `caravan demo` runs: every DAG
  through Airflow's `dag.test()` in Asset order, every day's ingest, one range run of
  the transform, every day's warehouse;
- **bare**: the same step functions the DAGs' tasks call (`caravan.pipeline.*_steps`
  and one `dbt build` a day), in the same order, called directly in one process with
  no Airflow: no DAG runs, no task instances, no XCom, no metadata database.

Both start the simulator the same way and start Spark early the same way, log at INFO
to a file, and must end with the same marts (checked). Printed as a Markdown table:
each stage's seconds in both modes (the first day on its own: it also pays for imports
and start-ups), the whole run, and how much Airflow adds over the bare steps. The
results are in bench/README.md.

With `--rounds N` both modes run N times, in turn bare first and Airflow first (bare,
Airflow, Airflow, bare, ...), and the table has each mode's mean: the reference
machine's speed drifts by 15 % and more within minutes, and a drift that runs one way
over the measurement then weighs on both modes alike. Each round's ratio is printed
too, so the spread shows.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "2026-11-01"
MODES = ("airflow", "bare")
STAGES = ("ingest", "transform", "warehouse")


def stage_of(dag_id: str) -> str:
    return "ingest" if dag_id.startswith("ingest_") else dag_id


# -- one mode, in its own process ----------------------------------------------------


def run_airflow(dates: list[str]) -> list[dict]:
    from caravan.runner import output_to_file, run_chain
    from caravan.settings import get_settings

    settings = get_settings()
    with output_to_file(settings.logs_dir / "run.log"):
        results = run_chain(settings, dates, spark_range=True)
    return [{"ds": r.ds, "step": r.dag_id, "seconds": r.seconds} for r in results]


def run_bare(dates: list[str]) -> list[dict]:
    """The chain's steps for each date, called directly: the work of every task, in the
    order the Assets chain the DAGs."""
    from airflow.sdk import Connection

    from caravan import airflow_env
    from caravan.assets import TRANSFORM_JOBS
    from caravan.pipeline import ingest_steps, transform_steps, warehouse_steps
    from caravan.runner import embedded_sources, output_to_file, spark_started_early
    from caravan.settings import get_settings
    from caravan.sources.registry import load_registry
    from caravan.warehouse.dbt import DAILY_BUILD_FLAGS, DS_ENV_VAR, invoke_dbt

    settings = get_settings()
    airflow_env.apply(settings)  # dbt's environment, as in the DAGs' processes
    registry = load_registry(settings.dags_dir / "sources.yaml")
    timings = []

    def timed(ds: str, step: str, work, *args) -> None:
        began = time.perf_counter()
        work(*args)
        timings.append({"ds": ds, "step": step, "seconds": time.perf_counter() - began})

    def ingest(source, ds: str, run_id: str) -> None:
        staged = ingest_steps.extract(source.name, ds, Connection.get(source.conn_id))
        ingest_steps.publish(ingest_steps.gate(staged, run_id), run_id)

    def transform(days: list[str], run_id: str) -> None:
        for job in TRANSFORM_JOBS:  # in the order the transform DAG's dependencies allow
            transform_steps.run_job(job, days)
            transform_steps.gate(job, days, run_id)
            transform_steps.publish(job, days, run_id)

    def warehouse(ds: str, run_id: str) -> None:
        warehouse_steps.load(ds)
        os.environ[DS_ENV_VAR] = ds  # as the DAG's dbt_build task passes it
        invoke_dbt(settings, "build", *DAILY_BUILD_FLAGS)
        warehouse_steps.gate(ds, run_id)
        warehouse_steps.publish(ds)

    with output_to_file(settings.logs_dir / "run.log"):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
        for module in airflow_env.TASK_PRELOAD:  # as run_chain imports them up front
            importlib.import_module(module)
        gc.freeze()  # and then freezes what is alive
        with embedded_sources(settings, dates), spark_started_early(settings, True) as start_spark:
            for ds in dates:
                for source in registry.values():
                    timed(ds, f"ingest_{source.name}", ingest, source, ds, f"bare__{ds}")
                    start_spark()  # after the first step, as run_chain starts it
            span = f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else dates[0]
            timed(span, "transform", transform, dates, f"bare__{span}")
            for ds in dates:
                timed(ds, "warehouse", warehouse, ds, f"bare__{ds}")
    return timings


def marts_totals(home: Path) -> list:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            """
            select (select count(*) from analytics.fct_orders),
                   (select sum(net_revenue)::varchar from analytics.fct_orders),
                   (select sum(spend)::varchar from analytics.fct_ad_spend_daily),
                   (select sum(attributed_revenue)::varchar from analytics.mart_marketing_roi)
            """
        ).fetchone()
    finally:
        con.close()


def child(mode: str, dates: list[str], out: Path) -> None:
    began = time.perf_counter()
    steps = run_airflow(dates) if mode == "airflow" else run_bare(dates)
    total = time.perf_counter() - began
    out.write_text(json.dumps({"mode": mode, "total": total, "steps": steps}))


# -- both modes, compared -------------------------------------------------------------


def run_mode(mode: str, dates: list[str], folder: Path) -> dict:
    home = folder / mode
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"CARAVAN_HOME": str(home), "CARAVAN_SEED": "42"})
    env.pop("AIRFLOW_HOME", None)
    out = home / "bench.json"
    began = time.perf_counter()
    command = [sys.executable, __file__, "--child", mode, "--dates", ",".join(dates), "--out"]
    done = subprocess.run([*command, str(out)], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{mode} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["process"] = time.perf_counter() - began
    result["marts"] = marts_totals(home)
    return result


def stage_seconds(result: dict, first_day: str) -> dict[str, dict[str, float]]:
    """Seconds per stage, on the first day and on the others (the range run of the
    transform, which has no day of its own, counts with the others)."""
    totals = {part: dict.fromkeys(STAGES, 0.0) for part in ("first", "rest")}
    for step in result["steps"]:
        part = "first" if step["ds"] == first_day else "rest"
        totals[part][stage_of(step["step"])] += step["seconds"]
    return totals


def mean_stages(rounds: list[dict], first_day: str) -> dict[str, dict[str, float]]:
    each = [stage_seconds(result, first_day) for result in rounds]
    return {
        part: {stage: sum(s[part][stage] for s in each) / len(each) for stage in STAGES}
        for part in ("first", "rest")
    }


def chain_seconds(result: dict) -> float:
    return sum(step["seconds"] for step in result["steps"])


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def report(results: dict[str, list[dict]], dates: list[str]) -> str:
    stages = {mode: mean_stages(rounds, dates[0]) for mode, rounds in results.items()}
    lines = [
        "| stage | airflow s | bare s | Airflow adds |",
        "|---|---:|---:|---:|",
    ]
    for part, label in (("first", f"{dates[0]} (first day)"), ("rest", "the other days")):
        for stage in STAGES:
            a, b = stages["airflow"][part][stage], stages["bare"][part][stage]
            if a or b:
                where = "one range run over all days" if stage == "transform" else label
                lines.append(f"| {stage}, {where} | {a:.1f} | {b:.1f} | {a / b - 1:+.0%} |")

    runs = {mode: mean([chain_seconds(r) for r in rounds]) for mode, rounds in results.items()}
    process = {mode: mean([r["process"] for r in rounds]) for mode, rounds in results.items()}
    a, b = "airflow", "bare"
    lines += [
        f"| **all days, the steps or DAG runs** | **{runs[a]:.1f}**"
        f" | **{runs[b]:.1f}** | **{runs[a] / runs[b] - 1:+.0%}** |",
        f"| the whole process, start to exit | {process[a]:.1f} | {process[b]:.1f}"
        f" | {process[a] / process[b] - 1:+.0%} |",
    ]
    if len(results[a]) > 1:
        lines.append("")
        for n, (air, bare) in enumerate(zip(results[a], results[b], strict=True), 1):
            first = "bare" if n % 2 else "airflow"
            air_s, bare_s = chain_seconds(air), chain_seconds(bare)
            lines.append(
                f"round {n} ({first} first): the runs {air_s:.1f} against {bare_s:.1f} s"
                f" ({air_s / bare_s - 1:+.0%})"
            )
    return "\n".join(lines)


def main() -> None:
    # This folder's spark_jobs.py would shadow the spark_jobs package the chain imports.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default=START)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="each mode this many times")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--dates", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dates.split(","), args.out)
        return

    from caravan.runner import window

    dates = window(args.start, args.days)
    folder = ROOT / "bench" / ".data" / "chain"
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for n in range(args.rounds):
        for mode in ("bare", "airflow") if n % 2 == 0 else ("airflow", "bare"):
            print(f"round {n + 1}, {mode}: {len(dates)} days ...", file=sys.stderr, flush=True)
            results[mode].append(run_mode(mode, dates, folder))
    marts = {tuple(r["marts"]) for rounds in results.values() for r in rounds}
    if len(marts) != 1:
        sys.exit(f"the marts differ between runs: {sorted(marts)}")
    print(f"marts equal in every run: {results['bare'][0]['marts']}\n")
    print(report(results, dates))


if __name__ == "__main__":
    main()
