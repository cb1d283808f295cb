"""What Spark's class archive saves a new local JVM: its start and the warm-up job.

Each trial is a new Python process that starts the local session and runs `warm_up`, once
with the archive `make setup` built (`-XX:SharedArchiveFile`) and once without, in turn so
that the machine's drift falls on both. The CPU is the whole machine's busy time from
/proc/stat (the JVM is not a child the Python process waits for, so its own rusage misses
it): run it with nothing else running.

    .venv/bin/python bench/class_archive.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TRIAL = """
import sys, time
from pyspark.sql import SparkSession
from spark_jobs.common.session import job_settings, local_session, warm_up
began = time.monotonic()
spark = local_session(job_settings(SparkSession.builder.appName("bench")), sys.argv[1:])
warm_up(spark)
print(time.monotonic() - began)
"""


def busy_seconds() -> float:
    """CPU time the machine has spent busy since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def trial(java_options: list[str]) -> tuple[float, float]:
    """(wall seconds of session + warm-up, machine busy seconds of the whole process)."""
    before = busy_seconds()
    result = subprocess.run(
        [sys.executable, "-c", TRIAL, *java_options],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    time.sleep(1)  # the JVM exits after the Python process
    return float(result.stdout.split()[-1]), busy_seconds() - before


def main() -> None:
    # This folder's spark_jobs.py would shadow the spark_jobs package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    from spark_jobs.common.session import C1_ONLY, CLASS_ARCHIVE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not CLASS_ARCHIVE.is_file():
        sys.exit(f"No class archive at {CLASS_ARCHIVE}: run `make setup` first.")
    variants = {
        "without the archive": [C1_ONLY],
        "with the archive": [C1_ONLY, f"-XX:SharedArchiveFile={CLASS_ARCHIVE}"],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, options in variants.items():
            results[name].append(trial(options))
    print("| JVM | session + warm-up (s, median) | machine CPU (s, median) |")
    print("|---|---:|---:|")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
