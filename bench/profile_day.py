"""Where a demo day's time goes, per DAG run and per task, from Airflow's own records.

    .venv/bin/python bench/profile_day.py [--home .caravan] [--skip-first]

Reads the chain's DAG runs and task instances from the metadata database of a
`CARAVAN_HOME` that `caravan demo` (or `bench/chain.py`'s airflow mode) ran in: each task
instance's start and end as Airflow recorded them, each DAG run's end, grouped by DAG
and task and summed over the days. Prints Markdown: per DAG, the median seconds of
a run over the days (`--skip-first` leaves out the first day, which also pays for
imports and start-ups) and what its tasks add up to; then every task, slowest first,
with its median. The gap between a DAG run and the sum of its tasks is what `dag.test()`
spends between tasks (scheduling them, the in-process execution API, XCom).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


INGEST = "ingest_* (one DAG a source)"


def dag_group(dag_id: str) -> str:
    return INGEST if dag_id.startswith("ingest_") else dag_id


def load(db: Path) -> tuple[dict, dict]:
    """DAG runs' and task instances' seconds, keyed by (group, day) and (group, task, day).

    `dag.test()` records a run's start as its logical date, so a run's seconds are taken
    from its end and the end of the run before it (the chain runs one DAG run at a time,
    so that is the run's wall clock, its DAG file's parse included); the first run's
    from its first task's start.
    """
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        runs = con.execute(
            "select dag_id, run_id, logical_date, end_date from dag_run"
            " where end_date is not null order by end_date"
        ).fetchall()
        tasks = con.execute(
            "select dag_id, run_id, task_id, start_date, end_date from task_instance"
        ).fetchall()
    finally:
        con.close()
    day_of = {(dag_id, run_id): (logical or "")[:10] for dag_id, run_id, logical, _ in runs}
    task_seconds: dict[tuple[str, str, str], float] = defaultdict(float)
    for dag_id, run_id, task_id, start, end in tasks:
        if (dag_id, run_id) in day_of:
            key = (dag_group(dag_id), task_id, day_of[(dag_id, run_id)])
            task_seconds[key] += seconds(start, end)
    run_seconds: dict[tuple[str, str], float] = defaultdict(float)
    previous_end = min((start for *_, start, _ in tasks if start), default=None)
    for dag_id, run_id, _, end in runs:
        run_seconds[(dag_group(dag_id), day_of[(dag_id, run_id)])] += seconds(previous_end, end)
        previous_end = end
    return run_seconds, task_seconds


def report(run_seconds: dict, task_seconds: dict, skip_first: bool) -> str:
    days = sorted({day for _, day in run_seconds})
    if skip_first and len(days) > 1:
        days = days[1:]
    groups = sorted({group for group, _ in run_seconds}, key=lambda g: (g != INGEST, g))

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    lines = [
        f"Medians over {len(days)} day(s), {days[0]} … {days[-1]}.",
        "",
        "| DAG | run s | its tasks s | between tasks s |",
        "|---|---:|---:|---:|",
    ]
    day_total, day_tasks = [], []
    for group in groups:
        run = median([run_seconds.get((group, d), 0.0) for d in days])
        tasks = median(
            [
                sum(s for (g, _, d), s in task_seconds.items() if g == group and d == day)
                for day in days
            ]
        )
        day_total.append(run)
        day_tasks.append(tasks)
        lines.append(f"| {group} | {run:.1f} | {tasks:.1f} | {run - tasks:.1f} |")
    lines.append(
        f"| **a day** | **{sum(day_total):.1f}** | {sum(day_tasks):.1f}"
        f" | {sum(day_total) - sum(day_tasks):.1f} |"
    )
    per_task = defaultdict(list)
    for (group, task, day), value in task_seconds.items():
        if day in days:
            per_task[(group, task)].append(value)
    ranked = sorted(per_task.items(), key=lambda item: -median(item[1]))
    lines += ["", "| DAG | task | median s (summed over the ingest DAGs) |", "|---|---|---:|"]
    lines += [f"| {group} | {task} | {median(values):.2f} |" for (group, task), values in ranked]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".caravan", help="a CARAVAN_HOME")
    parser.add_argument("--skip-first", action="store_true", help="leave out the first day")
    args = parser.parse_args()
    db = args.home / "airflow" / "airflow.db"
    if not db.exists():
        raise SystemExit(f"no Airflow database at {db}: run `make demo` (or bench/chain.py) first")
    print(report(*load(db), args.skip_first))


if __name__ == "__main__":
    main()
