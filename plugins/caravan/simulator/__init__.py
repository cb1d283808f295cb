"""The built-in simulator of the company's systems (DESIGN: "The company the demo simulates").

`running_simulator` is what a demo or an end-to-end test uses: it writes the
shop database and starts the Google Ads API in a subprocess, so that Airflow's
task processes (not only the parent) can reach it.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from caravan.settings import Settings
from caravan.simulator.shop_db import write_shop_db
from caravan.simulator.world import World

# The folder holding the `caravan` package, for subprocesses of a non-installed checkout.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_URL_PREFIX = "listening on "


@dataclass(frozen=True)
class RunningSimulator:
    google_ads_url: str
    shop_db_url: str
    world: World
    pid: int


def _read_first_line(process: subprocess.Popen[str], timeout: float, log_path: Path) -> str:
    """The server's first stdout line, or a clear error if it dies or stays silent."""
    lines: queue.Queue[str] = queue.Queue(maxsize=1)
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(
            f"Google Ads simulator (pid {process.pid}) printed no URL within {timeout:.0f}s; "
            f"see {log_path}"
        ) from None
    if not line.startswith(_URL_PREFIX):
        raise RuntimeError(
            f"Google Ads simulator (pid {process.pid}) did not start "
            f"(exit code {process.poll()}, first line {line!r}); see {log_path}"
        )
    return line.removeprefix(_URL_PREFIX).strip()


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


@contextmanager
def running_simulator(
    settings: Settings,
    days: list[date],
    scale: float = 1.0,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[RunningSimulator]:
    """Write the shop DB for `days` and serve the Google Ads API until the block exits."""
    world = World(seed=settings.seed, scale=scale)
    settings.sources_dir.mkdir(parents=True, exist_ok=True)
    shop_db_url = f"sqlite:///{settings.sources_dir / 'shop.db'}"
    write_shop_db(shop_db_url, world, days)

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / "simulator.log"
    command = [
        sys.executable, "-m", "caravan.simulator", "serve",
        "--seed", str(settings.seed), "--scale", str(scale),
    ]  # fmt: skip
    # Logs go to a file: a pipe nobody drains would fill up and stall the server.
    with log_path.open("a") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=_subprocess_env()
        )
    try:
        url = _read_first_line(process, startup_timeout, log_path)
        yield RunningSimulator(
            google_ads_url=url, shop_db_url=shop_db_url, world=world, pid=process.pid
        )
    finally:
        _stop(process)


__all__ = ["RunningSimulator", "World", "running_simulator", "write_shop_db"]
