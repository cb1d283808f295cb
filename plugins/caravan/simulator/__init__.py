"""The built-in simulator of the company's systems (DESIGN: "The company the demo simulates").

`running_simulator` is what a demo or an end-to-end test uses: it writes the
shop database and the file drops (web analytics, sales ops, FX rates, the project's docs)
under `$CARAVAN_HOME/sources/`, and starts the Google Ads, Meta, CRM and issue tracker
APIs in one subprocess, so that Airflow's task processes (not only the parent) can reach them.
Like a real company's systems, they keep their state between runs: the shop DB holds every
day written so far, and `served_days.json` the days the CRM and the tracker hold.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from caravan.settings import Settings
from caravan.simulator.faults import NO_FAULTS, Faults
from caravan.simulator.files import (
    PROJECT_DIR,
    write_docs,
    write_fx_rates,
    write_sales_ops,
    write_web_analytics,
)
from caravan.simulator.shop_db import write_shop_db
from caravan.simulator.world import World

# The folder holding the `caravan` package, for subprocesses of a non-installed checkout.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_URL_PREFIX = "listening on "
# The order `serve` prints its URLs in: Google Ads first and unnamed, as it always was.
_SERVERS = ("google_ads", "meta_ads", "crm", "issue_tracker")
LANDING_SOURCES = ("web_analytics", "sales_ops", "fx_rates", "docs")
# Every day simulated in this home, so the APIs keep their state as the shop DB does.
SERVED_DAYS_FILE = "served_days.json"


@dataclass(frozen=True)
class RunningSimulator:
    google_ads_url: str
    shop_db_url: str
    world: World
    pid: int
    meta_ads_url: str
    crm_url: str
    web_analytics_dir: Path  # events_YYYYMMDD.ndjson per day
    sales_ops_dir: Path  # YYYY-MM-DD/{sales,shipping,accounting}.jsonl per day
    fx_rates_dir: Path  # rates_YYYY-MM-DD.csv per day (with the last days' rates)
    issue_tracker_url: str  # GitHub-shaped: /repos/{owner}/{repo}/issues[/comments]
    docs_dir: Path  # docs_YYYY-MM-DD.jsonl per day (the project's doc chunks that day)


def _read_urls(process: subprocess.Popen[str], timeout: float, log_path: Path) -> dict[str, str]:
    """The servers' URLs from their first stdout lines, or a clear error if they do not come."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for _ in _SERVERS:
            lines.put(stdout.readline())

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    urls = {}
    for name in _SERVERS:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(
                f"Simulator (pid {process.pid}) printed no URL within {timeout:.0f}s "
                f"for {name}; see {log_path}"
            ) from None
        prefix = _URL_PREFIX if name == "google_ads" else f"{name} {_URL_PREFIX}"
        if not line.startswith(prefix):
            raise RuntimeError(
                f"Simulator (pid {process.pid}) did not start {name} "
                f"(exit code {process.poll()}, line {line!r}); see {log_path}"
            )
        urls[name] = line.removeprefix(prefix).strip()
    return urls


def _subprocess_env() -> dict[str, str]:
    paths = [str(_PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def write_file_drops(
    landing: Path,
    world: World,
    days: list[date],
    malformed_rate: float = 0.0,
    project_dir: Path = PROJECT_DIR,
) -> dict[str, Path]:
    """Drop each day's web analytics export, sales-ops messages, FX rates and the docs'
    export under `landing/<source>/`."""
    folders = {source: landing / source for source in LANDING_SOURCES}
    for day in days:
        write_web_analytics(folders["web_analytics"], world, day, malformed_rate)
        write_sales_ops(folders["sales_ops"], world, day, malformed_rate)
        write_fx_rates(folders["fx_rates"], world, day)
        write_docs(folders["docs"], day, project_dir)
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def remember_days(path: Path, days: list[date]) -> list[date]:
    """The days simulated in this home so far, `days` added (and written back).

    A rerun of an earlier day must see the systems as they stand now, as the shop DB
    does: an issue updated on a later day is not in the earlier day's window again.
    """
    known = set(map(date.fromisoformat, json.loads(path.read_text()))) if path.exists() else set()
    served = sorted(known | set(days))
    if served != sorted(known):  # replaced whole: a reader never sees half a list
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps([day.isoformat() for day in served]))
        partial.replace(path)
    return served


@contextmanager
def running_simulator(
    settings: Settings,
    days: list[date],
    scale: float = 1.0,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    faults: Faults = NO_FAULTS,
) -> Iterator[RunningSimulator]:
    """Write the shop DB and file drops for `days`; serve the APIs until the block exits."""
    world = World(seed=settings.seed, scale=scale)
    settings.sources_dir.mkdir(parents=True, exist_ok=True)
    shop_db_url = f"sqlite:///{settings.sources_dir / 'shop.db'}"
    write_shop_db(shop_db_url, world, days)
    folders = write_file_drops(
        settings.sources_dir / "landing",
        world,
        days,
        faults.malformed_rate,
        settings.project_dir,
    )

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / "simulator.log"
    command = [
        sys.executable, "-m", "caravan.simulator", "serve",
        "--seed", str(settings.seed), "--scale", str(scale),
        "--fault-rate", str(faults.fault_rate), "--slow-seconds", str(faults.slow_seconds),
        "--malformed-rate", str(faults.malformed_rate),
        # It stops when this process ends, even by SIGKILL: no server outlives its run.
        "--parent-pid", str(os.getpid()),
    ]  # fmt: skip
    if faults.plant is not None:
        plant = faults.plant
        command += ["--plant", plant.kind, "--plant-from", plant.first_day.isoformat(),
                    "--plant-share", str(plant.share)]  # fmt: skip
    served = remember_days(settings.sources_dir / SERVED_DAYS_FILE, days)
    if served:  # the CRM and the issue tracker hold these days' records
        command += ["--days", ",".join(day.isoformat() for day in served)]
    # Logs go to a file: a pipe nobody drains would fill up and stall the server.
    with log_path.open("a") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=_subprocess_env()
        )
    try:
        urls = _read_urls(process, startup_timeout, log_path)
        yield RunningSimulator(
            google_ads_url=urls["google_ads"],
            shop_db_url=shop_db_url,
            world=world,
            pid=process.pid,
            meta_ads_url=urls["meta_ads"],
            crm_url=urls["crm"],
            web_analytics_dir=folders["web_analytics"],
            sales_ops_dir=folders["sales_ops"],
            fx_rates_dir=folders["fx_rates"],
            issue_tracker_url=urls["issue_tracker"],
            docs_dir=folders["docs"],
        )
    finally:
        _stop(process)


__all__ = [
    "Faults",
    "RunningSimulator",
    "World",
    "running_simulator",
    "write_file_drops",
    "write_shop_db",
]
