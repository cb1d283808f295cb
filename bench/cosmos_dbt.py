"""What running dbt through Cosmos in Airflow costs per node, against plain `dbt build`.

    .venv/bin/python bench/cosmos_dbt.py [--days 2] [--repeat 3]

1. A demo warehouse: `caravan demo --days N` into `bench/.data/cosmos-<N>days`, made
   once and reused.
2. Plain dbt: `dbt build --vars '{ds: <last day>}'` as a person runs it (a new
   process, one invocation for the whole project), `--repeat` times.
3. Cosmos: `caravan run --start <last day> --dag warehouse`, the warehouse DAG run by
   Airflow (`dag.test`, as `caravan demo` runs it), `--repeat` times. From Airflow's
   metadata database, the task instances of its `dbt` task group: how many, the sum
   of their durations, and the group's wall clock (first start to last end).

Both do the same work: every model, snapshot, data test and unit test of the project
(Cosmos renders one task per model or snapshot, each running `dbt build` for that
node with its tests, in-process through dbtRunner). The overhead per node is
(group wall clock − plain build) / tasks. The medians of the repeats are printed as a
Markdown table; the results are in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START = "2026-11-01"


def environ(home: Path) -> dict[str, str]:
    env = {**os.environ, "CARAVAN_HOME": str(home)}
    return {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}


def run(args: list[str], home: Path) -> float:
    began = time.perf_counter()
    result = subprocess.run(args, env=environ(home), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return seconds


def demo_home(days: int) -> Path:
    home = ROOT / "bench" / ".data" / f"cosmos-{days}days"
    if not (home / "warehouse.duckdb").exists():
        print(f"making the demo warehouse ({days} days) in {home} ...", file=sys.stderr)
        run([str(BIN / "caravan"), "demo", "--start", START, "--days", str(days)], home)
    return home


def plain_dbt_build(home: Path, ds: str) -> float:
    project = str(ROOT / "dbt_project")
    return run(
        [
            str(BIN / "dbt"),
            "build",
            "--quiet",
            "--vars",
            f"{{ds: '{ds}'}}",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
        ],
        home,
    )


def dbt_group_timings(home: Path) -> tuple[int, float, float]:
    """Tasks, Σ durations and wall clock of the dbt group in the latest warehouse run."""
    con = sqlite3.connect(home / "airflow" / "airflow.db")
    try:
        (run_id,) = con.execute(
            "select run_id from dag_run where dag_id = 'warehouse' order by start_date desc limit 1"
        ).fetchone()
        rows = con.execute(
            "select duration, julianday(start_date), julianday(end_date) from task_instance"
            " where dag_id = 'warehouse' and run_id = ? and task_id like 'dbt.%'",
            (run_id,),
        ).fetchall()
    finally:
        con.close()
    durations = sum(duration for duration, _, _ in rows)
    wall = (max(end for *_, end in rows) - min(start for _, start, _ in rows)) * 86400
    return len(rows), durations, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    home = demo_home(args.days)
    ds = f"2026-11-{args.days:02d}"
    plain = [plain_dbt_build(home, ds) for _ in range(args.repeat)]
    cosmos = []
    for _ in range(args.repeat):
        run([str(BIN / "caravan"), "run", "--start", ds, "--dag", "warehouse"], home)
        cosmos.append(dbt_group_timings(home))

    tasks = cosmos[0][0]
    build = statistics.median(plain)
    in_tasks = statistics.median(durations for _, durations, _ in cosmos)
    wall = statistics.median(wall for *_, wall in cosmos)
    print(f"| dbt nodes as Cosmos tasks | {tasks} |")
    print("|---|---:|")
    print(f"| plain `dbt build`, whole project (s) | {build:.1f} |")
    print(f"| Cosmos dbt group, wall clock (s) | {wall:.1f} |")
    print(f"| Cosmos dbt group, Σ task durations (s) | {in_tasks:.1f} |")
    print(f"| overhead per node, wall clock (s) | {(wall - build) / tasks:.2f} |")
    print(f"| overhead per node, inside tasks (s) | {(in_tasks - build) / tasks:.2f} |")


if __name__ == "__main__":
    main()
