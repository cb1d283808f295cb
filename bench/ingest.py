"""Ingest throughput per source: extract (dlt, over the simulator) and stage one day.

    .venv/bin/python bench/ingest.py [--scale 10] [--fault-rate 0.0] [--repeat 3]

Starts the simulator at the given scale (1 = the demo company; 10 = ten times its
customers, orders, events and ad spend), then for each registry entity times
`extract.deliveries` + `ingest.stage` into a scratch lake for one day (the best of
`--repeat` runs), and prints a Markdown table of records and records per second.
No Airflow scheduling is involved: this is the cost inside an extract task.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path

DS = "2026-11-03"
DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="caravan-bench-"))
    os.environ["CARAVAN_HOME"] = str(home)
    os.environ["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"
    from caravan.lake import Lake
    from caravan.runner import airflow_connection, simulator_connection_specs
    from caravan.settings import Settings
    from caravan.simulator import Faults, running_simulator
    from caravan.sources import ingest
    from caravan.sources.extract import deliveries
    from caravan.sources.registry import load_registry

    settings = Settings.from_env()
    registry = load_registry(settings.dags_dir / "sources.yaml")
    faults = Faults(fault_rate=args.fault_rate)
    rows = []
    with running_simulator(settings, DAYS, scale=args.scale, faults=faults) as simulator:
        connections = simulator_connection_specs(simulator)
        lake = Lake(settings.lake_url)
        for source in registry.values():
            conn = airflow_connection(source.conn_id, connections[source.conn_id])
            for entity in source.entities.values():
                best, staged = float("inf"), None
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    staged = ingest.stage(
                        lake, source.name, entity, DS, deliveries(source, entity, conn, DS)
                    )
                    best = min(best, time.perf_counter() - began)
                rows.append((source.name, entity.name, staged.delivered, best))
    print(f"scale {args.scale:g}, fault rate {args.fault_rate:g}, ds {DS}, best of {args.repeat}\n")
    print("| source/entity | records | seconds | records/s |")
    print("|---|---:|---:|---:|")
    for source, entity, records, seconds in rows:
        print(f"| {source}/{entity} | {records} | {seconds:.3f} | {records / seconds:,.0f} |")


if __name__ == "__main__":
    main()
